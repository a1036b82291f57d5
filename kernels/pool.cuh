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

// Bit k (row-major) of a window's pooling mask, the window's values v: average pooling: v[k] > 0 (the ReLU's
// bit); max pooling: v[k] is the window's first maximum and > 0.
IMPASTO_HD bool window_mask_bit(const float v[4], int k, bool average) {
  return v[k] > 0.0f && (average || first_max(v) == k);
}

// Pooling masks (Backend::pool2d_mask): all that a pooling backward through the ReLU below needs of a window,
// one bit per element of the ReLU's output x (n,c,h,w), in memory order as relu_mask_word. Average pooling needs
// x > 0 (the ReLU mask); max pooling needs where the window's gradient lands: its first maximum, when > 0 (the
// ReLU passes it). Max pooling's bits are 0 in the rows/columns floor mode drops.
template <typename T, typename I>
IMPASTO_HD bool max_pool_routes_to(const T* x, I e, I c, I h, I w, bool nhwc) {
  const I i = nhwc ? e / (c * w) % h : e / w % h;  // row and column of element e
  const I j = nhwc ? e / c % w : e % w;
  if (i >= h - h % 2 || j >= w - w % 2) return false;
  const I px = nhwc ? c : 1, row = px * w;  // element strides of a pixel and of a row
  const I tl = e - (i % 2) * row - (j % 2) * px;
  const float v[4] = {Element<T>::widen(x[tl]), Element<T>::widen(x[tl + px]), Element<T>::widen(x[tl + row]),
                      Element<T>::widen(x[tl + row + px])};
  return window_mask_bit(v, int(i % 2) * 2 + int(j % 2), false);
}
// Word `word` of x's pooling mask; n = x's element count (I: int where it fits, as kernels/pool.cu's windows).
template <typename T, typename I>
IMPASTO_HD unsigned pool_mask_word(const T* x, I word, I n, I c, I h, I w, bool nhwc, bool average) {
  if (average) return relu_mask_word(x, word, n);
  unsigned bits = 0;
  const I first = 32 * word;
  for (int k = 0; k < 32 && first + k < n; ++k)
    if (max_pool_routes_to(x, I(first + k), c, h, w, nhwc)) bits |= 1u << k;
  return bits;
}

// The gradient of a window of which only its pooling mask (pool_mask_word) is kept: window_grad (relu_mask) of
// values 1 where the bit is set and 0 where not — the same formula (max: at most one bit per window is set,
// and it is that 1 which is the first maximum). tl: the window's top-left element, off: its four offsets, as
// memory-order element indices.
template <typename I, typename J>
IMPASTO_HD void window_grad_masked(const unsigned* words, I tl, const J* off, float g, bool average, float out[4]) {
  const float v[4] = {mask_set(words, tl + off[0]) ? 1.0f : 0.0f, mask_set(words, tl + off[1]) ? 1.0f : 0.0f,
                      mask_set(words, tl + off[2]) ? 1.0f : 0.0f, mask_set(words, tl + off[3]) ? 1.0f : 0.0f};
  window_grad(v, g, average, true, out);
}

}  // namespace impasto::math
