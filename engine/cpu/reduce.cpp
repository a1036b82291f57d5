// engine/cpu/reduce.cpp — reductions on the CPU (dot, sum, L1 and L∞ norms, finiteness), accumulated in
// double so that the CPU results serve as the reference for the GPU's float reductions.
#include <cmath>
#include <limits>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/op_checks.hpp"

namespace impasto {
namespace {

// Σ term(x[i]) in double over every element of x.
template <typename Term>
double accumulate(const Tensor& x, const char* op, Term&& term) {
  checks::check_tensor(x, Device::cpu, op, "x");
  const float* xv = x.data();
  const std::int64_t n = x.numel();
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += term(xv[i]);
  return s;
}

}  // namespace

double CpuBackend::dot(const Tensor& x, const Tensor& y) {
  checks::check_same_numel(x, y, Device::cpu, "dot", "x", "y");
  const float* xv = x.data();
  const float* yv = y.data();
  const std::int64_t n = x.numel();
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += double(xv[i]) * double(yv[i]);
  return s;
}

double CpuBackend::sum(const Tensor& x) {
  return accumulate(x, "sum", [](float v) { return double(v); });
}

double CpuBackend::abs_sum(const Tensor& x) {
  return accumulate(x, "abs_sum", [](float v) { return std::fabs(double(v)); });
}

double CpuBackend::abs_max(const Tensor& x) {
  checks::check_tensor(x, Device::cpu, "abs_max", "x");
  const float* xv = x.data();
  const std::int64_t n = x.numel();
  double m = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double a = std::fabs(double(xv[i]));
    if (std::isnan(a)) return std::numeric_limits<double>::quiet_NaN();
    if (a > m) m = a;
  }
  return m;
}

bool CpuBackend::all_finite(const Tensor& x) {
  checks::check_tensor(x, Device::cpu, "all_finite", "x");
  const float* xv = x.data();
  const std::int64_t n = x.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(xv[i])) return false;
  }
  return true;
}

}  // namespace impasto
