// engine/cuda/gram.cu — Gram matrices and their gradient on cuBLAS (Gatys et al. 2016, eq. 3 and the
// gradient of eq. 4). Features f (1,C,H,W) are F, row-major C×M (M = H·W); cuBLAS is column-major, where
// the same memory is Fᶜ = Fᵀ, an M×C matrix with leading dimension M.
//   gram:          G = F·Fᵀ = (Fᶜ)ᵀ·Fᶜ            → Sgemm(T, N), C×C (symmetric, so layout does not matter)
//   gram_backward: S = dG + dGᵀ (kernel, in the workspace), dF = S·F + β·dF;
//                  column-major dFᶜ = Fᶜ·Sᵀ = Fᶜ·S → Sgemm(N, N), M×C
// NHWC features are F itself column-major (C×M, leading dimension C):
//   gram:          G = F·Fᵀ                        → Sgemm(N, T), C×C
//   gram_backward: dF = S·F                        → Sgemm(N, N), C×M
// Precision follows cublasSetMathMode (TF32 tensor cores under Precision::tf32).
#include <algorithm>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {
namespace {

int ld(std::int64_t n) { return int(std::max<std::int64_t>(1, n)); }  // BLAS rejects leading dimension 0

}  // namespace

void CudaBackend::gram(const Tensor& f, Tensor& g) {
  const int c = checks::gram(f, g, Device::cuda);  // f (1,C,H,W), g (1,1,C,C)
  if (g.numel() == 0) return;
  const std::int64_t m = f.shape().plane();
  IMPASTO_CHECK(m <= std::int64_t(INT32_MAX), "gram: " << m << " positions exceed cuBLAS's int range");
  if (m == 0) {
    fill(g, 0.0f);
    return;
  }
  const float one = 1.0f, zero = 0.0f;
  if (f.layout() == Layout::nhwc)
    IMPASTO_CUBLAS_CHECK(cublasSgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_T, c, c, int(m), &one, f.data(), ld(c),
                                     f.data(), ld(c), &zero, g.data(), ld(c)));
  else
    IMPASTO_CUBLAS_CHECK(cublasSgemm(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, c, c, int(m), &one, f.data(), ld(m),
                                     f.data(), ld(m), &zero, g.data(), ld(c)));
}

void CudaBackend::gram_backward(const Tensor& dg, const Tensor& f, Tensor& df, float beta) {
  const char* op = "gram_backward";
  const int c = checks::gram_backward(dg, f, df, Device::cuda);  // f, df (1,C,H,W), dg (1,1,C,C)
  const std::int64_t m = f.shape().plane();
  if (df.numel() == 0) return;
  IMPASTO_CHECK(m <= std::int64_t(INT32_MAX), op << ": " << m << " positions exceed cuBLAS's int range");
  auto* s = static_cast<float*>(workspace(std::size_t(c) * std::size_t(c) * sizeof(float)));  // S (C×C)
  kernels::symmetrize(dg.data(), s, c, stream_);
  const float one = 1.0f;
  // beta = 0: cuBLAS does not read dF (BLAS convention), so a poisoned dF is overwritten cleanly.
  if (f.layout() == Layout::nhwc)
    IMPASTO_CUBLAS_CHECK(cublasSgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, c, int(m), c, &one, s, ld(c), f.data(),
                                     ld(c), &beta, df.data(), ld(c)));
  else
    IMPASTO_CUBLAS_CHECK(cublasSgemm(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, int(m), c, c, &one, f.data(), ld(m), s,
                                     ld(c), &beta, df.data(), ld(m)));
}

}  // namespace impasto
