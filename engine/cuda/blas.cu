// engine/cuda/blas.cu — the dense products over the L-BFGS history that the compact L-BFGS uses (Byrd, Nocedal &
// Schnabel 1994; engine/lbfgs_history.cpp). Matrices are row-major with leading dimension n.
//   gemm_nt: C = A·Bᵀ (ra×rb). A long reduction (n = the image's 3·H·W values) and a small output (ra ≤ 3
//            right-hand rows by rb ≤ 2m history rows): one pass over the history for all right-hand rows.
//            For ra ≤ 4, kernels/blas.cu's split two-stage kernel (cuBLAS splits this long reduction too
//            little, perf/RESULTS.md); otherwise cuBLAS, column-major, where the same memory is the
//            transpose (Aᶜ = Aᵀ, n×rows, ld n): Cᶜ (rb×ra) = (Bᶜ)ᵀ·Aᶜ → Sgemm(T, N).
//   gemv_t:  y = α·Aᵀ·x + β·y = α·Aᶜ·x + β·y → cuBLAS Sgemv(N), Aᶜ n×rows.
// Both are fp32 at every precision (the products feed the optimizer's triangular solves): the handle stays in
// CUBLAS_DEFAULT_MATH (set_precision never changes it; the Gram matrices name their compute type per call). The
// 64-bit API (cuBLAS ≥ 12): the L-BFGS history at 4K is 200 × 24.9M ≈ 5e9 elements, past what 32-bit indexing
// promises.
#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"

namespace impasto {

void CudaBackend::gemm_nt(const Tensor& a, const Tensor& b, Tensor& c) {
  // a (ra×n), b (rb×n), c (ra×rb); dims as ints
  const checks::GemmDims d = checks::gemm_nt(a, b, c, Device::cuda, "cuBLAS");
  if (d.ra == 0 || d.rb == 0) return;
  if (d.n == 0) {
    fill(c, 0.0f);  // an empty sum; cuBLAS would scale c by beta instead
    return;
  }
  if (d.ra <= kernels::kSkinnyMaxRows) {  // what L-BFGS asks (ra ≤ 3): one split pass over b
    auto* partials = static_cast<float*>(
        workspace(std::size_t(kernels::gemm_nt_skinny_partials(d.ra, d.rb, d.n)) * sizeof(float)));
    kernels::gemm_nt_skinny(a.data(), b.data(), c.data(), d.ra, d.rb, d.n, partials, stream_);
    return;
  }
  const float one = 1.0f, zero = 0.0f;  // beta = 0: cuBLAS does not read C (BLAS convention)
  IMPASTO_CUBLAS_CHECK(cublasSgemm_v2_64(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, d.rb, d.ra, d.n, &one, b.data(), d.n,
                                         a.data(), d.n, &zero, c.data(), d.rb));
}

void CudaBackend::gemv_t(const Tensor& a, const Tensor& x, float alpha, float beta, Tensor& y) {
  // a (rows×n), x (rows), y (n)
  const checks::GemvDims d = checks::gemv_t(a, x, y, Device::cuda, "cuBLAS");
  if (d.n == 0) return;
  if (d.rows == 0) {  // y = beta·y; cuBLAS returns early for an empty A without applying beta
    if (beta == 0.0f)
      fill(y, 0.0f);
    else
      scale(y, beta);
    return;
  }
  IMPASTO_CUBLAS_CHECK(cublasSgemv_v2_64(cublas_, CUBLAS_OP_N, d.n, d.rows, &alpha, a.data(), d.n, x.data(), 1,
                                         &beta, y.data(), 1));
}

}  // namespace impasto
