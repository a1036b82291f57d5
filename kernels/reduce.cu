// kernels/reduce.cu — two-stage reductions in double precision: stage 1 (one partial per block, grid-stride
// over the input) and stage 2 (one block folds the partials). Used by dot, sum, abs_sum, abs_max (and
// all_finite through abs_max) and by the fused losses of kernels/loss.cu, which write their own stage 1.
#include <cstdint>

#include "kernels/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"

namespace impasto::kernels {
namespace {

struct LoadSum {
  const float* x; const float* y;
  __device__ double operator()(std::int64_t i) const { return x[i]; }
};
struct LoadDot {
  const float* x; const float* y;
  __device__ double operator()(std::int64_t i) const { return double(x[i]) * double(y[i]); }
};
struct LoadAbs {
  const float* x; const float* y;
  __device__ double operator()(std::int64_t i) const { return fabs(double(x[i])); }
};

template <typename Combine, typename Load>
__global__ void partials_kernel(std::int64_t n, Load load, double* partials) {
  double acc = Combine::identity();
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) acc = Combine::apply(acc, load(i));
  acc = block_reduce<Combine>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

template <typename Combine>
__global__ void finish_kernel(const double* partials, int blocks, double* out) {
  double acc = Combine::identity();
  for (int i = threadIdx.x; i < blocks; i += blockDim.x) acc = Combine::apply(acc, partials[i]);
  acc = block_reduce<Combine>(acc);
  if (threadIdx.x == 0) *out = acc;
}

template <typename Combine, typename Load>
int launch_partials(std::int64_t n, Load load, double* partials, cudaStream_t s) {
  const int blocks = blocks_for(n);
  IMPASTO_LAUNCH(partials_kernel<Combine>, blocks, kThreads, s)(n, load, partials);
  IMPASTO_CUDA_CHECK_LAUNCH();
  return blocks;
}

}  // namespace

int reduce_partials(ReduceOp op, const float* x, const float* y, std::int64_t n, double* partials, cudaStream_t s) {
  switch (op) {
    case ReduceOp::sum: return launch_partials<SumCombine>(n, LoadSum{x, y}, partials, s);
    case ReduceOp::dot: return launch_partials<SumCombine>(n, LoadDot{x, y}, partials, s);
    case ReduceOp::abs_sum: return launch_partials<SumCombine>(n, LoadAbs{x, y}, partials, s);
    case ReduceOp::abs_max: return launch_partials<MaxCombine>(n, LoadAbs{x, y}, partials, s);
  }
  return 0;
}

void reduce_finish(const double* partials, int blocks, bool is_max, double* out, cudaStream_t s) {
  if (is_max)
    IMPASTO_LAUNCH(finish_kernel<MaxCombine>, 1, kThreads, s)(partials, blocks, out);
  else
    IMPASTO_LAUNCH(finish_kernel<SumCombine>, 1, kThreads, s)(partials, blocks, out);
  IMPASTO_CUDA_CHECK_LAUNCH();
}

}  // namespace impasto::kernels
