// engine/cuda/elementwise.cu — the small element-wise ops and ReLU on the CUDA backend: argument checks, then
// one kernel each (kernels/elementwise.cu). Element-wise ops accept any shapes of equal element count (an
// optimizer may see an image as a vector), as on the CPU.
#include <cmath>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

void CudaBackend::fill(Tensor& y, float value) {
  cuda_detail::check_tensor(y, "fill", "y");
  if (y.numel() == 0) return;
  if (value == 0.0f && !std::signbit(value))
    IMPASTO_CUDA_CHECK(cudaMemsetAsync(y.data(), 0, std::size_t(y.numel()) * sizeof(float), stream_));
  else
    kernels::fill(y.data(), y.numel(), value, stream_);
}

void CudaBackend::copy(const Tensor& x, Tensor& y) {
  cuda_detail::check_same_numel(x, y, "copy", "x", "y");
  if (x.numel() == 0 || x.data() == y.data()) return;
  IMPASTO_CUDA_CHECK(cudaMemcpyAsync(y.data(), x.data(), std::size_t(x.numel()) * sizeof(float),
                                     cudaMemcpyDeviceToDevice, stream_));
}

void CudaBackend::axpy(float a, const Tensor& x, Tensor& y) {
  cuda_detail::check_same_numel(x, y, "axpy", "x", "y");
  kernels::axpby(a, x.data(), 1.0f, y.data(), y.numel(), stream_);
}

void CudaBackend::axpby(float a, const Tensor& x, float b, Tensor& y) {
  cuda_detail::check_same_numel(x, y, "axpby", "x", "y");
  kernels::axpby(a, x.data(), b, y.data(), y.numel(), stream_);
}

void CudaBackend::scale(Tensor& y, float a) {
  cuda_detail::check_tensor(y, "scale", "y");
  kernels::scale(y.data(), y.numel(), a, stream_);
}

void CudaBackend::mul(const Tensor& a, const Tensor& b, Tensor& y) {
  cuda_detail::check_same_numel(a, b, "mul", "a", "b");
  cuda_detail::check_same_numel(a, y, "mul", "a", "y");
  kernels::mul(a.data(), b.data(), y.data(), y.numel(), stream_);
}

void CudaBackend::mul_mask(const Tensor& x, const Tensor& mask, Tensor& y) {
  cuda_detail::check_tensor(x, "mul_mask", "x");  // (N,C,H,W)
  const Shape xs = x.shape();
  cuda_detail::check_shape(mask, Shape{1, 1, xs.h, xs.w}, "mul_mask", "mask");  // (1,1,H,W)
  cuda_detail::check_shape(y, xs, "mul_mask", "y");                             // (N,C,H,W), may be x
  if (xs.numel() == 0) return;
  kernels::mul_mask(x.data(), mask.data(), y.data(), xs.numel(), xs.plane(), stream_);
}

void CudaBackend::clamp(const Tensor& x, float lo, float hi, Tensor& y) {
  cuda_detail::check_same_numel(x, y, "clamp", "x", "y");
  IMPASTO_CHECK(lo <= hi, "clamp: empty range [" << lo << ", " << hi << "]");
  kernels::clamp(x.data(), lo, hi, y.data(), y.numel(), stream_);
}

void CudaBackend::relu_forward(const Tensor& x, Tensor& y) {
  cuda_detail::check_tensor(x, "relu_forward", "x");
  cuda_detail::check_shape(y, x.shape(), "relu_forward", "y");  // (N,C,H,W), may be x itself
  kernels::relu_forward(x.data(), y.data(), y.numel(), stream_);
}

void CudaBackend::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  cuda_detail::check_tensor(y, "relu_backward", "y");
  cuda_detail::check_shape(dy, y.shape(), "relu_backward", "dy");  // (N,C,H,W)
  cuda_detail::check_shape(dx, y.shape(), "relu_backward", "dx");  // (N,C,H,W), may be dy itself
  kernels::relu_backward(y.data(), dy.data(), dx.data(), dx.numel(), stream_);
}

}  // namespace impasto
