// kernels/elementwise.cu — element-wise kernels of the CUDA backend: fill, axpby, scale, mul, mask, clamp,
// ReLU forward/backward, the convolution bias(+ReLU) epilogue, Gram-gradient symmetrization and Adam. fill,
// axpy, the masked product and the ReLU ops also on bf16 activations (kernels/bf16.cuh).
// Per-element math that the CPU backend also runs comes from kernels/pointwise.cuh. No __restrict__: the
// backend allows outputs to alias inputs.
#include <cstdint>

#include "kernels/bf16.cuh"
#include "kernels/check.hpp"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"
#include "kernels/pointwise.cuh"

namespace impasto::kernels {
namespace {

template <typename T>
struct Fill {
  T* y; float v;
  __device__ void operator()(std::int64_t i) const { y[i] = math::Element<T>::narrow(v); }
};
struct Ax {  // y = a·x
  const float* x; float* y; float a;
  __device__ void operator()(std::int64_t i) const { y[i] = a * x[i]; }
};
template <typename T>
struct AxPlusY {  // y += a·x
  const T* x; T* y; float a;
  __device__ void operator()(std::int64_t i) const {
    using E = math::Element<T>;
    y[i] = E::narrow(E::widen(y[i]) + a * E::widen(x[i]));
  }
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
template <typename T>
struct MulMask {  // mask is one (H,W) plane broadcast over every (n,c) plane; pixel p of x at stride pixel_stride
  const T* x; const float* mask; T* y; std::int64_t plane, pixel_stride;
  __device__ void operator()(std::int64_t i) const {
    using E = math::Element<T>;
    y[i] = E::narrow(E::widen(x[i]) * mask[i / pixel_stride % plane]);
  }
};
struct Clamp {  // fminf/fmaxf would turn NaN into a bound; keep NaN visible so all_finite can catch it
  const float* x; float* y; float lo, hi;
  __device__ void operator()(std::int64_t i) const {
    const float v = x[i];
    y[i] = v < lo ? lo : (v > hi ? hi : v);
  }
};
template <typename T>
struct Relu {
  const T* x; T* y;
  __device__ void operator()(std::int64_t i) const {
    y[i] = math::Element<T>::narrow(math::relu(math::Element<T>::widen(x[i])));
  }
};
template <typename T>
struct ReluGrad {
  const T* y; const T* dy; T* dx;
  __device__ void operator()(std::int64_t i) const {
    using E = math::Element<T>;
    dx[i] = E::narrow(math::relu_grad(E::widen(y[i]), E::widen(dy[i])));
  }
};
template <typename T>
struct ReluMask {  // one thread per 32-bit word
  const T* y; unsigned* words; std::int64_t n;
  __device__ void operator()(std::int64_t w) const { words[w] = math::relu_mask_word(y, w, n); }
};
template <typename T>
struct ReluBackwardMask {
  const unsigned* words; const T* dy; T* dx;
  __device__ void operator()(std::int64_t i) const {
    dx[i] = math::mask_set(words, i) ? dy[i] : math::Element<T>::narrow(0.0f);
  }
};
struct BiasAct {  // y (N,C,H,W) += b[c], then ReLU; channel c of y at stride channel_stride
  float* y; const float* b; std::int64_t channel_stride; int channels; bool relu;
  __device__ void operator()(std::int64_t i) const {
    const float v = y[i] + b[(i / channel_stride) % channels];
    y[i] = relu ? math::relu(v) : v;
  }
};
template <typename T>
struct Symmetrize {  // out (C×C) = g + gᵀ
  const float* g; T* out; int c;
  __device__ void operator()(std::int64_t i) const {
    const std::int64_t r = i / c, col = i % c;
    out[i] = math::Element<T>::narrow(g[i] + g[col * c + r]);
  }
};
struct Adam {
  float* x; const float* g; float* m; float* v; float beta1, beta2, eps, step_size, inv_sqrt_bc2;
  __device__ void operator()(std::int64_t i) const {
    math::adam_update(&x[i], g[i], &m[i], &v[i], beta1, beta2, eps, step_size, inv_sqrt_bc2);
  }
};

}  // namespace

void fill(void* y, std::int64_t n, float value, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(n, s, Fill<T>{static_cast<T*>(y), value});
  });
}

void axpy(float a, const void* x, void* y, std::int64_t n, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(n, s, AxPlusY<T>{static_cast<const T*>(x), static_cast<T*>(y), a});
  });
}

void axpby(float a, const float* x, float b, float* y, std::int64_t n, cudaStream_t s) {
  if (b == 0.0f)
    for_each(n, s, Ax{x, y, a});
  else if (b == 1.0f)
    for_each(n, s, AxPlusY<float>{x, y, a});
  else
    for_each(n, s, AxPlusBy{x, y, a, b});
}

void scale(float* y, std::int64_t n, float a, cudaStream_t s) { for_each(n, s, Scale{y, a}); }

void mul(const float* a, const float* b, float* y, std::int64_t n, cudaStream_t s) { for_each(n, s, Mul{a, b, y}); }

void mul_mask(const void* x, const float* mask, void* y, std::int64_t n, std::int64_t plane,
              std::int64_t pixel_stride, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(n, s, MulMask<T>{static_cast<const T*>(x), mask, static_cast<T*>(y), plane, pixel_stride});
  });
}

void clamp(const float* x, float lo, float hi, float* y, std::int64_t n, cudaStream_t s) {
  for_each(n, s, Clamp{x, y, lo, hi});
}

void relu_forward(const void* x, void* y, std::int64_t n, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(n, s, Relu<T>{static_cast<const T*>(x), static_cast<T*>(y)});
  });
}

void relu_backward(const void* y, const void* dy, void* dx, std::int64_t n, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(n, s, ReluGrad<T>{static_cast<const T*>(y), static_cast<const T*>(dy), static_cast<T*>(dx)});
  });
}
void relu_mask(const void* y, unsigned* words, std::int64_t count, std::int64_t n, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(count, s, ReluMask<T>{static_cast<const T*>(y), words, n});
  });
}
void relu_backward_mask(const unsigned* words, const void* dy, void* dx, std::int64_t n, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(n, s, ReluBackwardMask<T>{words, static_cast<const T*>(dy), static_cast<T*>(dx)});
  });
}

void bias_act(float* y, const float* b, std::int64_t n, int channels, std::int64_t channel_stride, bool relu,
              cudaStream_t s) {
  for_each(n, s, BiasAct{y, b, channel_stride, channels, relu});
}

void symmetrize(const float* g, void* out, int c, bool bf16, cudaStream_t s) {
  on_type(bf16, [&](auto t) {
    using T = decltype(t);
    for_each(std::int64_t(c) * c, s, Symmetrize<T>{g, static_cast<T*>(out), c});
  });
}

void adam(float* x, const float* g, float* m, float* v, std::int64_t n, float beta1, float beta2, float eps,
          float step_size, float inv_sqrt_bc2, cudaStream_t s) {
  for_each(n, s, Adam{x, g, m, v, beta1, beta2, eps, step_size, inv_sqrt_bc2});
}

}  // namespace impasto::kernels
