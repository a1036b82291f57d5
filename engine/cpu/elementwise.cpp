// engine/cpu/elementwise.cpp — the small element-wise ops on the CPU: fill, copy, axpy, axpby, scale,
// element-wise and channel-broadcast (mask) products, clamp. Plain loops the compiler vectorizes;
// element-wise ops accept any shapes of equal element count (an optimizer may see an image as a vector).
#include <algorithm>
#include <cstring>

#include "engine/cpu/checks.hpp"
#include "engine/cpu/cpu_backend.hpp"

namespace impasto {
namespace {

// y[i] = op(x[i], y[i]) for every element after checking both (equal numel; y may be x).
template <typename Op>
void zip_into(const Tensor& x, Tensor& y, const char* op_name, Op&& op) {
  cpu::check_same_numel(x, y, op_name, "x", "y");
  const float* xv = x.data();
  float* yv = y.data();
  const std::int64_t n = y.numel();
  for (std::int64_t i = 0; i < n; ++i) yv[i] = op(xv[i], yv[i]);
}

}  // namespace

void CpuBackend::fill(Tensor& y, float value) {
  cpu::check_tensor(y, "fill", "y");
  std::fill(y.data(), y.data() + y.numel(), value);
}

void CpuBackend::copy(const Tensor& x, Tensor& y) {
  cpu::check_same_numel(x, y, "copy", "x", "y");
  if (x.data() != y.data() && x.numel() > 0) std::memmove(y.data(), x.data(), std::size_t(x.numel()) * sizeof(float));
}

void CpuBackend::axpy(float a, const Tensor& x, Tensor& y) {
  zip_into(x, y, "axpy", [a](float xi, float yi) { return yi + a * xi; });
}

void CpuBackend::axpby(float a, const Tensor& x, float b, Tensor& y) {
  zip_into(x, y, "axpby", [a, b](float xi, float yi) { return a * xi + b * yi; });
}

void CpuBackend::scale(Tensor& y, float a) {
  cpu::check_tensor(y, "scale", "y");
  float* yv = y.data();
  const std::int64_t n = y.numel();
  for (std::int64_t i = 0; i < n; ++i) yv[i] *= a;
}

void CpuBackend::mul(const Tensor& a, const Tensor& b, Tensor& y) {
  cpu::check_same_numel(a, b, "mul", "a", "b");
  cpu::check_same_numel(a, y, "mul", "a", "y");
  const float* av = a.data();
  const float* bv = b.data();
  float* yv = y.data();
  const std::int64_t n = y.numel();
  for (std::int64_t i = 0; i < n; ++i) yv[i] = av[i] * bv[i];
}

void CpuBackend::mul_mask(const Tensor& x, const Tensor& mask, Tensor& y) {
  cpu::check_tensor(x, "mul_mask", "x");                                       // (N,C,H,W)
  const Shape xs = x.shape();
  cpu::check_shape(mask, Shape{1, 1, xs.h, xs.w}, "mul_mask", "mask");       // (1,1,H,W)
  cpu::check_shape(y, xs, "mul_mask", "y");                                   // (N,C,H,W), may be x
  const float* xv = x.data();
  const float* mv = mask.data();
  float* yv = y.data();
  const std::int64_t planes = cpu::plane_count(xs), plane = xs.plane();
  for (std::int64_t p = 0; p < planes; ++p) {
    for (std::int64_t k = 0; k < plane; ++k) yv[p * plane + k] = xv[p * plane + k] * mv[k];
  }
}

// NaN stays NaN (neither comparison holds), so a bad image is still caught downstream.
void CpuBackend::clamp(const Tensor& x, float lo, float hi, Tensor& y) {
  IMPASTO_CHECK(lo <= hi, "clamp: empty range [" << lo << ", " << hi << "]");
  zip_into(x, y, "clamp", [lo, hi](float xi, float) { return xi < lo ? lo : (xi > hi ? hi : xi); });
}

}  // namespace impasto
