// kernels/warp.cuh — per-pixel math of the video pipeline, shared by the CPU backend (engine/cpu/video.cpp)
// and the CUDA kernels (kernels/warp.cu): bilinear warping along an optical flow, the forward-backward
// consistency test with the motion-boundary test, the photometric test of the input frames, and a separable
// Gaussian blur (DESIGN.md "Temporal").
//
// Source: Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016), Sec. 3.2 and their
// consistencyChecker: for pixel p of the current frame with backward flow b (current → previous) and
// forward flow f (previous → current), f̃ = f(p + b(p)) sampled bilinearly;
//   occluded (disocclusion) when |f̃ + b|² > 0.01(|f̃|² + |b|²) + 0.5                          (eq. 5)
//   motion boundary          when |∇b_u|² + |∇b_v|² > 0.01|b|² + 0.002                       (eq. 6)
// Like the reference checker, an occluded pixel is marked −1 (motion boundary and out-of-frame 0, reliable
// 1) so that the following Gaussian blur (σ = 0.8) spreads unreliability outward; the result is then clipped
// to [0, 1].
//
// Conventions shared by every function here:
// - Planes are H×W row-major; a flow is two planes (u, v) in pixels: pixel (i, j) maps to the source point
//   (x, y) = (j + u, i + v).
// - A point is inside the frame when 0 <= x <= W−1 and 0 <= y <= H−1 (NaN is outside). Outside points are
//   never sampled: warping writes the fill value there, the consistency test marks the pixel 0.
// - Gradients of the flow are central differences, one-sided at the frame border.
// - Middlebury's "unknown" flow (|value| >= 1e9) needs no special case: it sends the source point outside
//   the frame (or makes the forward-backward test fail), so such pixels come out unreliable.
#pragma once

#include <math.h>

#include "kernels/hd.cuh"

