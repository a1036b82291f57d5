// kernels/convert.cu — layout changes (float32 NCHW ↔ NHWC: transpose) and the layout-and-type changes around
// the bf16 convolutions (Precision::bf16): float32 (N,C,HW) → bf16 (N,HW,C) on the way in (inputs, output
// gradients, and weights seen as (K,C,R·S) → (K,R·S,C)), and bf16 (N,HW,C) → float32 (N,C,HW) on the way out,
// adding the bias and applying the ReLU there (the epilogue cuDNN would fuse). All are tiled transposes: a
// 32×32 tile goes through shared memory so that reads and writes are coalesced on both sides (each thread
// moves 4 elements of a column); where a side is narrower than a tile (3×3 filter planes, the image's 3
// channels), the way in is gathered one element per thread instead. Channels-last float32 tensors (NHWC
// activations, KRSC weights) only change type: to_bf16 and from_bf16, element by element.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "kernels/bf16.cuh"
#include "kernels/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"
#include "kernels/pointwise.cuh"

namespace impasto::kernels {
namespace {

constexpr int kTile = 32, kRows = 8;  // block (32, 8): 4 rows of the tile per thread

__device__ inline float convert_to(float v, float*) { return v; }
__device__ inline __nv_bfloat16 convert_to(float v, __nv_bfloat16*) { return __float2bfloat16(v); }

// in (N, rows, cols) float32 → out (N, cols, rows) of type Out (float32 or bf16). Row tiles beyond the grid's
// y extent (65535: an NHWC image has H·W rows) are taken in a block-stride loop.
template <typename Out>
__global__ void transposed(const float* __restrict__ in, Out* __restrict__ out, std::int64_t rows,
                           std::int64_t cols) {
  __shared__ float tile[kTile][kTile + 1];
  const std::int64_t base = std::int64_t(blockIdx.z) * rows * cols;
  const std::int64_t col0 = std::int64_t(blockIdx.x) * kTile;
  for (std::int64_t row0 = std::int64_t(blockIdx.y) * kTile; row0 < rows; row0 += std::int64_t(gridDim.y) * kTile) {
    for (int j = threadIdx.y; j < kTile; j += kRows) {
      const std::int64_t r = row0 + j;
      const std::int64_t c = col0 + threadIdx.x;
      if (r < rows && c < cols) tile[j][threadIdx.x] = in[base + r * cols + c];
    }
    __syncthreads();
    for (int j = threadIdx.y; j < kTile; j += kRows) {
      const std::int64_t c = col0 + j;
      const std::int64_t r = row0 + threadIdx.x;
      if (r < rows && c < cols) out[base + c * rows + r] = convert_to(tile[threadIdx.x][j], out);
    }
    __syncthreads();  // the tile is refilled by the next row tile
  }
}

// in (N, cols, rows) bf16 → out (N, rows, cols) float32, + bias[row] (when bias), then ReLU (when relu).
__global__ void from_bf16_transposed(const __nv_bfloat16* __restrict__ in, float* __restrict__ out,
                                     const float* __restrict__ bias, bool relu, int rows, std::int64_t cols) {
  __shared__ float tile[kTile][kTile + 1];
  const std::int64_t base = std::int64_t(blockIdx.z) * rows * cols;
  const std::int64_t col0 = std::int64_t(blockIdx.x) * kTile;
  const int row0 = int(blockIdx.y) * kTile;
  for (int j = threadIdx.y; j < kTile; j += kRows) {
    const std::int64_t c = col0 + j;
    const int r = row0 + int(threadIdx.x);
    if (r < rows && c < cols) tile[threadIdx.x][j] = __bfloat162float(in[base + c * rows + r]);
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += kRows) {
    const int r = row0 + j;
    const std::int64_t c = col0 + threadIdx.x;
    if (r < rows && c < cols) {
      float v = tile[j][threadIdx.x] + (bias ? bias[r] : 0.0f);
      if (relu) v = v > 0.0f ? v : 0.0f;
      out[base + std::int64_t(r) * cols + c] = v;
    }
  }
}

// out (N, cols, rows) of type Out = in (N, rows, cols), one element per thread (i over out): where a side is
// narrower than a tile (the image's 3 channels, the filters' 3×3 planes) and most of a 32×32 tile would idle.
template <typename Out>
struct TransposeGather {
  const float* in; Out* out; std::int64_t rows, cols;
  __device__ void operator()(std::int64_t i) const {
    const std::int64_t r = i % rows, c = i / rows % cols, b = i / (rows * cols);
    out[i] = convert_to(in[(b * rows + r) * cols + c], out);
  }
};

// The index of element (sample b, channel c, pixel p) of an (N, channels, plane) tensor, channels-last when nhwc;
// and i's (b, c, p) in such a tensor.
__device__ inline std::int64_t at_element(std::int64_t b, std::int64_t c, std::int64_t p, int channels,
                                          std::int64_t plane, bool nhwc) {
  return nhwc ? (b * plane + p) * channels + c : (b * channels + c) * plane + p;
}
__device__ inline void element_at(std::int64_t i, int channels, std::int64_t plane, bool nhwc, std::int64_t& b,
                                  std::int64_t& c, std::int64_t& p) {
  c = nhwc ? i % channels : i / plane % channels;
  p = nhwc ? i / channels % plane : i % plane;
  b = i / (std::int64_t(channels) * plane);
}

// y element i of (N, Cy, plane) (NCHW) or (N, plane, Cy) (NHWC) = x's channel c of that pixel when c < Cx, else 0:
// a conversion that also pads or crops the channels (the image into a bf16 network's 8-channel input, its
// gradient back out). One element per thread: these tensors have a handful of channels.
template <typename In, typename Out>
struct ChannelsGather {
  const In* x; Out* y; int cx, cy; std::int64_t plane; bool x_nhwc, y_nhwc;
  __device__ void operator()(std::int64_t i) const {
    std::int64_t b, c, p;
    element_at(i, cy, plane, y_nhwc, b, c, p);
    const float v = c < cx ? math::Element<In>::widen(x[at_element(b, c, p, cx, plane, x_nhwc)]) : 0.0f;
    y[i] = math::Element<Out>::narrow(v);
  }
};

// y element i of (N, plane, Cy) bf16: of x's channel k < C its bf16 rounding (i's channel k) or what that
// rounding missed, rounded (channel C + k); 0 beyond 2C.
struct SplitBf16 {
  const float* x; __nv_bfloat16* y; int c, cy; std::int64_t plane; bool x_nhwc;
  __device__ void operator()(std::int64_t i) const {
    std::int64_t b, ch, p;
    element_at(i, cy, plane, /*nhwc=*/true, b, ch, p);
    float v = 0.0f;
    if (ch < 2 * c) {
      const float xv = x[at_element(b, ch % c, p, c, plane, x_nhwc)];
      const float hi = __bfloat162float(__float2bfloat16(xv));
      v = ch < c ? hi : xv - hi;  // exact in float: hi holds xv's leading bits
    }
    y[i] = __float2bfloat16(v);
  }
};

struct ToBf16 {
  const float* in; __nv_bfloat16* out;
  __device__ void operator()(std::int64_t i) const { out[i] = __float2bfloat16(in[i]); }
};

struct FromBf16 {  // out = in (+ bias[channel]) (then ReLU); channels last: channel = i mod c
  const __nv_bfloat16* in; float* out; const float* bias; bool relu; int c;
  __device__ void operator()(std::int64_t i) const {
    const float v = __bfloat162float(in[i]) + (bias ? bias[i % c] : 0.0f);
    out[i] = relu ? math::relu(v) : v;
  }
};

struct BiasActBf16 {  // y = bf16(y + bias[channel]) (then ReLU), in place; channels last: channel = i mod c
  __nv_bfloat16* y; const float* bias; bool relu; int c;
  __device__ void operator()(std::int64_t i) const { y[i] = bias_act_value(y[i], bias[i % c], relu); }
};

// BiasActBf16 with ReLU, and the ReLU mask of what it stores (math::relu_mask_word's bits: stored value > 0),
// voted by the warp whose 32 lanes hold the word's 32 elements (for_each_warp).
struct BiasReluMaskBf16 {
  __nv_bfloat16* y; const float* bias; unsigned* words; int c;
  __device__ void operator()(std::int64_t i, bool inside) const {
    float stored = 0.0f;
    if (inside) {
      const __nv_bfloat16 r = bias_act_value(y[i], bias[i % c], true);
      y[i] = r;
      stored = __bfloat162float(r);
    }
    const unsigned word = __ballot_sync(0xffffffffu, stored > 0.0f);
    if (inside && i % 32 == 0) words[i / 32] = word;
  }
};

// Grid of the transposes: x over column tiles, y over row tiles (at most 65535: transposed loops over the rest;
// from_bf16_transposed's rows are channels, far below that), z over samples.
dim3 tiles(int n, std::int64_t rows, std::int64_t cols) {
  return dim3(unsigned((cols + kTile - 1) / kTile), unsigned(std::min<std::int64_t>((rows + kTile - 1) / kTile, 65535)),
              unsigned(n));
}

// out (N, cols, rows) = in (N, rows, cols): tiles, or one element per thread where a side is under a tile.
template <typename Out>
void transpose_into(const float* x, Out* y, int n, std::int64_t rows, std::int64_t cols, cudaStream_t s) {
  if (n <= 0 || rows <= 0 || cols <= 0) return;
  if (rows < kTile || cols < kTile) {
    for_each(std::int64_t(n) * rows * cols, s, TransposeGather<Out>{x, y, rows, cols});
    return;
  }
  IMPASTO_LAUNCH(transposed<Out>, tiles(n, rows, cols), dim3(kTile, kRows), s)(x, y, rows, cols);
  IMPASTO_CUDA_CHECK_LAUNCH();
}

}  // namespace

void to_bf16_channels_last(const float* x, void* y, int n, int c, std::int64_t plane, cudaStream_t s) {
  transpose_into(x, static_cast<__nv_bfloat16*>(y), n, c, plane, s);
}

void transpose(const float* x, float* y, int n, std::int64_t rows, std::int64_t cols, cudaStream_t s) {
  transpose_into(x, y, n, rows, cols, s);
}

void convert_channels(const void* x, int cx, bool x_nhwc, bool x_bf16, void* y, int cy, bool y_nhwc, bool y_bf16, int n,
                      std::int64_t plane, cudaStream_t s) {
  on_type(x_bf16, [&](auto in) {
    on_type(y_bf16, [&](auto out) {
      using In = decltype(in);
      using Out = decltype(out);
      for_each(std::int64_t(n) * cy * plane, s,
               ChannelsGather<In, Out>{static_cast<const In*>(x), static_cast<Out*>(y), cx, cy, plane, x_nhwc, y_nhwc});
    });
  });
}

void split_bf16(const float* x, int c, bool x_nhwc, void* y, int cy, int n, std::int64_t plane, cudaStream_t s) {
  for_each(std::int64_t(n) * cy * plane, s, SplitBf16{x, static_cast<__nv_bfloat16*>(y), c, cy, plane, x_nhwc});
}

void to_bf16(const float* x, void* y, std::int64_t count, cudaStream_t s) {
  for_each(count, s, ToBf16{x, static_cast<__nv_bfloat16*>(y)});
}

void from_bf16(const void* x, float* y, const float* bias, bool relu, std::int64_t count, int c, cudaStream_t s) {
  for_each(count, s, FromBf16{static_cast<const __nv_bfloat16*>(x), y, bias, relu, c});
}

void bias_act_bf16(void* y, const float* bias, std::int64_t count, int c, bool relu, unsigned* relu_words,
                   cudaStream_t s) {
  if (relu_words)
    for_each_warp(count, s, BiasReluMaskBf16{static_cast<__nv_bfloat16*>(y), bias, relu_words, c});
  else
    for_each(count, s, BiasActBf16{static_cast<__nv_bfloat16*>(y), bias, relu, c});
}

void from_bf16_channels_last(const void* x, float* y, const float* bias, bool relu, int n, int c, std::int64_t plane,
                             cudaStream_t s) {
  if (n <= 0 || c <= 0 || plane <= 0) return;
  IMPASTO_LAUNCH(from_bf16_transposed, tiles(n, c, plane), dim3(kTile, kRows), s)
  (static_cast<const __nv_bfloat16*>(x), y, bias, relu, c, plane);
  IMPASTO_CUDA_CHECK_LAUNCH();
}

}  // namespace impasto::kernels
