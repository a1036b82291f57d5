// kernels/pool.cu — pooling (2×2, stride 2, floor mode; NCHW or NHWC), average and max, one thread per window
// (the pooling masks: one per 32-bit word); on float32 or bf16 activations (kernels/bf16.cuh: float math, one
// rounding where a bf16 result is stored).
// Forward: the window's average or maximum (kernels/pool.cuh's window_value, as the CPU backend; engine/cuda/pool.cu
// says why not cuDNN's). Backward: the thread spreads
// dy over the window (average: a quarter each; max: all to the first maximum, the CPU backend's rule) through
// kernels/pool.cuh's window_grad, with the ReLU backward of the layer below fused in on request.
// Windows do not overlap, so every covered element of dx is written exactly once; dropped odd rows/columns
// are the caller's (engine/cuda/pool.cu clears them).
#include <climits>
#include <cstdint>

#include "kernels/bf16.cuh"
#include "kernels/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"
#include "kernels/pool.cuh"

namespace impasto::kernels {
namespace {

// Window `out` (an element (b,ch,i,j) of the pooled tensor, in its layout) of x (n,c,h,w): its top-left
// element and the offsets of its four elements in row-major window order, in x's layout. I is the index type:
// int where x has fewer than 2^31 elements (64-bit division is several times slower on the GPU).
template <typename I>
struct Window {
  I tl, off[4];
  __device__ Window(I out, I c, I h, I w, bool nhwc) {
    const I oh = h / 2, ow = w / 2;
    I b, ch, i, j;
    if (nhwc) {
      ch = out % c;
      j = out / c % ow;
      i = out / (c * ow) % oh;
      b = out / (c * ow * oh);
    } else {
      j = out % ow;
      i = out / ow % oh;
      const I p = out / (oh * ow);  // plane b·C + ch
      ch = p % c;
      b = p / c;
    }
    const I px = nhwc ? c : 1, row = px * w;  // element strides of a pixel and of a row
    tl = nhwc ? ((b * h + 2 * i) * w + 2 * j) * c + ch : ((b * c + ch) * h + 2 * i) * w + 2 * j;
    off[0] = 0;
    off[1] = px;
    off[2] = row;
    off[3] = row + px;
  }
};

// The window of `out` with 32-bit index math when `small`.
template <typename F>
__device__ void with_window(std::int64_t out, int c, int h, int w, bool nhwc, bool small, F&& f) {
  if (small) {
    const Window<int> win(int(out), c, h, w, nhwc);
    f(std::int64_t(win.tl), win.off);
  } else {
    const Window<std::int64_t> win(out, c, h, w, nhwc);
    f(win.tl, win.off);
  }
}

template <typename T>
using E = math::Element<T>;

template <typename T>
struct PoolForward {  // x (n,c,h,w) → y (n,c,h/2,w/2)
  const T* x; T* y; int c, h, w; bool nhwc, average, small;
  __device__ void operator()(std::int64_t out) const {
    with_window(out, c, h, w, nhwc, small, [&](std::int64_t tl, const auto* off) {
      const float v[4] = {E<T>::widen(x[tl + off[0]]), E<T>::widen(x[tl + off[1]]), E<T>::widen(x[tl + off[2]]),
                          E<T>::widen(x[tl + off[3]])};
      y[out] = E<T>::narrow(math::window_value(v, average));
    });
  }
};

template <typename T>
struct PoolBackward {  // x, dx (n,c,h,w); dy (n,c,h/2,w/2)
  const T* x; const T* dy; T* dx; int c, h, w; bool nhwc, average, relu_mask, small;
  __device__ void operator()(std::int64_t out) const {
    with_window(out, c, h, w, nhwc, small, [&](std::int64_t tl, const auto* off) {
      const float v[4] = {E<T>::widen(x[tl + off[0]]), E<T>::widen(x[tl + off[1]]), E<T>::widen(x[tl + off[2]]),
                          E<T>::widen(x[tl + off[3]])};
      float d[4];
      math::window_grad(v, E<T>::widen(dy[out]), average, relu_mask, d);
      for (int k = 0; k < 4; ++k) dx[tl + off[k]] = E<T>::narrow(d[k]);
    });
  }
};

template <typename T>
struct PoolBackwardMask {  // dx (n,c,h,w) through the pooling mask words of its elements; dy (n,c,h/2,w/2)
  const unsigned* words; const T* dy; T* dx; int c, h, w; bool nhwc, average, small;
  __device__ void operator()(std::int64_t out) const {
    with_window(out, c, h, w, nhwc, small, [&](std::int64_t tl, const auto* off) {
      float d[4];
      math::window_grad_masked(words, tl, off, E<T>::widen(dy[out]), average, d);
      for (int k = 0; k < 4; ++k) dx[tl + off[k]] = E<T>::narrow(d[k]);
    });
  }
};

template <typename T>
struct PoolMask {  // one thread per 32-bit word of x's (n,c,h,w) pooling mask; n = x's element count
  const T* x; unsigned* words; std::int64_t n; int c, h, w; bool nhwc, average, small;
  __device__ void operator()(std::int64_t word) const {
    words[word] = small ? math::pool_mask_word<T, int>(x, int(word), int(n), c, h, w, nhwc, average)
                        : math::pool_mask_word<T, std::int64_t>(x, word, n, c, h, w, nhwc, average);
  }
};

// x's element count fits int (so do all window indices).
bool fits_int(int n, int c, int h, int w) { return std::int64_t(n) * c * h * w < std::int64_t(INT32_MAX); }

// A window element's value as the pooling sees it: the stored activation, or (BiasRelu) what the bias + ReLU
// pass over a convolution's raw bf16 output would store, bf16(relu(y + bias[channel])) — so a pooling fused with
// that pass pools, and masks, the very values the two passes would give.
template <typename T>
struct Stored {
  __device__ float operator()(T v, std::int64_t) const { return E<T>::widen(v); }
};
struct BiasRelu {
  const float* bias;
  __device__ float operator()(__nv_bfloat16 v, std::int64_t channel) const {
    return __bfloat162float(bias_act_value(v, bias[channel], true));
  }
};

// PoolForward with the pooling mask of each window (math::window_mask_bit): NHWC, c a multiple of 32, one thread
// per output element in whole warps (for_each_warp), so a warp's lanes hold 32 consecutive channels of one
// window and bit k of all of them is one aligned word of the mask (lane 0's top-left element is a multiple of 32).
template <typename T, typename Value>
struct PoolForwardMask {
  const T* x; T* y; unsigned* words; Value value; int c, h, w; bool average, small;
  __device__ void operator()(std::int64_t out, bool) const {  // every lane inside: the count is a multiple of 32
    const std::int64_t channel = out % c;
    with_window(out, c, h, w, /*nhwc=*/true, small, [&](std::int64_t tl, const auto* off) {
      const float v[4] = {value(x[tl + off[0]], channel), value(x[tl + off[1]], channel),
                          value(x[tl + off[2]], channel), value(x[tl + off[3]], channel)};
      y[out] = E<T>::narrow(math::window_value(v, average));
      for (int k = 0; k < 4; ++k) {
        const unsigned word = __ballot_sync(0xffffffffu, math::window_mask_bit(v, k, average));
        if (out % 32 == 0) words[(tl + off[k]) / 32] = word;
      }
    });
  }
};

// The pixels of each sample that floor mode drops: the last column's first h − h mod 2 when w is odd (`column`),
// then the last row's w when h is odd.
struct DroppedPixels {
  int column, count;
  DroppedPixels(int h, int w) : column(w % 2 ? h - h % 2 : 0), count(column + (h % 2 ? w : 0)) {}
};

// The words of x's pooling mask over the dropped pixels: NHWC, c a multiple of 32, so each such pixel owns c/32
// whole words; one thread per word. No window holds them: max pooling's bits are 0, average pooling's the
// ReLU's (math::pool_mask_word).
template <typename T, typename Value>
struct PoolMaskDropped {
  const T* x; unsigned* words; Value value; int c, h, w; DroppedPixels dropped; bool average;
  __device__ void operator()(std::int64_t k) const {
    const int per_pixel = c / 32, column = dropped.column;
    const std::int64_t per_sample = std::int64_t(dropped.count) * per_pixel;
    const std::int64_t b = k / per_sample;
    const int p = int(k % per_sample / per_pixel), g = int(k % per_pixel);
    const int i = p < column ? p : h - 1, j = p < column ? w - 1 : p - column;
    const std::int64_t word = ((b * h + i) * w + j) * per_pixel + g;
    unsigned bits = 0;
    for (int e = 0; average && e < 32; ++e)
      if (value(x[32 * word + e], 32 * g + e) > 0.0f) bits |= 1u << e;
    words[word] = bits;
  }
};

// Both of the above over x (n,c,h,w), NHWC, c a multiple of 32, h and w at least 2.
template <typename T, typename Value>
void pool_forward_mask_nhwc(const T* x, T* y, unsigned* words, Value value, int n, int c, int h, int w, bool average,
                            cudaStream_t s) {
  const DroppedPixels dropped(h, w);
  for_each_warp(std::int64_t(n) * c * (h / 2) * (w / 2), s,
                PoolForwardMask<T, Value>{x, y, words, value, c, h, w, average, fits_int(n, c, h, w)});
  for_each(std::int64_t(n) * dropped.count * (c / 32), s,
           PoolMaskDropped<T, Value>{x, words, value, c, h, w, dropped, average});
}

}  // namespace

void pool_forward(const void* x, void* y, int n, int c, int h, int w, bool nhwc, bool average, bool bf16,
                  cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(std::int64_t(n) * c * (h / 2) * (w / 2), s,
             PoolForward<T>{static_cast<const T*>(x), static_cast<T*>(y), c, h, w, nhwc, average, fits_int(n, c, h, w)});
  });
}

