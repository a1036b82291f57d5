// kernels/loss.cu — fused loss kernels: one pass computes each element's loss term with the shared math of
// kernels/pointwise.cuh (math::sq_diff_term, math::tv_loss_at, math::tv_grad_at), adds its gradient into
// grad in place and reduces the loss into per-block double partials (stage 2: reduce_finish in reduce.cu).
#include <cstdint>

#include "kernels/bf16.cuh"
#include "kernels/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"
#include "kernels/pointwise.cuh"

namespace impasto::kernels {
namespace {

// L = scale·Σ w(x−t)²; w_plane > 0: w broadcast over channels (pixels w_pixel_stride apart in x); w_plane == 0:
// w per element; w null: 1. T: float, or bf16 activations.
template <typename T>
__global__ void sq_diff_kernel(const T* x, const T* t, const float* w, std::int64_t w_plane,
                               std::int64_t w_pixel_stride, float scale, T* grad, std::int64_t n, double* partials) {
  using E = math::Element<T>;
  double acc = 0.0;
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    const float wi = w == nullptr ? 1.0f : w[w_plane > 0 ? i / w_pixel_stride % w_plane : i];
    float g;
    acc += math::sq_diff_term(E::widen(x[i]), E::widen(t[i]), wi, scale, &g);
    if (grad != nullptr) grad[i] = E::narrow(E::widen(grad[i]) + g);
  }
  acc = block_reduce<SumCombine>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// Σ TV over planes of h×w (unscaled; the host multiplies by scale); grad += scale·dTV/dx. Each thread
// gathers its pixel's gradient from the four differences containing it, so no atomics are needed.
__global__ void tv_kernel(const float* x, std::int64_t planes, int h, int w, int mode, float scale,
                          float* grad, double* partials) {
  const std::int64_t plane = std::int64_t(h) * w, n = planes * plane;
  double acc = 0.0;
  for (std::int64_t k = global_index(); k < n; k += grid_stride()) {
    const float* p = x + (k / plane) * plane;
    const int r = int(k % plane);
    const int i = r / w, j = r % w;
    acc += math::tv_loss_at(p, h, w, i, j, mode);
    if (grad != nullptr) grad[k] += scale * math::tv_grad_at(p, h, w, i, j, mode);
  }
  acc = block_reduce<SumCombine>(acc);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

}  // namespace

int sq_diff_partials(const void* x, const void* t, const float* w, std::int64_t w_plane,
                     std::int64_t w_pixel_stride, float scale, void* grad, std::int64_t n, bool bf16,
                     double* partials, cudaStream_t s) {
  const int blocks = blocks_for(n);
  on_type(bf16, [&](auto e) {
    using T = decltype(e);
    IMPASTO_LAUNCH(sq_diff_kernel<T>, blocks, kThreads, s)
    (static_cast<const T*>(x), static_cast<const T*>(t), w, w_plane, w_pixel_stride, scale, static_cast<T*>(grad), n,
     partials);
  });
  IMPASTO_CUDA_CHECK_LAUNCH();
  return blocks;
}

int tv_partials(const float* x, std::int64_t planes, int h, int w, int mode, float scale, float* grad,
                double* partials, cudaStream_t s) {
  const int blocks = blocks_for(planes * h * w);
  IMPASTO_LAUNCH(tv_kernel, blocks, kThreads, s)(x, planes, h, w, mode, scale, grad, partials);
  IMPASTO_CUDA_CHECK_LAUNCH();
  return blocks;
}

}  // namespace impasto::kernels
