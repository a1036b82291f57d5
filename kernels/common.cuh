// kernels/common.cuh — device-side building blocks shared by the kernel files: 64-bit grid-stride indexing,
// the generic element-wise launch (for_each), and the double-precision block reduction used by the
// reduction and fused-loss kernels (warp shuffles, one value per warp in shared memory, then the first warp).
#pragma once

#include <cuda_runtime.h>

#include "kernels/check.hpp"
#include "kernels/launchers.cuh"

// `#pragma unroll` for nvcc; nothing for the host compiler of the kernel emulator (tests/emu).
#if defined(__CUDACC__)
#define IMPASTO_UNROLL _Pragma("unroll")
#else
#define IMPASTO_UNROLL
#endif

namespace impasto::kernels {

struct SumCombine {
  __device__ static double identity() { return 0.0; }
  __device__ static double apply(double a, double b) { return a + b; }
};
// Max that propagates NaN (fmax would drop it): abs_max must return NaN when any element is NaN.
struct MaxCombine {
  __device__ static double identity() { return 0.0; }  // used on |x| only, so 0 is the identity
  __device__ static double apply(double a, double b) {
    if (a != a) return a;
    if (b != b) return b;
    return a > b ? a : b;
  }
};

// Reduces v over the block (blockDim.x == kThreads); the result is valid in thread 0.
template <typename Combine>
__device__ double block_reduce(double v) {
  __shared__ double warp_values[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) v = Combine::apply(v, __shfl_down_sync(0xffffffffu, v, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) warp_values[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < kThreads / 32 ? warp_values[lane] : Combine::identity();
    for (int offset = 16; offset > 0; offset /= 2) v = Combine::apply(v, __shfl_down_sync(0xffffffffu, v, offset));
  }
  return v;
}

// Grid-stride index helpers (64-bit: tensors may exceed 2³¹ elements).
__device__ inline std::int64_t global_index() { return std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline std::int64_t grid_stride() { return std::int64_t(gridDim.x) * blockDim.x; }

// One grid-stride loop over n elements; f(i) does element i. Element-wise kernels are this with a functor
// (functors rather than __device__ lambdas: the build does not pass --extended-lambda).
template <typename F>
__global__ void for_each_kernel(std::int64_t n, F f) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) f(i);
}

template <typename F>
void for_each(std::int64_t n, cudaStream_t s, F f) {
  if (n <= 0) return;
  IMPASTO_LAUNCH(for_each_kernel, blocks_for(n), kThreads, s)(n, f);
  IMPASTO_CUDA_CHECK_LAUNCH();
}

// The same loop in whole warps, for kernels that vote across a warp (__ballot_sync): every lane of a warp runs
// each round, f(i, inside) with i = the round's first element + lane (lane 0's i is a multiple of 32) and
// inside = i < n, so that all 32 lanes reach the vote.
template <typename F>
__global__ void for_each_warp_kernel(std::int64_t n, F f) {
  const int lane = int(threadIdx.x % 32);
  for (std::int64_t base = global_index() - lane; base < n; base += grid_stride()) f(base + lane, base + lane < n);
}

template <typename F>
void for_each_warp(std::int64_t n, cudaStream_t s, F f) {
  static_assert(kThreads % 32 == 0, "blocks of whole warps");
  if (n <= 0) return;
  IMPASTO_LAUNCH(for_each_warp_kernel, blocks_for(n), kThreads, s)(n, f);
  IMPASTO_CUDA_CHECK_LAUNCH();
}

}  // namespace impasto::kernels
