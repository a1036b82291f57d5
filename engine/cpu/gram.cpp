// engine/cpu/gram.cpp — Gram matrices of feature maps and their gradient on the CPU (Gatys et al. 2016,
// "Image style transfer using convolutional neural networks", Eq. 3): F is the (C × M) view of f (1,C,H,W),
// M = H·W. gram: G = F·Fᵀ by SSYRK (half the flops of a GEMM) and a mirror of the upper triangle;
// gram_backward: df = (dG + dGᵀ)·F + beta·df by forming the symmetric C×C sum once, then one SGEMM.
#include <cblas.h>

#include <algorithm>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/cpu/dims.hpp"
#include "engine/op_checks.hpp"

namespace impasto {

void CpuBackend::gram(const Tensor& f, Tensor& g) {
  const int c = checks::gram(f, g, Device::cpu);  // f (1,C,H,W), g (1,1,C,C)
  const auto m = f.shape().plane();
  if (c == 0) return;
  if (m == 0) {
    fill(g, 0.0f);
    return;
  }
  float* gv = g.data();
  // Upper triangle of G = F·Fᵀ; SSYRK leaves the strictly lower triangle untouched.
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, c, int(m), 1.0f, f.data(), cpu::blas_ld(m), 0.0f, gv,
              cpu::blas_ld(c));
  for (int i = 1; i < c; ++i) {
    for (int j = 0; j < i; ++j) gv[std::int64_t(i) * c + j] = gv[std::int64_t(j) * c + i];
  }
}

void CpuBackend::gram_backward(const Tensor& dg, const Tensor& f, Tensor& df, float beta) {
  const int c = checks::gram_backward(dg, f, df, Device::cpu);  // f, df (1,C,H,W), dg (1,1,C,C)
  const auto m = f.shape().plane();
  if (c == 0 || m == 0) return;
  // S = dG + dGᵀ (C × C) in the workspace.
  float* s = workspace(std::size_t(c) * c);
  const float* dgv = dg.data();
  for (int i = 0; i < c; ++i) {
    for (int j = 0; j < c; ++j) s[std::int64_t(i) * c + j] = dgv[std::int64_t(i) * c + j] + dgv[std::int64_t(j) * c + i];
  }
  // df (C × M) = S (C × C) · F (C × M) + beta·df; beta = 0 overwrites (BLAS never reads C then).
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, int(m), c, 1.0f, s, cpu::blas_ld(c), f.data(),
              cpu::blas_ld(m), beta, df.data(), cpu::blas_ld(m));
}

}  // namespace impasto
