// engine/cpu/blas.cpp — dense matrix–vector products on the CPU (OpenBLAS SGEMV), the level-2 BLAS the compact
// L-BFGS uses (Byrd, Nocedal & Schnabel 1994; engine/lbfgs_history.cpp): p = [S; Y]·g over the history rows
// and d = −γg − Sᵀc_s − Yᵀc_y. A is row-major rows×n with leading dimension n; sums run in float as BLAS does.
#include <cblas.h>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/op_checks.hpp"

namespace impasto {

void CpuBackend::gemv(const Tensor& a, const Tensor& x, Tensor& y) {
  // a (rows×n), x (n), y (rows); dims as ints (BLAS's index type)
  const checks::GemvDims d = checks::gemv(a, x, y, y.numel(), x.numel(), Device::cpu, "gemv", "BLAS");
  if (d.rows == 0) return;
  fill(y, 0.0f);  // beta = 0 must not read y: some BLAS scale it (0·NaN = NaN) instead of zeroing it
  if (d.n == 0) return;
  cblas_sgemv(CblasRowMajor, CblasNoTrans, d.rows, d.n, 1.0f, a.data(), d.n, x.data(), 1, 0.0f, y.data(), 1);
}

void CpuBackend::gemv_t(const Tensor& a, const Tensor& x, float alpha, float beta, Tensor& y) {
  // a (rows×n), x (rows), y (n)
  const checks::GemvDims d = checks::gemv(a, x, y, x.numel(), y.numel(), Device::cpu, "gemv_t", "BLAS");
  if (d.n == 0) return;
  if (beta == 0.0f)
    fill(y, 0.0f);  // as in gemv
  else if (d.rows == 0)
    scale(y, beta);  // BLAS returns early for an empty A without applying beta
  if (d.rows == 0) return;
  cblas_sgemv(CblasRowMajor, CblasTrans, d.rows, d.n, alpha, a.data(), d.n, x.data(), 1, beta, y.data(), 1);
}

}  // namespace impasto
