// engine/cuda/pool.cu — 2×2 stride-2 pooling (floor mode): forward on cuDNN, backward our kernel
// (kernels/pool.cu, both modes). Average pooling counts the full window (CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
// with no padding: divide by 4, as the CPU backend); max pooling forward is CUDNN_POOLING_MAX_DETERMINISTIC,
// its backward sends each window's gradient to its first maximum as the CPU backend does (cuDNN does not
// document its tie rule); the kernel also fuses the ReLU backward of the layer below (relu_mask), which
// cuDNN's pooling backward cannot. A last odd row/column is dropped forward and gets a zero gradient
// backward (dx is cleared first when such a row/column exists). Tensors are NCHW or NHWC (one call's alike).
#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

void CudaBackend::pool2d_forward(const Tensor& x, Tensor& y, PoolMode mode) {
  checks::pool2d_forward(x, y, Device::cuda);  // x (N,C,H,W), y (N,C,H/2,W/2)
  if (y.numel() == 0) return;
  const cudnnTensorFormat_t format = cuda_detail::format_of(x.layout());
  pool_x_.set(x.shape(), CUDNN_DATA_FLOAT, format);
  pool_y_.set(y.shape(), CUDNN_DATA_FLOAT, format);
  const float one = 1.0f, zero = 0.0f;
  IMPASTO_CUDNN_CHECK(cudnnPoolingForward(cudnn_, mode == PoolMode::max ? max_pool_ : avg_pool_, &one, pool_x_,
                                          x.data(), &zero, pool_y_, y.data()));
}

void CudaBackend::pool2d_backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, PoolMode mode,
                                  bool relu_mask) {
  const Shape xs = checks::pool2d_backward(x, y, dy, dx, Device::cuda);  // x, dx (N,C,H,W)
  const Shape ys = checks::pooled_shape(xs);                             // y, dy (N,C,H/2,W/2)
  if (dx.numel() == 0) return;
  // Rows/columns that floor mode dropped must read 0; the kernel only writes the windows it pools.
  if (xs.h % 2 != 0 || xs.w % 2 != 0 || ys.numel() == 0)
    IMPASTO_CUDA_CHECK(cudaMemsetAsync(dx.data(), 0, std::size_t(dx.numel()) * sizeof(float), stream_));
  if (ys.numel() == 0) return;
  kernels::pool_backward(x.data(), dy.data(), dx.data(), xs.n, xs.c, xs.h, xs.w, x.layout() == Layout::nhwc,
                         mode == PoolMode::average, relu_mask, stream_);
}

}  // namespace impasto
