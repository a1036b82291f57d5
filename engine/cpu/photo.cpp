// engine/cpu/photo.cpp — the CPU backend's photorealism ops (Luan et al. 2017, "Deep photo style transfer"):
// the matting Laplacian of the content image (Levin, Lischinski & Weiss 2008, eq. 12, 3×3 windows) applied
// matrix-free from per-window means and covariances (He, Sun & Tang 2010). Per-window and per-pixel
// loops over the shared math of kernels/matting.cuh, the functions the CUDA kernels of kernels/matting.cu
// call; the loss is summed in double.
#include <cstdint>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/op_checks.hpp"
#include "kernels/matting.cuh"

namespace impasto {

void CpuBackend::matting_prepare(const Tensor& guide, float eps, Tensor& stats) {
  const Shape s = checks::matting_prepare(guide, eps, stats, Device::cpu);  // guide (1,3,H,W), stats (1,15,H,W)
  const std::int64_t m = s.plane();
  float* out = stats.data();
  for (int i = 0; i < s.h; ++i)
    for (int j = 0; j < s.w; ++j) {
      float window[math::kMattingStatPlanes];
      math::matting_window_stats(guide.data(), s.h, s.w, i, j, eps, window);
      const std::int64_t p = std::int64_t(i) * s.w + j;
      for (int q = 0; q < math::kMattingStatPlanes; ++q) out[q * m + p] = window[q];
    }
}

double CpuBackend::matting_loss(const Tensor& v, const Tensor& guide, const Tensor& stats, float scale, Tensor& coef,
                                Tensor* grad) {
  // v, grad (1,C,H,W); guide (1,3,H,W); stats (1,15,H,W); coef (1,4C,H,W)
  const Shape s = checks::matting_loss(v, guide, stats, coef, grad, Device::cpu);
  const std::int64_t m = s.plane();
  double vlv = 0.0;  // Σ_c v_cᵀ·L·v_c
  for (int c = 0; c < s.c; ++c) {
    const float* vc = v.data() + c * m;
    float* cc = coef.data() + std::int64_t(math::kMattingCoefPlanes) * c * m;  // planes 4c … 4c+3
    // Pass 1: every window's affine fit of v_c; pass 2 reads the fits of a pixel's up to 9 windows.
    for (int i = 0; i < s.h; ++i)
      for (int j = 0; j < s.w; ++j) {
        float fit[math::kMattingCoefPlanes];
        math::matting_window_coef(guide.data(), stats.data(), vc, s.h, s.w, i, j, fit);
        const std::int64_t p = std::int64_t(i) * s.w + j;
        for (int q = 0; q < math::kMattingCoefPlanes; ++q) cc[q * m + p] = fit[q];
      }
    float* gc = grad != nullptr ? grad->data() + c * m : nullptr;
    for (int i = 0; i < s.h; ++i)
      for (int j = 0; j < s.w; ++j) {
        const double lv = math::matting_apply_at(guide.data(), stats.data(), cc, vc, s.h, s.w, i, j);
        const std::int64_t p = std::int64_t(i) * s.w + j;
        vlv += double(vc[p]) * lv;
        if (gc != nullptr) gc[p] += math::matting_grad_term(lv, scale);
      }
  }
  return deliver(double(scale) * vlv);
}

}  // namespace impasto
