// engine/cuda/video.cu — the video ops on the CUDA backend (Ruder et al. 2016): the argument checks shared with
// the CPU backend (engine/op_checks.hpp), then the kernels of kernels/warp.cu over the shared math of
// kernels/warp.cuh.
#include <cmath>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

void CudaBackend::warp(const Tensor& x, const Tensor& flow, const Tensor& fill, Tensor& y) {
  const Shape s = checks::warp(x, flow, fill, y, Device::cuda);  // x, y (1,C,H,W), flow (1,2,H,W), fill (1,C,1,1)
  kernels::warp(x.data(), flow.data(), fill.data(), y.data(), s.c, s.h, s.w, stream_);
}

void CudaBackend::consistency(const Tensor& fwd, const Tensor& bwd, Tensor& c) {
  const Shape s = checks::consistency(fwd, bwd, c, Device::cuda);  // fwd, bwd (1,2,H,W), c (1,1,H,W)
  kernels::consistency(fwd.data(), bwd.data(), c.data(), s.h, s.w, stream_);
}

void CudaBackend::gaussian_blur(const Tensor& x, float sigma, Tensor& tmp, Tensor& y) {
  const Shape s = checks::gaussian_blur(x, sigma, tmp, y, Device::cuda);  // x, tmp, y (N,C,H,W)
  if (sigma == 0.0f) {
    if (y.data() != x.data()) copy(x, y);
    return;
  }
  kernels::gaussian_blur(x.data(), tmp.data(), y.data(), std::int64_t(s.n) * s.c, s.h, s.w, sigma, stream_);
}

}  // namespace impasto
