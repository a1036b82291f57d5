// kernels/matting.cuh — the matting Laplacian L of a guide image (Levin, Lischinski & Weiss 2008, "A closed-form
// solution to natural image matting", eq. 12; 3×3 windows centred at interior pixels only, |w| = 9, as Luan et
// al. 2017's getLaplacian1.m) applied matrix-free, as He, Sun & Tang 2010 ("Fast matting using large kernel
// matting Laplacian matrices") rearrange it: per window k, the local affine model v ≈ a_kᵀI + b_k fitted to v,
// and (L·v)_i = Σ_{k ∋ i} (v_i − v̄_k − a_kᵀ(I_i − μ_k)). This is the photorealism term of Luan et al. 2017
// ("Deep photo style transfer"). Written once for the CPU loops (engine/cpu/photo.cpp) and the CUDA kernels
// (kernels/matting.cu); every function works on one window or one pixel, so both sides share the arithmetic.
//
// Tensors, one image: guide (1,3,H,W) RGB; stats (1,15,H,W): per window centre μ (planes 0–2) and the
// regularized covariance Δ = Σ + ε/9·I₃ (xx, xy, xz, yy, yz, zz) as double-float pairs, high parts in planes 3–8
// and low parts (Δ − high) in planes 9–14; coef (4 planes per plane of v): a (3) and v̄. The border pixels carry
// no window, and their stats and coef are 0. Sums are centred (I_j − μ, v_j − v̄) and taken in double:
// E[Iv] − μ·E[v] would cancel catastrophically in flat windows.
// Why Δ is kept to ~48 bits and solved per window (a = Δ⁻¹·c in double) rather than stored inverted in float:
// in the flat, two-colour and grey windows of an 8-bit photo Σ is (nearly) singular, Δ⁻¹'s entries reach 9/ε ≈
// 1e8 at ε = 1e-7, and rounding them to float perturbed L·v by ~2% there and L·(affine function of the guide) by
// 600× its true size (measured; tests/cpu/test_photo.cpp pins the accuracy on such a guide).
#pragma once

#include <cstdint>

#include "kernels/hd.cuh"

namespace impasto::math {

constexpr int kMattingStatPlanes = 15;  // μ (3), Δ's high (6) and low (6) parts
constexpr int kMattingCoefPlanes = 4;   // a (3) and v̄, per plane of v

// The inverse of the symmetric 3×3 matrix m = {xx, xy, xz, yy, yz, zz} by its adjugate, into inv (same
// order); returns the determinant (inv is meaningless when it is 0). Usable from host code.
IMPASTO_HD double sym3_inverse(const double m[6], double inv[6]) {
  const double xx = m[0], xy = m[1], xz = m[2], yy = m[3], yz = m[4], zz = m[5];
  const double c_xx = yy * zz - yz * yz, c_xy = xz * yz - xy * zz, c_xz = xy * yz - xz * yy;
  const double c_yy = xx * zz - xz * xz, c_yz = xy * xz - xx * yz, c_zz = xx * yy - xy * xy;
  const double det = xx * c_xx + xy * c_xy + xz * c_xz;
  const double r = 1.0 / det;
  inv[0] = c_xx * r;
  inv[1] = c_xy * r;
  inv[2] = c_xz * r;
  inv[3] = c_yy * r;
  inv[4] = c_yz * r;
  inv[5] = c_zz * r;
  return det;
}

// y = s·x, s symmetric {xx, xy, xz, yy, yz, zz}.
IMPASTO_HD void sym3_apply(const double s[6], const double x[3], double y[3]) {
  y[0] = s[0] * x[0] + s[1] * x[1] + s[2] * x[2];
  y[1] = s[1] * x[0] + s[3] * x[1] + s[4] * x[2];
  y[2] = s[2] * x[0] + s[4] * x[1] + s[5] * x[2];
}

// Whether pixel (i,j) of an h×w image centres a 3×3 window.
IMPASTO_HD bool matting_interior(int h, int w, int i, int j) { return i >= 1 && j >= 1 && i + 1 < h && j + 1 < w; }

// stats at window centre (i,j): out[0..2] = μ, out[3..8] and out[9..14] = Δ = Σ + ε/9·I₃ as high and low float
// parts, Σ = (1/9)Σ_j (I_j − μ)(I_j − μ)ᵀ; zeros at a border pixel. guide: 3 planes of h×w, row-major.
IMPASTO_HD void matting_window_stats(const float* guide, int h, int w, int i, int j, float eps, float out[15]) {
  if (!matting_interior(h, w, i, j)) {
    for (int q = 0; q < kMattingStatPlanes; ++q) out[q] = 0.0f;
    return;
  }
  const std::int64_t plane = std::int64_t(h) * w;
  double mu[3] = {0.0, 0.0, 0.0};
  for (int c = 0; c < 3; ++c) {
    const float* g = guide + c * plane;
    for (int di = -1; di <= 1; ++di)
      for (int dj = -1; dj <= 1; ++dj) mu[c] += double(g[std::int64_t(i + di) * w + (j + dj)]);
    mu[c] /= 9.0;
  }
  double cov[6] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0};  // xx, xy, xz, yy, yz, zz
  for (int di = -1; di <= 1; ++di)
    for (int dj = -1; dj <= 1; ++dj) {
      const std::int64_t p = std::int64_t(i + di) * w + (j + dj);
      const double d0 = double(guide[p]) - mu[0], d1 = double(guide[plane + p]) - mu[1],
                   d2 = double(guide[2 * plane + p]) - mu[2];
      cov[0] += d0 * d0;
      cov[1] += d0 * d1;
      cov[2] += d0 * d2;
      cov[3] += d1 * d1;
      cov[4] += d1 * d2;
      cov[5] += d2 * d2;
    }
  const double reg = double(eps) / 9.0;
  for (int q = 0; q < 6; ++q) cov[q] /= 9.0;
  cov[0] += reg;
  cov[3] += reg;
  cov[5] += reg;
  for (int c = 0; c < 3; ++c) out[c] = float(mu[c]);
  for (int q = 0; q < 6; ++q) {
    const float high = float(cov[q]);
    out[3 + q] = high;
    out[9 + q] = float(cov[q] - double(high));
  }
}

