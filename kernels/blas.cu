// kernels/blas.cu — the skinny product of the L-BFGS history, c (ra×rb) = a (ra×n)·b (rb×n)ᵀ with ra ≤ 4
// right-hand rows, b up to 2m = 200 history rows and n = 3·H·W (3M at 1024², 25M at 4K), all row-major.
// It is a bandwidth problem: one pass over b must do. cuBLAS's SGEMM splits this long reduction too little
// (perf/RESULTS.md), so this is two deterministic stages:
//   1. a (tiles × chunks) grid: block (t, k) takes kTileRows rows of b from t·kTileRows and the column chunk k,
//      each thread keeping ra × kTileRows float sums over its columns (a grid-stride loop, coalesced loads), then
//      one block reduction per sum into partials[k][r][row] (floats, chunks × ra × rb);
//   2. one thread per output sums its chunks in order, in double.
// The tile index varies fastest, so the blocks that share a chunk of a run together and read it from L2.
// The CPU answer key is CpuBackend::gemm_nt (engine/cpu), checked against double in the tests.
#include <algorithm>
#include <cstdint>

#include "kernels/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"

namespace impasto::kernels {
namespace {

constexpr int kTileRows = 8;                // rows of b per block
constexpr std::int64_t kMinChunk = 4096;    // columns per block, at least (16 per thread)

struct SkinnyGrid {
  int tiles = 1;
  int chunks = 1;
  std::int64_t chunk = 0;  // columns per chunk
};

SkinnyGrid skinny_grid(int rb, std::int64_t n) {
  SkinnyGrid g;
  g.tiles = (rb + kTileRows - 1) / kTileRows;
  const std::int64_t by_blocks = std::max(1, kMaxBlocks / g.tiles);
  const std::int64_t by_size = std::max<std::int64_t>(1, (n + kMinChunk - 1) / kMinChunk);
  const std::int64_t chunks = std::min(by_blocks, by_size);
  g.chunk = (n + chunks - 1) / chunks;
  g.chunks = int((n + g.chunk - 1) / g.chunk);  // no empty chunk
  return g;
}

// partials (chunks, RA, rb): block (t, k)'s sums of a[r]·b[row] over chunk k, rows t·kTileRows ….
template <int RA>
__global__ void gemm_nt_partials_kernel(const float* a, const float* b, int rb, std::int64_t n, std::int64_t chunk,
                                        float* partials) {
  const int row0 = int(blockIdx.x) * kTileRows;
  const int rows = rb - row0 < kTileRows ? rb - row0 : kTileRows;
  const std::int64_t begin = std::int64_t(blockIdx.y) * chunk;
  const std::int64_t end = begin + chunk < n ? begin + chunk : n;
  const float* b0 = b + std::int64_t(row0) * n;
  float acc[RA][kTileRows] = {};
  for (std::int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    float av[RA];
    IMPASTO_UNROLL
    for (int r = 0; r < RA; ++r) av[r] = a[std::int64_t(r) * n + i];
    IMPASTO_UNROLL
    for (int j = 0; j < kTileRows; ++j) {
      if (j < rows) {
        const float bv = b0[std::int64_t(j) * n + i];
        IMPASTO_UNROLL
        for (int r = 0; r < RA; ++r) acc[r][j] += av[r] * bv;
      }
    }
  }
  __shared__ float warp_sums[kThreads / 32][RA * kTileRows];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  IMPASTO_UNROLL
  for (int r = 0; r < RA; ++r) {
    IMPASTO_UNROLL
    for (int j = 0; j < kTileRows; ++j) {
      float v = acc[r][j];
      for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
      if (lane == 0) warp_sums[warp][r * kTileRows + j] = v;
    }
  }
  __syncthreads();
  const int t = threadIdx.x;
  if (t < RA * kTileRows && t % kTileRows < rows) {
    float s = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) s += warp_sums[w][t];
    const int r = t / kTileRows, j = t % kTileRows;
    partials[(std::int64_t(blockIdx.y) * RA + r) * rb + row0 + j] = s;
  }
}

// c[e] = Σ_k partials[k][e], e < count = ra·rb (c row-major ra×rb, the partials' inner layout).
__global__ void gemm_nt_finish_kernel(const float* partials, int chunks, std::int64_t count, float* c) {
  for (std::int64_t e = global_index(); e < count; e += grid_stride()) {
    double s = 0.0;
    for (int k = 0; k < chunks; ++k) s += partials[std::int64_t(k) * count + e];
    c[e] = float(s);
  }
}

template <int RA>
void launch_partials(const float* a, const float* b, int rb, std::int64_t n, const SkinnyGrid& g, float* partials,
                     cudaStream_t s) {
  IMPASTO_LAUNCH(gemm_nt_partials_kernel<RA>, dim3(unsigned(g.tiles), unsigned(g.chunks)), kThreads, s)(
      a, b, rb, n, g.chunk, partials);
  IMPASTO_CUDA_CHECK_LAUNCH();
}

}  // namespace

std::int64_t gemm_nt_skinny_partials(int ra, int rb, std::int64_t n) {
  return std::int64_t(skinny_grid(rb, n).chunks) * ra * rb;
}

void gemm_nt_skinny(const float* a, const float* b, float* c, int ra, int rb, std::int64_t n, float* partials,
                    cudaStream_t s) {
  if (ra <= 0 || rb <= 0 || n <= 0) return;  // the caller handles empty products (c = 0 when n == 0)
  const SkinnyGrid g = skinny_grid(rb, n);
  switch (ra) {
    case 1: launch_partials<1>(a, b, rb, n, g, partials, s); break;
    case 2: launch_partials<2>(a, b, rb, n, g, partials, s); break;
    case 3: launch_partials<3>(a, b, rb, n, g, partials, s); break;
    case 4: launch_partials<4>(a, b, rb, n, g, partials, s); break;
    default: IMPASTO_CHECK(false, "gemm_nt_skinny: " << ra << " right-hand rows (at most " << kSkinnyMaxRows << ")");
  }
  const std::int64_t count = std::int64_t(ra) * rb;
  IMPASTO_LAUNCH(gemm_nt_finish_kernel, blocks_for(count), kThreads, s)(partials, g.chunks, count, c);
  IMPASTO_CUDA_CHECK_LAUNCH();
}

}  // namespace impasto::kernels
