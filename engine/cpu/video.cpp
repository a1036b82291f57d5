// engine/cpu/video.cpp — the CPU backend's video ops (Ruder et al. 2016): bilinear warping along a flow,
// the forward-backward consistency test with motion boundaries, and the separable Gaussian blur of the
// reliability map. Per-pixel loops over the shared math of kernels/warp.cuh (the functions the CUDA kernels
// in kernels/warp.cu call).
#include <cmath>

#include "engine/cpu/checks.hpp"
#include "engine/cpu/cpu_backend.hpp"
#include "kernels/warp.cuh"

namespace impasto {
namespace {

// x (1,C,H,W) with N == 1.
Shape single_image(const Tensor& x, const char* op, const char* name) {
  cpu::check_tensor(x, op, name);
  const Shape s = x.shape();
  IMPASTO_CHECK(s.n == 1, op << ": " << name << " has shape " << s.str() << ", expected (1,C,H,W)");
  return s;
}

}  // namespace

void CpuBackend::warp(const Tensor& x, const Tensor& flow, const Tensor& fill, Tensor& y) {
  const char* op = "warp";
  const Shape s = single_image(x, op, "x");                     // (1,C,H,W)
  cpu::check_shape(flow, Shape{1, 2, s.h, s.w}, op, "flow");    // (1,2,H,W)
  cpu::check_shape(fill, Shape{1, s.c, 1, 1}, op, "fill");      // (1,C,1,1)
  cpu::check_shape(y, s, op, "y");                              // (1,C,H,W)
  cpu::check_no_alias(y, x, op, "y", "x");
  cpu::check_no_alias(y, flow, op, "y", "flow");
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
  const char* op = "consistency";
  const Shape s = single_image(fwd, op, "fwd");  // (1,2,H,W)
  IMPASTO_CHECK(s.c == 2, op << ": fwd has shape " << s.str() << ", expected (1,2,H,W)");
  cpu::check_shape(bwd, s, op, "bwd");                       // (1,2,H,W)
  cpu::check_shape(c, Shape{1, 1, s.h, s.w}, op, "c");       // (1,1,H,W)
  cpu::check_no_alias(c, fwd, op, "c", "fwd");
  cpu::check_no_alias(c, bwd, op, "c", "bwd");
  for (int i = 0; i < s.h; ++i)
    for (int j = 0; j < s.w; ++j) c.data()[i * s.w + j] = math::consistency_at(fwd.data(), bwd.data(), s.h, s.w, i, j);
}

void CpuBackend::gaussian_blur(const Tensor& x, float sigma, Tensor& tmp, Tensor& y) {
  const char* op = "gaussian_blur";
  cpu::check_tensor(x, op, "x");  // (N,C,H,W)
  const Shape s = x.shape();
  cpu::check_shape(tmp, s, op, "tmp");
  cpu::check_shape(y, s, op, "y");
  IMPASTO_CHECK(std::isfinite(sigma) && sigma >= 0.0f && sigma <= 10.0f,
                op << ": sigma " << sigma << " is outside [0, 10]");
  cpu::check_no_alias(tmp, x, op, "tmp", "x");
  cpu::check_no_alias(tmp, y, op, "tmp", "y");
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
