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
// compute-bound, where bf16's tensor cores run at twice TF32's rate. Features stored in bf16 (DType::bf16
// activations) are the operands as they are (CUBLAS_COMPUTE_32F on bf16 matrices: fp32 accumulation); their
// gradient is bf16 too, and so is S, rounded once (GemmEx takes A and B of one type).
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

// C = alpha·op(A)·op(B) + beta·C on column-major matrices: fp32 ones at the precision's compute type, or bf16
// A and B (`bf16_ab`; C fp32, or bf16 too when `bf16_c`) with fp32 accumulation.
void gemm(cublasHandle_t handle, Precision p, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
          const float* alpha, const void* a, int lda, const void* b, int ldb, bool bf16_ab, const float* beta, void* c,
          int ldc, bool bf16_c) {
  const cudaDataType ab = bf16_ab ? CUDA_R_16BF : CUDA_R_32F;
  IMPASTO_CUBLAS_CHECK(cublasGemmEx(handle, ta, tb, m, n, k, alpha, a, ab, lda, b, ab, ldb, beta, c,
                                    bf16_c ? CUDA_R_16BF : CUDA_R_32F, ldc,
                                    bf16_ab ? CUBLAS_COMPUTE_32F : gram_compute_type(p), CUBLAS_GEMM_DEFAULT));
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
  const bool bf16 = f.dtype() == DType::bf16;
  if (f.layout() == Layout::nhwc)
    gemm(cublas_, precision_, CUBLAS_OP_N, CUBLAS_OP_T, c, c, int(m), &one, f.raw(), ld(c), f.raw(), ld(c), bf16,
         &zero, g.data(), ld(c), false);
  else
    gemm(cublas_, precision_, CUBLAS_OP_T, CUBLAS_OP_N, c, c, int(m), &one, f.raw(), ld(m), f.raw(), ld(m), bf16,
         &zero, g.data(), ld(c), false);
}

void CudaBackend::gram_backward(const Tensor& dg, const Tensor& f, Tensor& df, float beta) {
  const char* op = "gram_backward";
  const int c = checks::gram_backward(dg, f, df, Device::cuda);  // f, df (1,C,H,W), dg (1,1,C,C)
  const std::int64_t m = f.shape().plane();
  if (df.numel() == 0) return;
  IMPASTO_CHECK(m <= std::int64_t(INT32_MAX), op << ": " << m << " positions exceed cuBLAS's int range");
  void* s = workspace(std::size_t(c) * std::size_t(c) * sizeof(float));  // S (C×C), in f's element type
  const bool bf16 = f.dtype() == DType::bf16;
  kernels::symmetrize(dg.data(), s, c, bf16, stream_);
  const float one = 1.0f;
  // beta = 0: cuBLAS does not read dF (BLAS convention), so a poisoned dF is overwritten cleanly.
  if (f.layout() == Layout::nhwc)
    gemm(cublas_, precision_, CUBLAS_OP_N, CUBLAS_OP_N, c, int(m), c, &one, s, ld(c), f.raw(), ld(c), bf16, &beta,
         df.raw(), ld(c), bf16);
  else
    gemm(cublas_, precision_, CUBLAS_OP_N, CUBLAS_OP_N, int(m), c, c, &one, f.raw(), ld(m), s, ld(c), bf16, &beta,
         df.raw(), ld(m), bf16);
}

}  // namespace impasto
