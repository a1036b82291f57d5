// engine/cuda/elementwise.cu — the small element-wise ops and ReLU on the CUDA backend: argument checks, then
// one kernel each (kernels/elementwise.cu); convert_layout (kernels/convert.cu). Element-wise ops accept any
// shapes of equal element count (an optimizer may see an image as a vector), as on the CPU.
#include <cmath>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

void CudaBackend::fill(Tensor& y, float value) {
  const bool bf16 = checks::fill(y, Device::cuda) == DType::bf16;  // y float32 or bf16 activations
  if (y.numel() == 0) return;
  if (value == 0.0f && !std::signbit(value))  // +0 is all zero bits in both types
    IMPASTO_CUDA_CHECK(cudaMemsetAsync(y.raw(), 0, std::size_t(y.numel()) * y.element_bytes(), stream_));
  else
    kernels::fill(y.raw(), y.numel(), value, bf16, stream_);
}

void CudaBackend::copy(const Tensor& x, Tensor& y) {
  checks::same_numel_values(x, y, Device::cuda, "copy");  // float32, or both bf16 activations
  if (x.numel() == 0 || x.raw() == y.raw()) return;
  IMPASTO_CUDA_CHECK(cudaMemcpyAsync(y.raw(), x.raw(), std::size_t(x.numel()) * x.element_bytes(),
                                     cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::axpy(float a, const Tensor& x, Tensor& y) {
  const bool bf16 = checks::same_numel_values(x, y, Device::cuda, "axpy") == DType::bf16;
  kernels::axpy(a, x.raw(), y.raw(), y.numel(), bf16, stream_);
}

void CudaBackend::axpby(float a, const Tensor& x, float b, Tensor& y) {
  checks::check_same_numel(x, y, Device::cuda, "axpby", "x", "y");
  kernels::axpby(a, x.data(), b, y.data(), y.numel(), stream_);
}

void CudaBackend::scale(Tensor& y, float a) {
  checks::check_tensor(y, Device::cuda, "scale", "y");
  kernels::scale(y.data(), y.numel(), a, stream_);
}

void CudaBackend::mul(const Tensor& a, const Tensor& b, Tensor& y) {
  checks::mul(a, b, y, Device::cuda);
  kernels::mul(a.data(), b.data(), y.data(), y.numel(), stream_);
}

void CudaBackend::mul_mask(const Tensor& x, const Tensor& mask, Tensor& y) {
  const Shape xs = checks::mul_mask(x, mask, y, Device::cuda);  // x, y (N,C,H,W) (y may be x), mask (1,1,H,W)
  if (xs.numel() == 0) return;
  kernels::mul_mask(x.raw(), mask.data(), y.raw(), xs.numel(), xs.plane(), x.pixel_stride(), x.dtype() == DType::bf16,
                    stream_);
}

void CudaBackend::convert_layout(const Tensor& x, Tensor& y) {
  checks::convert_layout(x, y, Device::cuda);  // x (N,C,H,W), y (N,C',H,W) differing in layout, type or channels
  const Shape s = x.shape();
  if (x.shape().c != y.shape().c) {  // the channels padded or cropped on the way
    kernels::convert_channels(x.raw(), s.c, x.layout() == Layout::nhwc, x.dtype() == DType::bf16, y.raw(),
                              y.shape().c, y.layout() == Layout::nhwc, y.dtype() == DType::bf16, s.n, s.plane(),
                              stream_);
  } else if (y.dtype() == DType::bf16) {  // NHWC bf16 from either float32 layout
    to_bf16_staging(x, y.raw());
  } else if (x.dtype() == DType::bf16) {  // NHWC bf16 to either float32 layout
    from_bf16_staging(x.raw(), y, nullptr, false);
  } else {
    // Per sample (C, H·W) → (H·W, C) on the way to NHWC, the other way back.
    const bool to_nhwc = y.layout() == Layout::nhwc;
    kernels::transpose(x.data(), y.data(), s.n, to_nhwc ? s.c : s.plane(), to_nhwc ? s.plane() : s.c, stream_);
  }
}

void CudaBackend::split_bf16(const Tensor& x, Tensor& y) {
  checks::split_bf16(x, y, Device::cuda);  // x (N,C,H,W) float32, y (N,C',H,W) bf16 NHWC
  const Shape s = x.shape();
  kernels::split_bf16(x.data(), s.c, x.layout() == Layout::nhwc, y.raw(), y.shape().c, s.n, s.plane(), stream_);
}

void CudaBackend::clamp(const Tensor& x, float lo, float hi, Tensor& y) {
  checks::clamp(x, lo, hi, y, Device::cuda);
  kernels::clamp(x.data(), lo, hi, y.data(), y.numel(), stream_);
}

void CudaBackend::relu_forward(const Tensor& x, Tensor& y) {
  checks::relu_forward(x, y, Device::cuda);  // x, y (N,C,H,W); y may be x itself
  kernels::relu_forward(x.raw(), y.raw(), y.numel(), x.dtype() == DType::bf16, stream_);
}

void CudaBackend::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  checks::relu_backward(y, dy, dx, Device::cuda);  // y, dy, dx (N,C,H,W); dx may be dy or y
  kernels::relu_backward(y.raw(), dy.raw(), dx.raw(), dx.numel(), y.dtype() == DType::bf16, stream_);
}

void CudaBackend::relu_mask(const Tensor& y, Tensor& bits) {
  checks::relu_mask(y, bits, Device::cuda);  // y (N,C,H,W), bits (1,1,1,⌈n/32⌉)
  kernels::relu_mask(y.raw(), reinterpret_cast<unsigned*>(bits.data()), bits.numel(), y.numel(),
                     y.dtype() == DType::bf16, stream_);
}

void CudaBackend::relu_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx) {
  checks::relu_backward_mask(bits, dy, dx, Device::cuda);  // dy, dx (N,C,H,W), bits (1,1,1,⌈n/32⌉)
  kernels::relu_backward_mask(reinterpret_cast<const unsigned*>(bits.data()), dy.raw(), dx.raw(), dx.numel(),
                              dy.dtype() == DType::bf16, stream_);
}

}  // namespace impasto
