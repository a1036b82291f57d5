// engine/cuda/video.cu — the video ops on the CUDA backend (Ruder et al. 2016): argument checks as the CPU
// backend makes them (engine/cpu/video.cpp), then the kernels of kernels/warp.cu over the shared math of
// kernels/warp.cuh.
#include <cmath>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "kernels/launchers.cuh"

namespace impasto {
namespace {

Shape single_image(const Tensor& x, const char* op, const char* name) {  // (1,C,H,W)
  cuda_detail::check_tensor(x, op, name);
  const Shape s = x.shape();
  IMPASTO_CHECK(s.n == 1, op << ": " << name << " has shape " << s.str() << ", expected (1,C,H,W)");
  return s;
}

}  // namespace

void CudaBackend::warp(const Tensor& x, const Tensor& flow, const Tensor& fill, Tensor& y) {
  const char* op = "warp";
  const Shape s = single_image(x, op, "x");                              // (1,C,H,W)
  cuda_detail::check_shape(flow, Shape{1, 2, s.h, s.w}, op, "flow");    // (1,2,H,W)
  cuda_detail::check_shape(fill, Shape{1, s.c, 1, 1}, op, "fill");      // (1,C,1,1)
  cuda_detail::check_shape(y, s, op, "y");                              // (1,C,H,W)
  cuda_detail::check_no_alias(y, x, op, "y", "x");
  cuda_detail::check_no_alias(y, flow, op, "y", "flow");
  kernels::warp(x.data(), flow.data(), fill.data(), y.data(), s.c, s.h, s.w, stream_);
}

void CudaBackend::consistency(const Tensor& fwd, const Tensor& bwd, Tensor& c) {
  const char* op = "consistency";
  const Shape s = single_image(fwd, op, "fwd");  // (1,2,H,W)
  IMPASTO_CHECK(s.c == 2, op << ": fwd has shape " << s.str() << ", expected (1,2,H,W)");
  cuda_detail::check_shape(bwd, s, op, "bwd");                   // (1,2,H,W)
  cuda_detail::check_shape(c, Shape{1, 1, s.h, s.w}, op, "c");   // (1,1,H,W)
  cuda_detail::check_no_alias(c, fwd, op, "c", "fwd");
  cuda_detail::check_no_alias(c, bwd, op, "c", "bwd");
  kernels::consistency(fwd.data(), bwd.data(), c.data(), s.h, s.w, stream_);
}

void CudaBackend::gaussian_blur(const Tensor& x, float sigma, Tensor& tmp, Tensor& y) {
  const char* op = "gaussian_blur";
  cuda_detail::check_tensor(x, op, "x");  // (N,C,H,W)
  const Shape s = x.shape();
  cuda_detail::check_shape(tmp, s, op, "tmp");
  cuda_detail::check_shape(y, s, op, "y");
  IMPASTO_CHECK(std::isfinite(sigma) && sigma >= 0.0f && sigma <= 10.0f,
                op << ": sigma " << sigma << " is outside [0, 10]");
  cuda_detail::check_no_alias(tmp, x, op, "tmp", "x");
  cuda_detail::check_no_alias(tmp, y, op, "tmp", "y");
  if (sigma == 0.0f) {
    if (y.data() != x.data()) copy(x, y);
    return;
  }
  kernels::gaussian_blur(x.data(), tmp.data(), y.data(), std::int64_t(s.n) * s.c, s.h, s.w, sigma, stream_);
}

}  // namespace impasto
