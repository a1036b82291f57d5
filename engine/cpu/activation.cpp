// engine/cpu/activation.cpp — ReLU forward and backward on the CPU, element by element through the shared
// math of kernels/pointwise.cuh (the CUDA kernels call the same functions).
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

}  // namespace impasto
