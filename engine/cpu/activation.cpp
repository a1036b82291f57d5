// engine/cpu/activation.cpp — ReLU forward and backward (from the output or its bit mask) on the CPU, element
// by element through the shared math of kernels/pointwise.cuh (the CUDA kernels call the same functions).
#include "engine/cpu/cpu_backend.hpp"
#include "engine/op_checks.hpp"
#include "kernels/pointwise.cuh"

namespace impasto {

void CpuBackend::relu_forward(const Tensor& x, Tensor& y) {
  checks::relu_forward(x, y, Device::cpu);  // x, y (N,C,H,W); y may be x itself
  const float* in = x.data();
  float* out = y.data();
  const std::int64_t n = x.numel();
  for (std::int64_t i = 0; i < n; ++i) out[i] = math::relu(in[i]);
}

void CpuBackend::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  checks::relu_backward(y, dy, dx, Device::cpu);  // y, dy, dx (N,C,H,W); dx may be dy or y
  const float* yv = y.data();
  const float* dyv = dy.data();
  float* dxv = dx.data();
  const std::int64_t n = y.numel();
  for (std::int64_t i = 0; i < n; ++i) dxv[i] = math::relu_grad(yv[i], dyv[i]);
}

void CpuBackend::relu_mask(const Tensor& y, Tensor& bits) {
  checks::relu_mask(y, bits, Device::cpu);  // y (N,C,H,W), bits (1,1,1,⌈n/32⌉)
  auto* words = reinterpret_cast<unsigned*>(bits.data());
  const std::int64_t n = y.numel(), count = bits.numel();
  for (std::int64_t w = 0; w < count; ++w) words[w] = math::relu_mask_word(y.data(), w, n);
}

void CpuBackend::relu_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx) {
  checks::relu_backward_mask(bits, dy, dx, Device::cpu);  // dy, dx (N,C,H,W), bits (1,1,1,⌈n/32⌉)
  const auto* words = reinterpret_cast<const unsigned*>(bits.data());
  const float* dyv = dy.data();
  float* dxv = dx.data();
  const std::int64_t n = dx.numel();
  for (std::int64_t i = 0; i < n; ++i) dxv[i] = math::mask_set(words, i) ? dyv[i] : 0.0f;
}

}  // namespace impasto
