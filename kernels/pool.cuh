// kernels/pool.cuh — the pooling math written once for the CPU backend and the CUDA kernels: the pooled value
// of a 2×2 window, and its gradient. Max pooling's rule: a window's gradient goes to its FIRST maximum in
// row-major order (ties, e.g. the all-zero windows after a ReLU, do not split it). cuDNN's max-pool backward
// leaves its tie rule undocumented, so both backends use this one.
#pragma once

#include "kernels/hd.cuh"
#include "kernels/pointwise.cuh"  // relu_grad

namespace impasto::math {

// Index (0..3, row-major) of the first maximum among the four window values.
IMPASTO_HD int first_max(const float v[4]) {
  int best = 0;
  for (int k = 1; k < 4; ++k)
    if (v[k] > v[best]) best = k;
  return best;
}

// The pooled value of a window's four elements (row-major): their average, or their first maximum.
IMPASTO_HD float window_value(const float v[4], bool average) {
  return average ? 0.25f * (v[0] + v[1] + v[2] + v[3]) : v[first_max(v)];
}

// The gradient of a window's four elements (values v, row-major) given the pooled output's gradient g:
// average 0.25·g each; max g at the first maximum, 0 elsewhere. relu_mask: v is a ReLU output and the ReLU's
// backward is fused in (0 where v <= 0, as relu_grad).
IMPASTO_HD void window_grad(const float v[4], float g, bool average, bool relu_mask, float out[4]) {
  const int best = average ? -1 : first_max(v);
  for (int k = 0; k < 4; ++k) {
    const float d = average ? 0.25f * g : (k == best ? g : 0.0f);
    out[k] = relu_mask ? relu_grad(v[k], d) : d;
  }
}

// The average-pooling gradient of a window whose ReLU mask (pointwise.cuh's mask words) is all that is kept of
// its elements: window_grad (average, relu_mask) of values 1 where the bit is set and 0 where not — the same
// formula. tl: the window's top-left element, off: its four offsets, as memory-order element indices.
template <typename I, typename J>
IMPASTO_HD void window_grad_masked(const unsigned* words, I tl, const J* off, float g, float out[4]) {
  const float v[4] = {mask_set(words, tl + off[0]) ? 1.0f : 0.0f, mask_set(words, tl + off[1]) ? 1.0f : 0.0f,
                      mask_set(words, tl + off[2]) ? 1.0f : 0.0f, mask_set(words, tl + off[3]) ? 1.0f : 0.0f};
  window_grad(v, g, true, true, out);
}

}  // namespace impasto::math
