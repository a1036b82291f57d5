// kernels/pointwise.cuh — per-element math shared by the CPU loops and the CUDA kernels:
// ReLU gradient, squared-difference loss term, total-variation stencil, Adam update.
#pragma once

#include <math.h>

#include "kernels/hd.cuh"

namespace impasto::math {

IMPASTO_HD float relu(float x) { return x > 0.0f ? x : 0.0f; }
IMPASTO_HD float relu_grad(float y, float dy) { return y > 0.0f ? dy : 0.0f; }

// One element of L = scale·Σ w(x−t)²: returns the loss term, writes dL/dx to *grad_term.
IMPASTO_HD float sq_diff_term(float x, float t, float w, float scale, float* grad_term) {
  const float d = x - t;
  *grad_term = 2.0f * scale * w * d;
  return scale * w * d * d;
}

// ---- total variation (mode 0 = L1, 1 = squared) on one H×W plane, row-major --------------------------
IMPASTO_HD float tv_phi(float d, int squared) { return squared ? d * d : fabsf(d); }
IMPASTO_HD float tv_dphi(float d, int squared) {
  if (squared) return 2.0f * d;
  return d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
}
// TV terms owned by pixel (i,j): the difference to its lower and to its right neighbour.
IMPASTO_HD float tv_loss_at(const float* p, int h, int w, int i, int j, int squared) {
  const float c = p[i * w + j];
  float s = 0.0f;
  if (i + 1 < h) s += tv_phi(p[(i + 1) * w + j] - c, squared);
  if (j + 1 < w) s += tv_phi(p[i * w + j + 1] - c, squared);
  return s;
}
// dTV/dx at pixel (i,j): gathered from the four differences that contain it (no atomics needed).
IMPASTO_HD float tv_grad_at(const float* p, int h, int w, int i, int j, int squared) {
  const float c = p[i * w + j];
  float g = 0.0f;
  if (i + 1 < h) g -= tv_dphi(p[(i + 1) * w + j] - c, squared);
  if (j + 1 < w) g -= tv_dphi(p[i * w + j + 1] - c, squared);
  if (i > 0) g += tv_dphi(c - p[(i - 1) * w + j], squared);
  if (j > 0) g += tv_dphi(c - p[i * w + j - 1], squared);
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
