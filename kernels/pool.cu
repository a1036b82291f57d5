// kernels/pool.cu — pooling backward (2×2, stride 2, floor mode; NCHW or NHWC), average and max: one thread per
// window spreads dy over the window (average: a quarter each; max: all to the first maximum, the CPU backend's
// rule) through kernels/pool.cuh's window_grad, with the ReLU backward of the layer below fused in on request.
// Windows do not overlap, so every covered element of dx is written exactly once; dropped odd rows/columns
// are the caller's (engine/cuda/pool.cu clears them).
#include <cstdint>

#include "engine/cuda/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"
#include "kernels/pool.cuh"

namespace impasto::kernels {
namespace {

struct PoolWindow {
  const float* x; const float* dy; float* dx; int c, h, w; bool nhwc, average, relu_mask;  // x, dx (n,c,h,w); dy (n,c,h/2,w/2)
  __device__ void operator()(std::int64_t out) const {  // out: dy's element (b,ch,i,j) in dy's layout
    const int oh = h / 2, ow = w / 2;
    std::int64_t b;
    int ch, i, j;
    if (nhwc) {
      ch = int(out % c);
      j = int(out / c % ow);
      i = int(out / (std::int64_t(c) * ow) % oh);
      b = out / (std::int64_t(c) * ow * oh);
    } else {
      j = int(out % ow);
      i = int(out / ow % oh);
      const std::int64_t p = out / (std::int64_t(oh) * ow);  // plane b·C + ch
      ch = int(p % c);
      b = p / c;
    }
    // The window's top-left element and the offsets of its four elements in x's layout.
    const std::int64_t px = nhwc ? c : 1, row = px * w;  // element strides of a pixel and of a row
    const std::int64_t tl = nhwc ? ((b * h + 2 * i) * std::int64_t(w) + 2 * j) * c + ch
                                 : ((b * c + ch) * std::int64_t(h) + 2 * i) * w + 2 * j;
    const std::int64_t off[4] = {0, px, row, row + px};
    const float v[4] = {x[tl + off[0]], x[tl + off[1]], x[tl + off[2]], x[tl + off[3]]};
    float d[4];
    math::window_grad(v, dy[out], average, relu_mask, d);
    for (int k = 0; k < 4; ++k) dx[tl + off[k]] = d[k];
  }
};

}  // namespace

void pool_backward(const float* x, const float* dy, float* dx, int n, int c, int h, int w, bool nhwc, bool average,
                   bool relu_mask, cudaStream_t s) {
  for_each(std::int64_t(n) * c * (h / 2) * (w / 2), s, PoolWindow{x, dy, dx, c, h, w, nhwc, average, relu_mask});
}

}  // namespace impasto::kernels