// Δ of the window centred at pixel k (index into a plane of m pixels) from its double-float pair in stats.
IMPASTO_HD void matting_window_delta(const float* stats, std::int64_t m, std::int64_t k, double delta[6]) {
  for (int q = 0; q < 6; ++q) delta[q] = double(stats[(3 + q) * m + k]) + double(stats[(9 + q) * m + k]);
}

// coef at window centre (i,j) for one plane v (h×w): out[0..2] = a = (Σ + ε/9·I₃)⁻¹·(1/9)Σ_j (I_j − μ)(v_j − v̄),
// out[3] = v̄ = (1/9)Σ_j v_j, Δ⁻¹ by its adjugate in double; zeros at a border pixel. stats: the planes of
// matting_window_stats.
IMPASTO_HD void matting_window_coef(const float* guide, const float* stats, const float* v, int h, int w, int i,
                                    int j, float out[4]) {
  if (!matting_interior(h, w, i, j)) {
    for (int q = 0; q < kMattingCoefPlanes; ++q) out[q] = 0.0f;
    return;
  }
  const std::int64_t plane = std::int64_t(h) * w, k = std::int64_t(i) * w + j;
  double vbar = 0.0;
  for (int di = -1; di <= 1; ++di)
    for (int dj = -1; dj <= 1; ++dj) vbar += double(v[std::int64_t(i + di) * w + (j + dj)]);
  vbar /= 9.0;
  const double mu[3] = {double(stats[k]), double(stats[plane + k]), double(stats[2 * plane + k])};
  double cov_iv[3] = {0.0, 0.0, 0.0};
  for (int di = -1; di <= 1; ++di)
    for (int dj = -1; dj <= 1; ++dj) {
      const std::int64_t p = std::int64_t(i + di) * w + (j + dj);
      const double dv = double(v[p]) - vbar;
      for (int c = 0; c < 3; ++c) cov_iv[c] += (double(guide[c * plane + p]) - mu[c]) * dv;
    }
  for (int c = 0; c < 3; ++c) cov_iv[c] /= 9.0;
  double delta[6], inv[6], a[3];
  matting_window_delta(stats, plane, k, delta);
  sym3_inverse(delta, inv);
  sym3_apply(inv, cov_iv, a);
  for (int c = 0; c < 3; ++c) out[c] = float(a[c]);
  out[3] = float(vbar);
}

// (L·v)_i at pixel (i,j) for one plane v: Σ over the interior windows k whose 3×3 square holds (i,j) of
// v_i − v̄_k − a_kᵀ(I_i − μ_k). A gather over at most 9 window centres, so no atomics are needed. coef: the 4
// planes matting_window_coef wrote for this v.
IMPASTO_HD double matting_apply_at(const float* guide, const float* stats, const float* coef, const float* v, int h,
                                   int w, int i, int j) {
  const std::int64_t plane = std::int64_t(h) * w, p = std::int64_t(i) * w + j;
  const double vi = double(v[p]);
  const double gi[3] = {double(guide[p]), double(guide[plane + p]), double(guide[2 * plane + p])};
  double lv = 0.0;
  for (int ki = i - 1; ki <= i + 1; ++ki)
    for (int kj = j - 1; kj <= j + 1; ++kj) {
      if (!matting_interior(h, w, ki, kj)) continue;
      const std::int64_t k = std::int64_t(ki) * w + kj;
      double fit = double(coef[3 * plane + k]);  // v̄_k + a_kᵀ(I_i − μ_k): window k's affine model at pixel i
      for (int c = 0; c < 3; ++c) fit += double(coef[c * plane + k]) * (gi[c] - double(stats[c * plane + k]));
      lv += vi - fit;
    }
  return lv;
}

// The gradient of scale·vᵀLv at a pixel from its (L·v): 2·scale·(L·v) (L is symmetric).
IMPASTO_HD float matting_grad_term(double lv, float scale) { return float(2.0 * double(scale) * lv); }

}  // namespace impasto::math
