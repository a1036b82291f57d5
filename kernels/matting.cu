// kernels/matting.cu — the matting Laplacian of Luan et al. 2017's photorealism term (Levin, Lischinski & Weiss
// 2008, eq. 12, 3×3 windows), applied matrix-free as He, Sun & Tang 2010 rearrange it. Three grid-stride kernels
// over the shared math of kernels/matting.cuh (the functions engine/cpu/photo.cpp loops over): per window centre
// the guide's mean and regularized covariance (once per guide); per window and plane of v the local affine
// fit; per pixel and plane a gather of (L·v) from its up to 9 windows (no atomics), adding the gradient in place
// and reducing vᵀLv into per-block double partials (stage 2: reduce_finish in reduce.cu).
#include <cstdint>

#include "kernels/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"
#include "kernels/matting.cuh"

namespace impasto::kernels {
namespace {

struct MattingStatsPixel {
  const float* guide; float* stats; int h, w; float eps;
  __device__ void operator()(std::int64_t k) const {  // k over H·W
    const std::int64_t m = std::int64_t(h) * w;
    float window[math::kMattingStatPlanes];
    math::matting_window_stats(guide, h, w, int(k / w), int(k % w), eps, window);
    for (int q = 0; q < math::kMattingStatPlanes; ++q) stats[q * m + k] = window[q];
  }
};

struct MattingCoefElement {
  const float* v; const float* guide; const float* stats; float* coef; int h, w;
  __device__ void operator()(std::int64_t e) const {  // e over C·H·W
    const std::int64_t m = std::int64_t(h) * w;
    const std::int64_t c = e / m, k = e % m;
    float fit[math::kMattingCoefPlanes];
    math::matting_window_coef(guide, stats, v + c * m, h, w, int(k / w), int(k % w), fit);
    float* out = coef + math::kMattingCoefPlanes * c * m;  // planes 4c … 4c+3
    for (int q = 0; q < math::kMattingCoefPlanes; ++q) out[q * m + k] = fit[q];
  }
};

// Σ v·(L·v) over C planes of h×w (unscaled); grad += 2·scale·(L·v).
__global__ void matting_apply_kernel(const float* v, const float* guide, const float* stats, const float* coef,
                                     int channels, int h, int w, float scale, float* grad, double* partials) {
  const std::int64_t m = std::int64_t(h) * w, n = channels * m;
  double acc = 0.0;
  for (std::int64_t e = global_index(); e < n; e += grid_stride()) {
    const std::int64_t c = e / m;
    const int k = int(e % m);
    const double lv = math::matting_apply_at(guide, stats, coef + math::kMattingCoefPlanes * c * m, v + c * m, h, w,
                                             k / w, k % w);
    acc += double(v[e]) * lv;
    if (grad != nullptr) grad[e] += math::matting_grad_term(lv, scale);
  }
  acc = block_reduce<SumCombine>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

}  // namespace

void matting_prepare(const float* guide, float eps, float* stats, int h, int w, cudaStream_t s) {
  for_each(std::int64_t(h) * w, s, MattingStatsPixel{guide, stats, h, w, eps});
}

int matting_partials(const float* v, const float* guide, const float* stats, float* coef, int channels, int h, int w,
                     float scale, float* grad, double* partials, cudaStream_t s) {
  const std::int64_t n = std::int64_t(channels) * h * w;
  for_each(n, s, MattingCoefElement{v, guide, stats, coef, h, w});
  const int blocks = blocks_for(n);
  IMPASTO_LAUNCH(matting_apply_kernel, blocks, kThreads, s)(v, guide, stats, coef, channels, h, w, scale, grad,
                                                           partials);
  IMPASTO_CUDA_CHECK_LAUNCH();
  return blocks;
}

}  // namespace impasto::kernels
