// engine/cpu/video.cpp — the CPU backend's video ops (Ruder et al. 2016): bilinear warping along a flow,
// the forward-backward consistency test with motion boundaries, and the separable Gaussian blur of the
// reliability map. Per-pixel loops over the shared math of kernels/warp.cuh (the functions the CUDA kernels
// in kernels/warp.cu call).
#include <cmath>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/cpu/dims.hpp"
#include "engine/op_checks.hpp"
#include "kernels/warp.cuh"

namespace impasto {

void CpuBackend::warp(const Tensor& x, const Tensor& flow, const Tensor& fill, Tensor& y) {
  const Shape s = checks::warp(x, flow, fill, y, Device::cpu);  // x, y (1,C,H,W), flow (1,2,H,W), fill (1,C,1,1)
  const std::int64_t m = s.plane();
  for (int c = 0; c < s.c; ++c) {
    const float* xc = x.data() + c * m;
    float* yc = y.data() + c * m;
    const float f = fill.data()[c];
    for (int i = 0; i < s.h; ++i)
      for (int j = 0; j < s.w; ++j) yc[i * s.w + j] = math::warp_at(xc, flow.data(), s.h, s.w, i, j, f);
  }
}

void CpuBackend::consistency(const Tensor& fwd, const Tensor& bwd, Tensor& c) {
  const Shape s = checks::consistency(fwd, bwd, c, Device::cpu);  // fwd, bwd (1,2,H,W), c (1,1,H,W)
  for (int i = 0; i < s.h; ++i)
    for (int j = 0; j < s.w; ++j) c.data()[i * s.w + j] = math::consistency_at(fwd.data(), bwd.data(), s.h, s.w, i, j);
}

void CpuBackend::gaussian_blur(const Tensor& x, float sigma, Tensor& tmp, Tensor& y) {
  const Shape s = checks::gaussian_blur(x, sigma, tmp, y, Device::cpu);  // x, tmp, y (N,C,H,W)
  if (sigma == 0.0f) {
    if (y.data() != x.data()) copy(x, y);
    return;
  }
  const math::BlurTaps taps = math::make_blur_taps(sigma);
  const std::int64_t planes = cpu::plane_count(s), m = s.plane();
  for (std::int64_t p = 0; p < planes; ++p) {  // x → tmp along rows, then tmp → y along columns
    const float* xp = x.data() + p * m;
    float* tp = tmp.data() + p * m;
    float* yp = y.data() + p * m;
    for (int i = 0; i < s.h; ++i)
      for (int j = 0; j < s.w; ++j) tp[i * s.w + j] = math::blur_x_at(xp, s.w, i, j, taps);
    for (int i = 0; i < s.h; ++i)
      for (int j = 0; j < s.w; ++j) yp[i * s.w + j] = math::blur_y_at(tp, s.h, s.w, i, j, taps);
  }
}

}  // namespace impasto
