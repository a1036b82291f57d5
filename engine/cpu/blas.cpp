// engine/cpu/blas.cpp — the dense products over the L-BFGS history on the CPU (OpenBLAS SGEMV) that the
// compact L-BFGS uses (Byrd, Nocedal & Schnabel 1994; engine/lbfgs_history.cpp): the pairs' and the gradient's
// products with every history row in one pass, and d = −γg − [S Y]·c in one GEMV. Matrices are row-major with
// leading dimension n; sums run in float as BLAS does.
#include <cblas.h>

#include <algorithm>
#include <cstdint>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/op_checks.hpp"

namespace impasto {

void CpuBackend::gemm_nt(const Tensor& a, const Tensor& b, Tensor& c) {
  // a (ra×n), b (rb×n), c (ra×rb) = a·bᵀ; dims as ints (BLAS's index type)
  const checks::GemmDims d = checks::gemm_nt(a, b, c, Device::cpu, "BLAS");
  if (d.ra == 0 || d.rb == 0) return;
  fill(c, 0.0f);  // the SGEMVs below accumulate (beta = 1) into zeros, never into what c held
  // The product is thin (ra <= 3 rows against rb history rows, over n ~ 1e5–1e7 columns) and bound by reading
  // b: OpenBLAS's SGEMM packs both operands for it, which costs more than the product itself (perf/RESULTS.md).
  // SGEMVs over column blocks instead: each block of b (rb × kBlock floats, <= 800 KB at rb = 200) is read once from memory and ra
  // times from cache.
  constexpr int kBlock = 1024;
  for (int j0 = 0; j0 < d.n; j0 += kBlock) {
    const int cols = std::min(kBlock, d.n - j0);
    for (int i = 0; i < d.ra; ++i)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, d.rb, cols, 1.0f, b.data() + j0, d.n,
                  a.data() + std::int64_t(i) * d.n + j0, 1, 1.0f, c.data() + std::int64_t(i) * d.rb, 1);
  }
}

void CpuBackend::gemv_t(const Tensor& a, const Tensor& x, float alpha, float beta, Tensor& y) {
  // a (rows×n), x (rows), y (n)
  const checks::GemvDims d = checks::gemv_t(a, x, y, Device::cpu, "BLAS");
  if (d.n == 0) return;
  if (beta == 0.0f)
    fill(y, 0.0f);  // beta = 0 must not read y: some BLAS scale it (0·NaN = NaN) instead of zeroing it
  else if (d.rows == 0)
    scale(y, beta);  // BLAS returns early for an empty A without applying beta
  if (d.rows == 0) return;
  cblas_sgemv(CblasRowMajor, CblasTrans, d.rows, d.n, alpha, a.data(), d.n, x.data(), 1, beta, y.data(), 1);
}

}  // namespace impasto
