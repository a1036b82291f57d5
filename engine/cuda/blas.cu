// engine/cuda/blas.cu — dense matrix–vector products on cuBLAS (SGEMV), the level-2 BLAS the compact L-BFGS
// uses (Byrd, Nocedal & Schnabel 1994; engine/lbfgs_history.cpp). A is row-major rows×n (leading dimension n);
// cuBLAS is column-major, where the same memory is Aᶜ = Aᵀ, an n×rows matrix with leading dimension n:
//   gemv:   y = A·x            = (Aᶜ)ᵀ·x      → Sgemv(T), Aᶜ n×rows
//   gemv_t: y = α·Aᵀ·x + β·y   = α·Aᶜ·x + β·y → Sgemv(N), Aᶜ n×rows
// Both run with CUBLAS_DEFAULT_MATH (fp32) even when the backend is in TF32 mode: the products feed the
// optimizer's triangular solves, and the handle's mode is restored afterwards.
#include <climits>

#include "engine/cuda/cuda_backend_impl.hpp"

namespace impasto {
namespace {

struct Dims {
  int rows, n;
};
// As engine/cpu/blas.cpp: rows·n elements in a, the output overlaps neither input, sizes fit cuBLAS's int.
Dims check_gemv(const Tensor& a, const Tensor& in, const Tensor& out, std::int64_t rows, std::int64_t n,
                const char* op) {
  cuda_detail::check_tensor(a, op, "a");
  cuda_detail::check_tensor(in, op, "x");
  cuda_detail::check_tensor(out, op, "y");
  IMPASTO_CHECK(a.numel() == rows * n, op << ": a " << a.shape().str() << " holds " << a.numel()
                                          << " elements, expected rows·n = " << rows << "·" << n);
  IMPASTO_CHECK(rows <= INT_MAX && n <= INT_MAX, op << ": " << rows << "×" << n << " exceeds cuBLAS's int range");
  cuda_detail::check_no_alias(out, a, op, "y", "a");
  cuda_detail::check_no_alias(out, in, op, "y", "x");
  return {int(rows), int(n)};
}

// Switches a cuBLAS handle to fp32 math for one scope (no-op when it already is); restores the old mode.
class Fp32Math {
 public:
  explicit Fp32Math(cublasHandle_t handle) : handle_(handle) {
    IMPASTO_CUBLAS_CHECK(cublasGetMathMode(handle_, &saved_));
    if (saved_ != CUBLAS_DEFAULT_MATH) IMPASTO_CUBLAS_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
  }
  ~Fp32Math() {
    if (saved_ != CUBLAS_DEFAULT_MATH) IMPASTO_CUBLAS_LOG(cublasSetMathMode(handle_, saved_));
  }
  Fp32Math(const Fp32Math&) = delete;
  Fp32Math& operator=(const Fp32Math&) = delete;

 private:
  cublasHandle_t handle_;
  cublasMath_t saved_ = CUBLAS_DEFAULT_MATH;
};

}  // namespace

void CudaBackend::gemv(const Tensor& a, const Tensor& x, Tensor& y) {
  const Dims d = check_gemv(a, x, y, y.numel(), x.numel(), "gemv");  // a (rows×n), x (n), y (rows)
  if (d.rows == 0) return;
  if (d.n == 0) {
    fill(y, 0.0f);  // an empty sum; cuBLAS would return without touching y
    return;
  }
  const Fp32Math fp32(cublas_);
  const float one = 1.0f, zero = 0.0f;  // beta = 0: cuBLAS does not read y (BLAS convention)
  IMPASTO_CUBLAS_CHECK(cublasSgemv(cublas_, CUBLAS_OP_T, d.n, d.rows, &one, a.data(), d.n, x.data(), 1, &zero,
                                   y.data(), 1));
}

void CudaBackend::gemv_t(const Tensor& a, const Tensor& x, float alpha, float beta, Tensor& y) {
  const Dims d = check_gemv(a, x, y, x.numel(), y.numel(), "gemv_t");  // a (rows×n), x (rows), y (n)
  if (d.n == 0) return;
  if (d.rows == 0) {  // y = beta·y; cuBLAS returns early for an empty A without applying beta
    if (beta == 0.0f)
      fill(y, 0.0f);
    else
      scale(y, beta);
    return;
  }
  const Fp32Math fp32(cublas_);
  IMPASTO_CUBLAS_CHECK(cublasSgemv(cublas_, CUBLAS_OP_N, d.n, d.rows, &alpha, a.data(), d.n, x.data(), 1, &beta,
                                   y.data(), 1));
}

}  // namespace impasto
