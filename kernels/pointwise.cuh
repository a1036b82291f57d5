// kernels/pointwise.cuh — per-element math shared by the CPU loops and the CUDA kernels:
// ReLU gradient, squared-difference loss term, total-variation stencil, Adam update.
#pragma once

#include <math.h>

#include "kernels/hd.cuh"

namespace impasto::math {

IMPASTO_HD float relu(float x) { return x > 0.0f ? x : 0.0f; }
IMPASTO_HD float relu_grad(float y, float dy) { return y > 0.0f ? dy : 0.0f; }

// ReLU masks (Backend::relu_mask): word w holds "y > 0" of elements [32w, 32w + 32) (those below n), element
// 32w + k in bit k. mask_set: whether element e's bit is set.
template <typename T>
IMPASTO_HD unsigned relu_mask_word(const T* y, long long w, long long n) {
  unsigned bits = 0;
  const long long first = 32 * w;
  for (int k = 0; k < 32 && first + k < n; ++k)
    if (Element<T>::widen(y[first + k]) > 0.0f) bits |= 1u << k;
  return bits;
}
IMPASTO_HD bool mask_set(const unsigned* words, long long e) { return (words[e >> 5] >> (e & 31)) & 1u; }

// One element of L = scale·Σ w(x−t)²: returns the loss term, writes dL/dx to *grad_term.
IMPASTO_HD float sq_diff_term(float x, float t, float w, float scale, float* grad_term) {
  const float d = x - t;
  *grad_term = 2.0f * scale * w * d;
  return scale * w * d * d;
}

// ---- total variation on one H×W plane, row-major; mode = int(TvMode) -----------------------------------
// 0 (l1): φ(d) = |d| over every vertical and horizontal difference; 1 (squared): φ(d) = d²;
// 2 (squared-interior, jcjohnson/neural-style's TVLoss): φ(d) = ½d², and only the pixels of the top-left
// (H−1)×(W−1) block own their two differences (the last row's horizontal and the last column's vertical
// differences are left out).
IMPASTO_HD float tv_phi(float d, int mode) { return mode == 0 ? fabsf(d) : mode == 1 ? d * d : 0.5f * d * d; }
IMPASTO_HD float tv_dphi(float d, int mode) {
  if (mode == 1) return 2.0f * d;
  if (mode == 2) return d;
  return d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
}
// Whether pixel (i,j) owns its differences to its lower and right neighbours (each one that exists).
IMPASTO_HD bool tv_owner(int h, int w, int i, int j, int mode) { return mode != 2 || (i + 1 < h && j + 1 < w); }
// TV terms owned by pixel (i,j): the difference to its lower and to its right neighbour.
IMPASTO_HD float tv_loss_at(const float* p, int h, int w, int i, int j, int mode) {
  if (!tv_owner(h, w, i, j, mode)) return 0.0f;
  const float c = p[i * w + j];
  float s = 0.0f;
  if (i + 1 < h) s += tv_phi(p[(i + 1) * w + j] - c, mode);
  if (j + 1 < w) s += tv_phi(p[i * w + j + 1] - c, mode);
  return s;
}
// dTV/dx at pixel (i,j): gathered from the four differences that contain it (no atomics needed): its own two
// and those of its upper and left neighbours, each where its owner has it.
IMPASTO_HD float tv_grad_at(const float* p, int h, int w, int i, int j, int mode) {
  const float c = p[i * w + j];
  float g = 0.0f;
  if (tv_owner(h, w, i, j, mode)) {
    if (i + 1 < h) g -= tv_dphi(p[(i + 1) * w + j] - c, mode);
    if (j + 1 < w) g -= tv_dphi(p[i * w + j + 1] - c, mode);
  }
  if (i > 0 && tv_owner(h, w, i - 1, j, mode)) g += tv_dphi(c - p[(i - 1) * w + j], mode);
  if (j > 0 && tv_owner(h, w, i, j - 1, mode)) g += tv_dphi(c - p[i * w + j - 1], mode);
  return g;
}

// ---- Adam (Kingma & Ba 2015, Alg. 1, in PyTorch's arrangement) ------------------------------------------
// step_size = lr / (1 − β1ᵗ), inv_sqrt_bc2 = 1 / sqrt(1 − β2ᵗ), both computed once per step on the host.
IMPASTO_HD void adam_update(float* x, float g, float* m, float* v, float beta1, float beta2, float eps,
                            float step_size, float inv_sqrt_bc2) {
  *m = beta1 * *m + (1.0f - beta1) * g;
  *v = beta2 * *v + (1.0f - beta2) * g * g;
  const float denom = sqrtf(*v) * inv_sqrt_bc2 + eps;
  *x -= step_size * *m / denom;
}

}  // namespace impasto::math
