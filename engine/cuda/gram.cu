// engine/cuda/gram.cu — Gram matrices and their gradient on cuBLAS (Gatys et al. 2016, eq. 3 and the
// gradient of eq. 4). Features f (1,C,H,W) are F, row-major C×M (M = H·W); cuBLAS is column-major, where
// the same memory is Fᶜ = Fᵀ, an M×C matrix with leading dimension M.
//   gram:          G = F·Fᵀ = (Fᶜ)ᵀ·Fᶜ            → GEMM(T, N), C×C (symmetric, so layout does not matter)
//   gram_backward: S = dG + dGᵀ (kernel, in the workspace), dF = S·F + β·dF;
//                  column-major dFᶜ = Fᶜ·Sᵀ = Fᶜ·S → GEMM(N, N), M×C
// NHWC features are F itself column-major (C×M, leading dimension C):
//   gram:          G = F·Fᵀ                        → GEMM(N, T), C×C
//   gram_backward: dF = S·F                        → GEMM(N, N), C×M
// Both run as cublasGemmEx on fp32 tensors with fp32 accumulation and output; the compute type follows the
// precision: fp32 FMA (CUBLAS_COMPUTE_32F under the handle's default math), TF32 tensor cores
// (CUBLAS_COMPUTE_32F_FAST_TF32), or bf16 tensor cores (CUBLAS_COMPUTE_32F_FAST_16BF: cuBLAS rounds the
// operands to bf16, 8-bit significands, and accumulates in fp32) — the Grams of the 512-channel layers are
// compute-bound, where bf16's tensor cores run at twice TF32's rate.
#include <algorithm>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {
namespace {

int ld(std::int64_t n) { return int(std::max<std::int64_t>(1, n)); }  // BLAS rejects leading dimension 0

cublasComputeType_t gram_compute_type(Precision p) {
  switch (p) {
    case Precision::tf32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case Precision::bf16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    default: return CUBLAS_COMPUTE_32F;
  }
}

// C = alpha·op(A)·op(B) + beta·C on fp32 column-major matrices at the precision's compute type.
void gemm_f32(cublasHandle_t handle, Precision p, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
              const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta, float* c,
              int ldc) {
  IMPASTO_CUBLAS_CHECK(cublasGemmEx(handle, ta, tb, m, n, k, alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, beta, c,
                                    CUDA_R_32F, ldc, gram_compute_type(p), CUBLAS_GEMM_DEFAULT));
}

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
    gemm_f32(cublas_, precision_, CUBLAS_OP_N, CUBLAS_OP_T, c, c, int(m), &one, f.data(), ld(c), f.data(), ld(c),
             &zero, g.data(), ld(c));
  else
    gemm_f32(cublas_, precision_, CUBLAS_OP_T, CUBLAS_OP_N, c, c, int(m), &one, f.data(), ld(m), f.data(), ld(m),
             &zero, g.data(), ld(c));
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
    gemm_f32(cublas_, precision_, CUBLAS_OP_N, CUBLAS_OP_N, c, int(m), c, &one, s, ld(c), f.data(), ld(c), &beta,
             df.data(), ld(c));
  else
    gemm_f32(cublas_, precision_, CUBLAS_OP_N, CUBLAS_OP_N, int(m), c, c, &one, f.data(), ld(m), s, ld(c), &beta,
             df.data(), ld(m));
}

}  // namespace impasto
