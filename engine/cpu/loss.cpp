// engine/cpu/loss.cpp — fused loss terms and the Adam step on the CPU: the weighted squared difference
// (content and temporal losses), total variation (Mahendran & Vedaldi 2015; L1 as neural-style-tf, squared
// as neural-style), and Adam (Kingma & Ba 2015, Alg. 1). The per-element math is kernels/pointwise.cuh,
// shared with the CUDA kernels; sums are accumulated in double.
#include <cmath>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/cpu/dims.hpp"
#include "engine/op_checks.hpp"
#include "kernels/pointwise.cuh"

namespace impasto {

double CpuBackend::sq_diff_loss(const Tensor& x, const Tensor& target, const Tensor* weight, float scale,
                                Tensor* grad) {
  // x, target, grad (N,C,H,W); weight (N,C,H,W) or one (1,1,H,W) plane broadcast over channels and samples.
  const std::int64_t w_plane = checks::sq_diff_loss(x, target, weight, grad, Device::cpu);
  // weight index = element index mod period
  const std::int64_t weight_period = w_plane != 0 ? w_plane : x.numel();
  const float* xv = x.data();
  const float* tv = target.data();
  const float* wv = weight != nullptr ? weight->data() : nullptr;
  float* gv = grad != nullptr ? grad->data() : nullptr;
  const std::int64_t n = x.numel();
  double loss = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const float w = wv != nullptr ? wv[i % weight_period] : 1.0f;
    float g;
    loss += math::sq_diff_term(xv[i], tv[i], w, scale, &g);
    if (gv != nullptr) gv[i] += g;
  }
  return deliver(loss);
}

double CpuBackend::tv_loss(const Tensor& x, TvMode mode, float scale, Tensor* grad) {
  const Shape xs = checks::tv_loss(x, grad, Device::cpu);  // x, grad (N,C,H,W)
  const int m = int(mode);  // kernels/pointwise.cuh's TV mode
  const std::int64_t planes = cpu::plane_count(xs);
  double tv = 0.0;
  for (std::int64_t p = 0; p < planes; ++p) {
    const float* xp = x.data() + p * xs.plane();
    float* gp = grad != nullptr ? grad->data() + p * xs.plane() : nullptr;
    for (int i = 0; i < xs.h; ++i) {
      for (int j = 0; j < xs.w; ++j) {
        tv += math::tv_loss_at(xp, xs.h, xs.w, i, j, m);
        if (gp != nullptr) gp[std::int64_t(i) * xs.w + j] += scale * math::tv_grad_at(xp, xs.h, xs.w, i, j, m);
      }
    }
  }
  return deliver(double(scale) * tv);
}

void CpuBackend::adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2,
                           float eps, int t) {
  checks::adam_step(x, g, m, v, beta1, beta2, t, Device::cpu);
  // Bias corrections once per step on the host, in double (Kingma & Ba 2015, Alg. 1, PyTorch's arrangement).
  const auto step_size = float(double(lr) / (1.0 - std::pow(double(beta1), t)));
  const auto inv_sqrt_bc2 = float(1.0 / std::sqrt(1.0 - std::pow(double(beta2), t)));
  float* xv = x.data();
  const float* gv = g.data();
  float* mv = m.data();
  float* vv = v.data();
  const std::int64_t n = x.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    math::adam_update(&xv[i], gv[i], &mv[i], &vv[i], beta1, beta2, eps, step_size, inv_sqrt_bc2);
  }
}

}  // namespace impasto
