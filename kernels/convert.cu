// kernels/convert.cu — the layout-and-type changes around the bf16 convolutions (Precision::bf16): float32
// (N,C,HW) → bf16 (N,HW,C) on the way in (inputs, output gradients, and weights seen as (K,C,R·S) →
// (K,R·S,C)), and bf16 (N,HW,C) → float32 (N,C,HW) on the way out, adding the bias and applying the ReLU
// there (the epilogue cuDNN would fuse). Both are tiled transposes: a 32×32 tile goes through shared memory
// so that reads and writes are coalesced on both sides (each thread moves 4 elements of a column); planes
// narrower than a tile (the weights) are gathered one element per thread instead.
#include <cuda_bf16.h>

#include <cstdint>

#include "engine/cuda/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"

namespace impasto::kernels {
namespace {

constexpr int kTile = 32, kRows = 8;  // block (32, 8): 4 rows of the tile per thread

// in (N, rows, cols) float32 → out (N, cols, rows) bf16.
__global__ void to_bf16_transposed(const float* __restrict__ in, __nv_bfloat16* __restrict__ out, int rows,
                                   std::int64_t cols) {
  __shared__ float tile[kTile][kTile + 1];
  const std::int64_t base = std::int64_t(blockIdx.z) * rows * cols;
  const std::int64_t col0 = std::int64_t(blockIdx.x) * kTile;
  const int row0 = int(blockIdx.y) * kTile;
  for (int j = threadIdx.y; j < kTile; j += kRows) {
    const int r = row0 + j;
    const std::int64_t c = col0 + threadIdx.x;
    if (r < rows && c < cols) tile[j][threadIdx.x] = in[base + std::int64_t(r) * cols + c];
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += kRows) {
    const std::int64_t c = col0 + j;
    const int r = row0 + int(threadIdx.x);
    if (r < rows && c < cols) out[base + c * rows + r] = __float2bfloat16(tile[threadIdx.x][j]);
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

// The same float32 (N, C, plane) → bf16 (N, plane, C) copy, one thread per element: for planes narrower than a
// tile (the weights' K·K = 9), where most of a 32×32 tile would idle.
struct ToBf16Gather {
  const float* in; __nv_bfloat16* out; int c; std::int64_t plane;
  __device__ void operator()(std::int64_t i) const {  // i over the output (N, plane, C)
    const std::int64_t ch = i % c, p = i / c % plane, b = i / (std::int64_t(c) * plane);
    out[i] = __float2bfloat16(in[(b * c + ch) * plane + p]);
  }
};

dim3 tiles(int n, int rows, std::int64_t cols) {
  return dim3(unsigned((cols + kTile - 1) / kTile), unsigned((rows + kTile - 1) / kTile), unsigned(n));
}

}  // namespace

void to_bf16_channels_last(const float* x, void* y, int n, int c, std::int64_t plane, cudaStream_t s) {
  if (n <= 0 || c <= 0 || plane <= 0) return;
  if (plane < kTile) {
    for_each(std::int64_t(n) * c * plane, s, ToBf16Gather{x, static_cast<__nv_bfloat16*>(y), c, plane});
    return;
  }
  IMPASTO_LAUNCH(to_bf16_transposed, tiles(n, c, plane), dim3(kTile, kRows), s)
  (x, static_cast<__nv_bfloat16*>(y), c, plane);
  IMPASTO_CUDA_CHECK_LAUNCH();
}

void from_bf16_channels_last(const void* x, float* y, const float* bias, bool relu, int n, int c, std::int64_t plane,
                             cudaStream_t s) {
  if (n <= 0 || c <= 0 || plane <= 0) return;
  IMPASTO_LAUNCH(from_bf16_transposed, tiles(n, c, plane), dim3(kTile, kRows), s)
  (static_cast<const __nv_bfloat16*>(x), y, bias, relu, c, plane);
  IMPASTO_CUDA_CHECK_LAUNCH();
}

}  // namespace impasto::kernels