void pool_backward(const void* x, const void* dy, void* dx, int n, int c, int h, int w, bool nhwc, bool average,
                   bool relu_mask, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(std::int64_t(n) * c * (h / 2) * (w / 2), s,
             PoolBackward<T>{static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<T*>(dx), c, h, w, nhwc,
                             average, relu_mask, fits_int(n, c, h, w)});
  });
}

void pool_backward_mask(const unsigned* words, const void* dy, void* dx, int n, int c, int h, int w, bool nhwc,
                        bool average, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(std::int64_t(n) * c * (h / 2) * (w / 2), s,
             PoolBackwardMask<T>{words, static_cast<const T*>(dy), static_cast<T*>(dx), c, h, w, nhwc, average,
                                 fits_int(n, c, h, w)});
  });
}

void pool_mask(const void* x, unsigned* words, std::int64_t count, int n, int c, int h, int w, bool nhwc,
               bool average, bool bf16, cudaStream_t s) {
  // 32-bit indices where the last word's elements (up to 32 past x's end) still fit
  const std::int64_t numel = std::int64_t(n) * c * h * w;
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(count, s,
             PoolMask<T>{static_cast<const T*>(x), words, numel, c, h, w, nhwc, average,
                         numel + 32 < std::int64_t(INT32_MAX)});
  });
}

void pool_forward_mask(const void* x, void* y, unsigned* words, std::int64_t count, int n, int c, int h, int w,
                       bool nhwc, bool average, bool bf16, cudaStream_t s) {
  if (!nhwc || c % 32 != 0 || h < 2 || w < 2) {
    if (h >= 2 && w >= 2) pool_forward(x, y, n, c, h, w, nhwc, average, bf16, s);
    pool_mask(x, words, count, n, c, h, w, nhwc, average, bf16, s);
    return;
  }
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    pool_forward_mask_nhwc(static_cast<const T*>(x), static_cast<T*>(y), words, Stored<T>{}, n, c, h, w, average, s);
  });
}

void bias_relu_pool_mask_bf16(const void* conv_out, const float* bias, void* y, unsigned* words, int n, int c, int h,
                              int w, bool average, cudaStream_t s) {
  pool_forward_mask_nhwc(static_cast<const __nv_bfloat16*>(conv_out), static_cast<__nv_bfloat16*>(y), words,
                         BiasRelu{bias}, n, c, h, w, average, s);
}

}  // namespace impasto::kernels
