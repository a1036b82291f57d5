// kernels/elementwise.cu — element-wise kernels of the CUDA backend: fill, axpby, scale, mul, mask, clamp,
// ReLU forward/backward, the convolution bias(+ReLU) epilogue, Gram-gradient symmetrization and Adam.
// Per-element math that the CPU backend also runs comes from kernels/pointwise.cuh. No __restrict__: the
// backend allows outputs to alias inputs.
#include <cstdint>

#include "kernels/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"
#include "kernels/pointwise.cuh"

namespace impasto::kernels {
namespace {

struct Fill {
  float* y; float v;
  __device__ void operator()(std::int64_t i) const { y[i] = v; }
};
struct Ax {  // y = a·x
  const float* x; float* y; float a;
  __device__ void operator()(std::int64_t i) const { y[i] = a * x[i]; }
};
struct AxPlusY {  // y += a·x
  const float* x; float* y; float a;
  __device__ void operator()(std::int64_t i) const { y[i] += a * x[i]; }
};
struct AxPlusBy {  // y = a·x + b·y
  const float* x; float* y; float a, b;
  __device__ void operator()(std::int64_t i) const { y[i] = a * x[i] + b * y[i]; }
};
struct Scale {
  float* y; float a;
  __device__ void operator()(std::int64_t i) const { y[i] *= a; }
};
struct Mul {
  const float* a; const float* b; float* y;
  __device__ void operator()(std::int64_t i) const { y[i] = a[i] * b[i]; }
};
struct MulMask {  // mask is one (H,W) plane broadcast over every (n,c) plane; pixel p of x at stride pixel_stride
  const float* x; const float* mask; float* y; std::int64_t plane, pixel_stride;
  __device__ void operator()(std::int64_t i) const { y[i] = x[i] * mask[i / pixel_stride % plane]; }
};
struct Clamp {  // fminf/fmaxf would turn NaN into a bound; keep NaN visible so all_finite can catch it
  const float* x; float* y; float lo, hi;
  __device__ void operator()(std::int64_t i) const {
    const float v = x[i];
    y[i] = v < lo ? lo : (v > hi ? hi : v);
  }
};
struct Relu {
  const float* x; float* y;
  __device__ void operator()(std::int64_t i) const { y[i] = math::relu(x[i]); }
};
struct ReluGrad {
  const float* y; const float* dy; float* dx;
  __device__ void operator()(std::int64_t i) const { dx[i] = math::relu_grad(y[i], dy[i]); }
};
struct ReluMask {  // one thread per 32-bit word
  const float* y; unsigned* words; std::int64_t n;
  __device__ void operator()(std::int64_t w) const { words[w] = math::relu_mask_word(y, w, n); }
};
struct ReluBackwardMask {
  const unsigned* words; const float* dy; float* dx;
  __device__ void operator()(std::int64_t i) const { dx[i] = math::mask_set(words, i) ? dy[i] : 0.0f; }
};
struct BiasAct {  // y (N,C,H,W) += b[c], then ReLU; channel c of y at stride channel_stride
  float* y; const float* b; std::int64_t channel_stride; int channels; bool relu;
  __device__ void operator()(std::int64_t i) const {
    const float v = y[i] + b[(i / channel_stride) % channels];
    y[i] = relu ? math::relu(v) : v;
  }
};
struct Symmetrize {  // out (C×C) = g + gᵀ
  const float* g; float* out; int c;
  __device__ void operator()(std::int64_t i) const {
    const std::int64_t r = i / c, col = i % c;
    out[i] = g[i] + g[col * c + r];
  }
};
struct Adam {
  float* x; const float* g; float* m; float* v; float beta1, beta2, eps, step_size, inv_sqrt_bc2;
  __device__ void operator()(std::int64_t i) const {
    math::adam_update(&x[i], g[i], &m[i], &v[i], beta1, beta2, eps, step_size, inv_sqrt_bc2);
  }
};

}  // namespace

void fill(float* y, std::int64_t n, float value, cudaStream_t s) { for_each(n, s, Fill{y, value}); }

void axpby(float a, const float* x, float b, float* y, std::int64_t n, cudaStream_t s) {
  if (b == 0.0f)
    for_each(n, s, Ax{x, y, a});
  else if (b == 1.0f)
    for_each(n, s, AxPlusY{x, y, a});
  else
    for_each(n, s, AxPlusBy{x, y, a, b});
}

void scale(float* y, std::int64_t n, float a, cudaStream_t s) { for_each(n, s, Scale{y, a}); }

void mul(const float* a, const float* b, float* y, std::int64_t n, cudaStream_t s) { for_each(n, s, Mul{a, b, y}); }

void mul_mask(const float* x, const float* mask, float* y, std::int64_t n, std::int64_t plane,
              std::int64_t pixel_stride, cudaStream_t s) {
  for_each(n, s, MulMask{x, mask, y, plane, pixel_stride});
}

void clamp(const float* x, float lo, float hi, float* y, std::int64_t n, cudaStream_t s) {
  for_each(n, s, Clamp{x, y, lo, hi});
}

void relu_forward(const float* x, float* y, std::int64_t n, cudaStream_t s) { for_each(n, s, Relu{x, y}); }

void relu_backward(const float* y, const float* dy, float* dx, std::int64_t n, cudaStream_t s) {
  for_each(n, s, ReluGrad{y, dy, dx});
}
void relu_mask(const float* y, unsigned* words, std::int64_t count, std::int64_t n, cudaStream_t s) {
  for_each(count, s, ReluMask{y, words, n});
}
void relu_backward_mask(const unsigned* words, const float* dy, float* dx, std::int64_t n, cudaStream_t s) {
  for_each(n, s, ReluBackwardMask{words, dy, dx});
}

void bias_act(float* y, const float* b, std::int64_t n, int channels, std::int64_t channel_stride, bool relu,
              cudaStream_t s) {
  for_each(n, s, BiasAct{y, b, channel_stride, channels, relu});
}

void symmetrize(const float* g, float* out, int c, cudaStream_t s) {
  for_each(std::int64_t(c) * c, s, Symmetrize{g, out, c});
}

void adam(float* x, const float* g, float* m, float* v, std::int64_t n, float beta1, float beta2, float eps,
          float step_size, float inv_sqrt_bc2, cudaStream_t s) {
  for_each(n, s, Adam{x, g, m, v, beta1, beta2, eps, step_size, inv_sqrt_bc2});
}

}  // namespace impasto::kernels