namespace impasto::math {

IMPASTO_HD bool inside_frame(float x, float y, int h, int w) {
  return x >= 0.0f && x <= float(w - 1) && y >= 0.0f && y <= float(h - 1);
}

// Bilinear sample of plane p (h×w) at (x, y), which must be inside the frame.
IMPASTO_HD float bilinear(const float* p, int h, int w, float x, float y) {
  int x0 = int(floorf(x)), y0 = int(floorf(y));
  x0 = x0 < w - 1 ? x0 : w - 1;  // x == W−1 exactly: weight 0 on the (absent) right neighbour
  y0 = y0 < h - 1 ? y0 : h - 1;
  const int x1 = x0 + 1 < w ? x0 + 1 : x0, y1 = y0 + 1 < h ? y0 + 1 : y0;
  const float ax = x - float(x0), ay = y - float(y0);
  const float top = (1.0f - ax) * p[y0 * w + x0] + ax * p[y0 * w + x1];
  const float bottom = (1.0f - ax) * p[y1 * w + x0] + ax * p[y1 * w + x1];
  return (1.0f - ay) * top + ay * bottom;
}

// One element of y = warp(x, flow): channel plane xc of x (h×w), pixel (i, j); fill when the source is
// outside the frame.
IMPASTO_HD float warp_at(const float* xc, const float* flow, int h, int w, int i, int j, float fill) {
  const int m = h * w, k = i * w + j;
  const float x = float(j) + flow[k], y = float(i) + flow[m + k];
  return inside_frame(x, y, h, w) ? bilinear(xc, h, w, x, y) : fill;
}

// d/dj (col) or d/di (row) of plane p at (i, j): central difference, one-sided at the border.
IMPASTO_HD float diff_x(const float* p, int w, int i, int j) {
  const int l = j > 0 ? j - 1 : j, r = j + 1 < w ? j + 1 : j;
  return r > l ? (p[i * w + r] - p[i * w + l]) / float(r - l) : 0.0f;
}
IMPASTO_HD float diff_y(const float* p, int h, int w, int i, int j) {
  const int u = i > 0 ? i - 1 : i, d = i + 1 < h ? i + 1 : i;
  return d > u ? (p[d * w + j] - p[u * w + j]) / float(d - u) : 0.0f;
}

// Values of the unblurred consistency map.
constexpr float kOccluded = -1.0f, kUnreliable = 0.0f, kReliable = 1.0f;

// The consistency test at pixel (i, j) of the current frame (Ruder et al. 2016, eqs. 5–6): fwd is the flow
// previous → current, bwd current → previous, each (2,h,w). Returns kOccluded, kUnreliable (motion boundary
// or the backward flow leaves the frame) or kReliable.
IMPASTO_HD float consistency_at(const float* fwd, const float* bwd, int h, int w, int i, int j) {
  const int m = h * w, k = i * w + j;
  const float bu = bwd[k], bv = bwd[m + k];
  const float x = float(j) + bu, y = float(i) + bv;
  if (!inside_frame(x, y, h, w)) return kUnreliable;
  const float fu = bilinear(fwd, h, w, x, y), fv = bilinear(fwd + m, h, w, x, y);
  const float du = fu + bu, dv = fv + bv;
  if (du * du + dv * dv > 0.01f * (fu * fu + fv * fv + bu * bu + bv * bv) + 0.5f) return kOccluded;
  const float ux = diff_x(bwd, w, i, j), uy = diff_y(bwd, h, w, i, j);
  const float vx = diff_x(bwd + m, w, i, j), vy = diff_y(bwd + m, h, w, i, j);
  if (ux * ux + uy * uy + vx * vx + vy * vy > 0.01f * (bu * bu + bv * bv) + 0.002f) return kUnreliable;
  return kReliable;
}

// ---- the photometric test (issue 14: scene cuts, fades, flashes) ---------------------------------------------
// The flows can be consistent where the picture is not (a cut to another scene, a flash, a fade): the colour of
// pixel (i, j) of the current frame `cur` against the previous *input* frame `prev` warped along bwd (current →
// previous), both (3,h,w) RGB 0..255: the Euclidean RGB distance ‖cur(p) − prev(p + b(p))‖, or −1 when p + b(p)
// leaves the frame (no evidence either way: the consistency test already marks such pixels 0).
// The sampling is warp_at's (bilinear, same inside-the-frame rule).
IMPASTO_HD float photometric_distance_at(const float* prev, const float* cur, const float* bwd, int h, int w, int i,
                                         int j) {
  const int m = h * w, k = i * w + j;
  const float x = float(j) + bwd[k], y = float(i) + bwd[m + k];
  if (!inside_frame(x, y, h, w)) return -1.0f;
  float d2 = 0.0f;
  for (int c = 0; c < 3; ++c) {
    const float d = cur[c * m + k] - bilinear(prev + c * m, h, w, x, y);
    d2 += d * d;
  }
  return sqrtf(d2);
}

// ---- separable Gaussian blur ------------------------------------------------------------------------------
// Taps w_k = exp(−k²/(2σ²)), k = 0..radius, radius = ceil(3σ); at the border the weights of the taps that
// fall inside the frame are renormalized (no padding value enters). Passed by value to the CUDA kernels.
constexpr int kMaxBlurRadius = 30;  // σ <= 10
struct BlurTaps {
  int radius = 0;
  float w[kMaxBlurRadius + 1] = {};
};
inline BlurTaps make_blur_taps(float sigma) {  // host only; sigma in (0, 10]
  BlurTaps t;
  t.radius = int(ceilf(3.0f * sigma));
  if (t.radius > kMaxBlurRadius) t.radius = kMaxBlurRadius;
  for (int k = 0; k <= t.radius; ++k) t.w[k] = float(exp(-double(k) * k / (2.0 * double(sigma) * sigma)));
  return t;
}
// Horizontal (along j) and vertical (along i) passes at pixel (i, j) of plane p.
IMPASTO_HD float blur_x_at(const float* p, int w, int i, int j, const BlurTaps& t) {
  float s = 0.0f, n = 0.0f;
  for (int k = -t.radius; k <= t.radius; ++k) {
    const int jj = j + k;
    if (jj < 0 || jj >= w) continue;
    const float wk = t.w[k < 0 ? -k : k];
    s += wk * p[i * w + jj];
    n += wk;
  }
  return s / n;
}
IMPASTO_HD float blur_y_at(const float* p, int h, int w, int i, int j, const BlurTaps& t) {
  float s = 0.0f, n = 0.0f;
  for (int k = -t.radius; k <= t.radius; ++k) {
    const int ii = i + k;
    if (ii < 0 || ii >= h) continue;
    const float wk = t.w[k < 0 ? -k : k];
    s += wk * p[ii * w + j];
    n += wk;
  }
  return s / n;
}

}  // namespace impasto::math
