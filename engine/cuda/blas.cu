// engine/cuda/blas.cu — dense matrix–vector products on cuBLAS (SGEMV), the level-2 BLAS the compact L-BFGS
// uses (Byrd, Nocedal & Schnabel 1994; engine/lbfgs_history.cpp). A is row-major rows×n (leading dimension n);
// cuBLAS is column-major, where the same memory is Aᶜ = Aᵀ, an n×rows matrix with leading dimension n:
//   gemv:   y = A·x            = (Aᶜ)ᵀ·x      → Sgemv(T), Aᶜ n×rows
//   gemv_t: y = α·Aᵀ·x + β·y   = α·Aᶜ·x + β·y → Sgemv(N), Aᶜ n×rows
// Both run with CUBLAS_DEFAULT_MATH (fp32) even when the backend is in TF32 mode: the products feed the
// optimizer's triangular solves, and the handle's mode is restored afterwards. The 64-bit API (cuBLAS ≥ 12):
// the L-BFGS history at 4K is 100 × 24.9M ≈ 2.5e9 elements, past what 32-bit indexing promises.
#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"

namespace impasto {
namespace {

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
  // a (rows×n), x (n), y (rows); dims as ints (cuBLAS's index type)
  const checks::GemvDims d = checks::gemv(a, x, y, y.numel(), x.numel(), Device::cuda, "gemv", "cuBLAS");
  if (d.rows == 0) return;
  if (d.n == 0) {
    fill(y, 0.0f);  // an empty sum; cuBLAS would return without touching y
    return;
  }
  const Fp32Math fp32(cublas_);
  const float one = 1.0f, zero = 0.0f;  // beta = 0: cuBLAS does not read y (BLAS convention)
  IMPASTO_CUBLAS_CHECK(cublasSgemv_v2_64(cublas_, CUBLAS_OP_T, d.n, d.rows, &one, a.data(), d.n, x.data(), 1, &zero,
                                         y.data(), 1));
}

void CudaBackend::gemv_t(const Tensor& a, const Tensor& x, float alpha, float beta, Tensor& y) {
  // a (rows×n), x (rows), y (n)
  const checks::GemvDims d = checks::gemv(a, x, y, x.numel(), y.numel(), Device::cuda, "gemv_t", "cuBLAS");
  if (d.n == 0) return;
  if (d.rows == 0) {  // y = beta·y; cuBLAS returns early for an empty A without applying beta
    if (beta == 0.0f)
      fill(y, 0.0f);
    else
      scale(y, beta);
    return;
  }
  const Fp32Math fp32(cublas_);
  IMPASTO_CUBLAS_CHECK(cublasSgemv_v2_64(cublas_, CUBLAS_OP_N, d.n, d.rows, &alpha, a.data(), d.n, x.data(), 1,
                                         &beta, y.data(), 1));
}

}  // namespace impasto
