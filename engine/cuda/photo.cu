// engine/cuda/photo.cu — the CUDA backend's photorealism ops (Luan et al. 2017, "Deep photo style transfer"):
// the matting Laplacian of the content image (Levin, Lischinski & Weiss 2008, eq. 12, 3×3 windows), never
// stored, applied from per-window means and covariances (He, Sun & Tang 2010). The kernels of
// kernels/matting.cu run the per-window and per-pixel math of kernels/matting.cuh that the CPU backend runs
// too; the loss is reduced in double and, like tv_loss, may be deferred to the evaluation's one read-back.
#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

void CudaBackend::matting_prepare(const Tensor& guide, float eps, Tensor& stats) {
  const Shape s = checks::matting_prepare(guide, eps, stats, Device::cuda);  // guide (1,3,H,W), stats (1,15,H,W)
  kernels::matting_prepare(guide.data(), eps, stats.data(), s.h, s.w, stream_);
}

double CudaBackend::matting_loss(const Tensor& v, const Tensor& guide, const Tensor& stats, float scale, Tensor& coef,
                                 Tensor* grad) {
  // v, grad (1,C,H,W); guide (1,3,H,W); stats (1,15,H,W); coef (1,4C,H,W)
  const Shape s = checks::matting_loss(v, guide, stats, coef, grad, Device::cuda);
  const int blocks = kernels::matting_partials(v.data(), guide.data(), stats.data(), coef.data(), s.c, s.h, s.w, scale,
                                               grad ? grad->data() : nullptr, partials(), stream_);
  return finish_reduction(blocks, false, /*deferrable=*/true, double(scale));
}

}  // namespace impasto
