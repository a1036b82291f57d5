// engine/cpu/blas.cpp — dense matrix–vector products on the CPU (OpenBLAS SGEMV), the level-2 BLAS the compact
// L-BFGS uses (Byrd, Nocedal & Schnabel 1994; engine/lbfgs_history.cpp): p = [S; Y]·g over the history rows
// and d = −γg − Sᵀc_s − Yᵀc_y. A is row-major rows×n with leading dimension n; sums run in float as BLAS does.
#include <cblas.h>

#include <climits>

#include "engine/cpu/checks.hpp"
#include "engine/cpu/cpu_backend.hpp"

namespace impasto {
namespace {

// Checks a gemv/gemv_t call where A (rows×n) maps `in` to `out`: rows·n elements in a, no aliasing of the output.
// Returns {rows, n} as ints (BLAS's index type).
struct Dims {
  int rows, n;
};
Dims check_gemv(const Tensor& a, const Tensor& in, const Tensor& out, std::int64_t rows, std::int64_t n,
                const char* op) {
  cpu::check_tensor(a, op, "a");
  cpu::check_tensor(in, op, "x");
  cpu::check_tensor(out, op, "y");
  IMPASTO_CHECK(a.numel() == rows * n, op << ": a " << a.shape().str() << " holds " << a.numel()
                                          << " elements, expected rows·n = " << rows << "·" << n);
  IMPASTO_CHECK(rows <= INT_MAX && n <= INT_MAX, op << ": " << rows << "×" << n << " exceeds BLAS's int range");
  cpu::check_no_alias(out, a, op, "y", "a");
  cpu::check_no_alias(out, in, op, "y", "x");
  return {int(rows), int(n)};
}

}  // namespace

void CpuBackend::gemv(const Tensor& a, const Tensor& x, Tensor& y) {
  const Dims d = check_gemv(a, x, y, y.numel(), x.numel(), "gemv");  // a (rows×n), x (n), y (rows)
  if (d.rows == 0) return;
  fill(y, 0.0f);  // beta = 0 must not read y: some BLAS scale it (0·NaN = NaN) instead of zeroing it
  if (d.n == 0) return;
  cblas_sgemv(CblasRowMajor, CblasNoTrans, d.rows, d.n, 1.0f, a.data(), d.n, x.data(), 1, 0.0f, y.data(), 1);
}

void CpuBackend::gemv_t(const Tensor& a, const Tensor& x, float alpha, float beta, Tensor& y) {
  const Dims d = check_gemv(a, x, y, x.numel(), y.numel(), "gemv_t");  // a (rows×n), x (rows), y (n)
  if (d.n == 0) return;
  if (beta == 0.0f)
    fill(y, 0.0f);  // as in gemv
  else if (d.rows == 0)
    scale(y, beta);  // BLAS returns early for an empty A without applying beta
  if (d.rows == 0) return;
  cblas_sgemv(CblasRowMajor, CblasTrans, d.rows, d.n, alpha, a.data(), d.n, x.data(), 1, beta, y.data(), 1);
}

}  // namespace impasto
