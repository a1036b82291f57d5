// kernels/pool.cu — max-pooling backward (2×2, stride 2, floor mode): one thread per window routes dy to
// the window's first maximum (kernels/pool.cuh, the CPU backend's rule) and zeroes the other three. Windows
// do not overlap, so every covered element of dx is written exactly once; dropped odd rows/columns are the
// caller's (engine/cuda/pool.cu clears them).
#include <cstdint>

#include "engine/cuda/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"
#include "kernels/pool.cuh"

namespace impasto::kernels {
namespace {

struct MaxPoolWindow {
  const float* x; const float* dy; float* dx; int h, w;  // x, dx (planes,h,w); dy (planes,h/2,w/2)
  __device__ void operator()(std::int64_t out) const {
    const int oh = h / 2, ow = w / 2;
    const std::int64_t p = out / (std::int64_t(oh) * ow);
    const int i = int(out / ow % oh), j = int(out % ow);
    const std::int64_t tl = p * std::int64_t(h) * w + std::int64_t(2 * i) * w + 2 * j;
    const std::int64_t off[4] = {0, 1, w, std::int64_t(w) + 1};
    const float v[4] = {x[tl + off[0]], x[tl + off[1]], x[tl + off[2]], x[tl + off[3]]};
    const int best = math::first_max(v);
    const float g = dy[out];
    for (int k = 0; k < 4; ++k) dx[tl + off[k]] = k == best ? g : 0.0f;
  }
};

}  // namespace

void max_pool_backward(const float* x, const float* dy, float* dx, std::int64_t planes, int h, int w, cudaStream_t s) {
  for_each(planes * (h / 2) * (w / 2), s, MaxPoolWindow{x, dy, dx, h, w});
}

}  // namespace impasto::kernels
