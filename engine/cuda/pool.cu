// engine/cuda/pool.cu — 2×2 stride-2 pooling (floor mode), forward and backward on our kernels
// (kernels/pool.cu) rather than cuDNN's: its NHWC average-pooling forward is slow (perf/RESULTS.md), its
// backward cannot fuse the ReLU backward of the layer below (relu_mask), and its max-pool tie rule is
// undocumented. Average pooling divides by 4, max pooling takes
// and routes the gradient to the first maximum, both as the CPU backend (kernels/pool.cuh). A last odd
// row/column is dropped forward and gets a zero gradient backward (dx is cleared first when such a row/column
// exists). Tensors are NCHW or NHWC, float32 or bf16 activations (one call's alike).
#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {
namespace {

// Rows/columns that floor mode dropped must read 0 (the kernels only write the windows they pool): clears dx
// (N,C,H,W) when it has such a row or column, or no window at all. Returns whether any window remains.
bool clear_for_pool_backward(const Shape& xs, Tensor& dx, cudaStream_t stream) {
  const bool windows = xs.h >= 2 && xs.w >= 2;
  if (xs.h % 2 != 0 || xs.w % 2 != 0 || !windows)
    IMPASTO_CUDA_CHECK(cudaMemsetAsync(dx.raw(), 0, std::size_t(dx.numel()) * dx.element_bytes(), stream));
  return windows;
}

}  // namespace

void CudaBackend::pool2d_forward(const Tensor& x, Tensor& y, PoolMode mode) {
  const Shape xs = checks::pool2d_forward(x, y, Device::cuda);  // x (N,C,H,W), y (N,C,H/2,W/2)
  if (y.numel() == 0) return;
  kernels::pool_forward(x.raw(), y.raw(), xs.n, xs.c, xs.h, xs.w, x.layout() == Layout::nhwc,
                        mode == PoolMode::average, x.dtype() == DType::bf16, stream_);
}

void CudaBackend::pool2d_backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, PoolMode mode,
                                  bool relu_mask) {
  const Shape xs = checks::pool2d_backward(x, y, dy, dx, Device::cuda);  // x, dx (N,C,H,W); y, dy (N,C,H/2,W/2)
  if (dx.numel() == 0) return;
  if (!clear_for_pool_backward(xs, dx, stream_)) return;
  kernels::pool_backward(x.raw(), dy.raw(), dx.raw(), xs.n, xs.c, xs.h, xs.w, x.layout() == Layout::nhwc,
                         mode == PoolMode::average, relu_mask, x.dtype() == DType::bf16, stream_);
}

void CudaBackend::pool2d_mask(const Tensor& x, Tensor& bits, PoolMode mode) {
  const Shape xs = checks::pool2d_mask(x, bits, Device::cuda);  // x (N,C,H,W), bits (1,1,1,⌈n/32⌉)
  if (bits.numel() == 0) return;
  kernels::pool_mask(x.raw(), reinterpret_cast<unsigned*>(bits.data()), bits.numel(), xs.n, xs.c, xs.h, xs.w,
                     x.layout() == Layout::nhwc, mode == PoolMode::average, x.dtype() == DType::bf16, stream_);
}

void CudaBackend::pool2d_forward_mask(const Tensor& x, Tensor& y, Tensor& bits, PoolMode mode) {
  const char* op = "pool2d_forward_mask";
  const Shape xs = checks::pool2d_forward(x, y, Device::cuda);  // x (N,C,H,W), y (N,C,H/2,W/2)
  checks::pool2d_mask(x, bits, Device::cuda, op);               // bits (1,1,1,⌈n/32⌉)
  checks::check_no_alias(bits, y, op, "bits", "y");
  if (bits.numel() == 0) return;
  kernels::pool_forward_mask(x.raw(), y.raw(), reinterpret_cast<unsigned*>(bits.data()), bits.numel(), xs.n, xs.c,
                             xs.h, xs.w, x.layout() == Layout::nhwc, mode == PoolMode::average,
                             x.dtype() == DType::bf16, stream_);
}

void CudaBackend::pool2d_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx, PoolMode mode) {
  const Shape xs = checks::pool2d_backward_mask(bits, dy, dx, Device::cuda);  // dx (N,C,H,W), dy (N,C,H/2,W/2)
  if (dx.numel() == 0) return;
  if (!clear_for_pool_backward(xs, dx, stream_)) return;
  kernels::pool_backward_mask(reinterpret_cast<const unsigned*>(bits.data()), dy.raw(), dx.raw(), xs.n, xs.c,
                              xs.h, xs.w, dx.layout() == Layout::nhwc, mode == PoolMode::average,
                              dx.dtype() == DType::bf16, stream_);
}

}  // namespace impasto
