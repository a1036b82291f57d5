// engine/cpu/activation.cpp — ReLU forward and backward on the CPU, element by element through the shared
// math of kernels/pointwise.cuh (the CUDA kernels call the same functions).
#include "engine/cpu/checks.hpp"
#include "engine/cpu/cpu_backend.hpp"
#include "kernels/pointwise.cuh"

namespace impasto {

void CpuBackend::relu_forward(const Tensor& x, Tensor& y) {
  cpu::check_tensor(x, "relu_forward", "x");
  cpu::check_shape(y, x.shape(), "relu_forward", "y");  // (N,C,H,W), may be x itself
  const float* in = x.data();
  float* out = y.data();
  const std::int64_t n = x.numel();
  for (std::int64_t i = 0; i < n; ++i) out[i] = math::relu(in[i]);
}

void CpuBackend::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  cpu::check_tensor(y, "relu_backward", "y");
  cpu::check_shape(dy, y.shape(), "relu_backward", "dy");  // (N,C,H,W)
  cpu::check_shape(dx, y.shape(), "relu_backward", "dx");  // (N,C,H,W), may be dy itself
  const float* yv = y.data();
  const float* dyv = dy.data();
  float* dxv = dx.data();
  const std::int64_t n = y.numel();
  for (std::int64_t i = 0; i < n; ++i) dxv[i] = math::relu_grad(yv[i], dyv[i]);
}

}  // namespace impasto
