// engine/cuda/loss.cu — fused loss terms and the Adam step on the CUDA backend: the weighted squared
// difference (content and temporal losses), total variation (L1 as neural-style-tf, squared as
// neural-style) and Adam (Kingma & Ba 2015, Alg. 1). One kernel each (kernels/loss.cu, elementwise.cu) using
// the per-element math of kernels/pointwise.cuh that the CPU backend runs too; sums in double.
#include <cmath>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

double CudaBackend::sq_diff_loss(const Tensor& x, const Tensor& target, const Tensor* weight, float scale,
                                 Tensor* grad) {
  // x, target, grad (N,C,H,W); weight (N,C,H,W) or one (1,1,H,W) plane broadcast over channels and samples.
  const std::int64_t w_plane = checks::sq_diff_loss(x, target, weight, grad, Device::cuda);
  const int blocks =
      kernels::sq_diff_partials(x.raw(), target.raw(), weight ? weight->data() : nullptr, w_plane, x.pixel_stride(),
                                scale, grad ? grad->raw() : nullptr, x.numel(), x.dtype() == DType::bf16, partials(),
                                stream_);
  return finish_reduction(blocks, false, /*deferrable=*/true);
}

double CudaBackend::tv_loss(const Tensor& x, TvMode mode, float scale, Tensor* grad) {
  const Shape xs = checks::tv_loss(x, grad, Device::cuda);  // x, grad (N,C,H,W)
  const int blocks = kernels::tv_partials(x.data(), std::int64_t(xs.n) * xs.c, xs.h, xs.w, int(mode), scale,
                                          grad ? grad->data() : nullptr, partials(), stream_);
  return finish_reduction(blocks, false, /*deferrable=*/true, double(scale));
}

void CudaBackend::adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2,
                            float eps, int t) {
  checks::adam_step(x, g, m, v, beta1, beta2, t, Device::cuda);
  // Bias corrections once per step on the host, in double, exactly as the CPU backend computes them.
  const auto step_size = float(double(lr) / (1.0 - std::pow(double(beta1), t)));
  const auto inv_sqrt_bc2 = float(1.0 / std::sqrt(1.0 - std::pow(double(beta2), t)));
  kernels::adam(x.data(), g.data(), m.data(), v.data(), x.numel(), beta1, beta2, eps, step_size, inv_sqrt_bc2,
                stream_);
}

}  // namespace impasto
