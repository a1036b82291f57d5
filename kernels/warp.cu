// kernels/warp.cu — the video kernels (Ruder et al. 2016): bilinear warping along an optical flow, the
// forward-backward consistency test with motion boundaries, and the two passes of the separable Gaussian
// blur of the reliability map. One thread per output element (grid-stride), each calling the shared math of
// kernels/warp.cuh, the same functions the CPU backend loops over (engine/cpu/video.cpp).
#include <cstdint>

#include "kernels/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"
#include "kernels/warp.cuh"

namespace impasto::kernels {
namespace {

struct WarpElement {
  const float* x; const float* flow; const float* fill; float* y; int h, w;
  __device__ void operator()(std::int64_t e) const {  // e over C·H·W
    const std::int64_t m = std::int64_t(h) * w;
    const int c = int(e / m), k = int(e % m);
    y[e] = math::warp_at(x + c * m, flow, h, w, k / w, k % w, fill[c]);
  }
};

struct ConsistencyPixel {
  const float* fwd; const float* bwd; float* c; int h, w;
  __device__ void operator()(std::int64_t k) const {
    c[k] = math::consistency_at(fwd, bwd, h, w, int(k / w), int(k % w));
  }
};

struct BlurPass {
  const float* in; float* out; int h, w; bool vertical; math::BlurTaps taps;
  __device__ void operator()(std::int64_t e) const {  // e over planes·H·W
    const std::int64_t m = std::int64_t(h) * w;
    const std::int64_t p = e / m;
    const int k = int(e % m), i = k / w, j = k % w;
    const float* plane = in + p * m;
    out[e] = vertical ? math::blur_y_at(plane, h, w, i, j, taps) : math::blur_x_at(plane, w, i, j, taps);
  }
};

}  // namespace

void warp(const float* x, const float* flow, const float* fill, float* y, int channels, int h, int w,
          cudaStream_t s) {
  for_each(std::int64_t(channels) * h * w, s, WarpElement{x, flow, fill, y, h, w});
}

void consistency(const float* fwd, const float* bwd, float* c, int h, int w, cudaStream_t s) {
  for_each(std::int64_t(h) * w, s, ConsistencyPixel{fwd, bwd, c, h, w});
}

void gaussian_blur(const float* x, float* tmp, float* y, std::int64_t planes, int h, int w, float sigma,
                   cudaStream_t s) {
  const math::BlurTaps taps = math::make_blur_taps(sigma);
  const std::int64_t n = planes * h * w;
  for_each(n, s, BlurPass{x, tmp, h, w, false, taps});
  for_each(n, s, BlurPass{tmp, y, h, w, true, taps});
}

}  // namespace impasto::kernels
