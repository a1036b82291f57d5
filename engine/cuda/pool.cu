// engine/cuda/pool.cu — 2×2 stride-2 pooling (floor mode) on cuDNN, forward and backward. Average pooling
// counts the full window (CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING with no padding: divide by 4, as the
// CPU backend); max pooling is CUDNN_POOLING_MAX_DETERMINISTIC. A last odd row/column is dropped forward and
// gets a zero gradient backward (dx is cleared first when such a row/column exists).
#include "engine/cuda/cuda_backend_impl.hpp"

namespace impasto {
namespace {

Shape pooled_shape(const Shape& x) { return Shape{x.n, x.c, x.h / 2, x.w / 2}; }  // (N,C,H/2,W/2)

}  // namespace

void CudaBackend::pool2d_forward(const Tensor& x, Tensor& y, PoolMode mode) {
  const char* op = "pool2d_forward";
  cuda_detail::check_tensor(x, op, "x");                      // (N,C,H,W)
  cuda_detail::check_shape(y, pooled_shape(x.shape()), op, "y");  // (N,C,H/2,W/2)
  cuda_detail::check_no_alias(y, x, op, "y", "x");
  if (y.numel() == 0) return;
  pool_x_.set(x.shape());
  pool_y_.set(y.shape());
  const float one = 1.0f, zero = 0.0f;
  IMPASTO_CUDNN_CHECK(cudnnPoolingForward(cudnn_, mode == PoolMode::max ? max_pool_ : avg_pool_, &one, pool_x_,
                                          x.data(), &zero, pool_y_, y.data()));
}

void CudaBackend::pool2d_backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, PoolMode mode) {
  const char* op = "pool2d_backward";
  cuda_detail::check_tensor(x, op, "x");  // (N,C,H,W)
  const Shape xs = x.shape(), ys = pooled_shape(xs);
  cuda_detail::check_shape(y, ys, op, "y");    // (N,C,H/2,W/2)
  cuda_detail::check_shape(dy, ys, op, "dy");  // (N,C,H/2,W/2)
  cuda_detail::check_shape(dx, xs, op, "dx");  // (N,C,H,W)
  cuda_detail::check_no_alias(dx, x, op, "dx", "x");
  cuda_detail::check_no_alias(dx, dy, op, "dx", "dy");
  if (dx.numel() == 0) return;
  // Rows/columns that floor mode dropped must read 0; cuDNN only writes the windows it pools.
  if (xs.h % 2 != 0 || xs.w % 2 != 0 || ys.numel() == 0)
    IMPASTO_CUDA_CHECK(cudaMemsetAsync(dx.data(), 0, std::size_t(dx.numel()) * sizeof(float), stream_));
  if (ys.numel() == 0) return;
  pool_x_.set(xs);
  pool_y_.set(ys);
  const float one = 1.0f, zero = 0.0f;
  IMPASTO_CUDNN_CHECK(cudnnPoolingBackward(cudnn_, mode == PoolMode::max ? max_pool_ : avg_pool_, &one, pool_y_,
                                           y.data(), pool_y_, dy.data(), pool_x_, x.data(), &zero, pool_x_,
                                           dx.data()));
}

}  // namespace impasto
