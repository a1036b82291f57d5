// engine/cuda/loss.cu — fused loss terms and the Adam step on the CUDA backend: the weighted squared
// difference (content and temporal losses), total variation (L1 as neural-style-tf, squared as
// neural-style) and Adam (Kingma & Ba 2015, Alg. 1). One kernel each (kernels/loss.cu, elementwise.cu) using
// the per-element math of kernels/pointwise.cuh that the CPU backend runs too; sums in double.
#include <cmath>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

double CudaBackend::sq_diff_loss(const Tensor& x, const Tensor& target, const Tensor* weight, float scale,
                                 Tensor* grad) {
  const char* op = "sq_diff_loss";
  cuda_detail::check_tensor(x, op, "x");  // (N,C,H,W)
  const Shape xs = x.shape();
  cuda_detail::check_shape(target, xs, op, "target");  // (N,C,H,W)
  // The weight either matches x or is one (1,1,H,W) plane broadcast over every channel and sample.
  std::int64_t w_plane = 0;
  if (weight != nullptr) {
    cuda_detail::check_tensor(*weight, op, "weight");
    const Shape plane{1, 1, xs.h, xs.w};
    IMPASTO_CHECK(weight->shape() == xs || weight->shape() == plane,
                  op << ": weight has shape " << weight->shape().str() << ", expected " << xs.str() << " or "
                     << plane.str());
    w_plane = weight->shape() == xs ? 0 : xs.plane();
  }
  if (grad != nullptr) cuda_detail::check_shape(*grad, xs, op, "grad");  // (N,C,H,W)
  const int blocks = kernels::sq_diff_partials(x.data(), target.data(), weight ? weight->data() : nullptr, w_plane,
                                               scale, grad ? grad->data() : nullptr, xs.numel(), partials(), stream_);
  return finish_reduction(blocks, false);
}

double CudaBackend::tv_loss(const Tensor& x, TvMode mode, float scale, Tensor* grad) {
  const char* op = "tv_loss";
  cuda_detail::check_tensor(x, op, "x");  // (N,C,H,W)
  const Shape xs = x.shape();
  if (grad != nullptr) {
    cuda_detail::check_shape(*grad, xs, op, "grad");  // (N,C,H,W)
    cuda_detail::check_no_alias(*grad, x, op, "grad", "x");  // the stencil reads neighbours of what it writes
  }
  const int blocks = kernels::tv_partials(x.data(), std::int64_t(xs.n) * xs.c, xs.h, xs.w, mode == TvMode::squared,
                                          scale, grad ? grad->data() : nullptr, partials(), stream_);
  return double(scale) * finish_reduction(blocks, false);
}

void CudaBackend::adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2,
                            float eps, int t) {
  const char* op = "adam_step";
  cuda_detail::check_same_numel(x, g, op, "x", "g");
  cuda_detail::check_same_numel(x, m, op, "x", "m");
  cuda_detail::check_same_numel(x, v, op, "x", "v");
  IMPASTO_CHECK(t >= 1, op << ": step t = " << t << " must be >= 1");
  IMPASTO_CHECK(beta1 >= 0.0f && beta1 < 1.0f && beta2 >= 0.0f && beta2 < 1.0f,
                op << ": betas (" << beta1 << ", " << beta2 << ") must lie in [0, 1)");
  // Bias corrections once per step on the host, in double, exactly as the CPU backend computes them.
  const auto step_size = float(double(lr) / (1.0 - std::pow(double(beta1), t)));
  const auto inv_sqrt_bc2 = float(1.0 / std::sqrt(1.0 - std::pow(double(beta2), t)));
  kernels::adam(x.data(), g.data(), m.data(), v.data(), x.numel(), beta1, beta2, eps, step_size, inv_sqrt_bc2,
                stream_);
}

}  // namespace impasto
