// engine/cpu/elementwise.cpp — the small element-wise ops on the CPU: fill, copy, axpy, axpby, scale,
// element-wise and channel-broadcast (mask) products, clamp, and the NCHW ↔ NHWC reordering (convert_layout).
// Plain loops the compiler vectorizes; element-wise ops accept any shapes of equal element count (an optimizer may see an image as a vector).
#include <algorithm>
#include <cstring>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/cpu/dims.hpp"
#include "engine/op_checks.hpp"

namespace impasto {
namespace {

// y[i] = op(x[i], y[i]) for every element after checking both (equal numel; y may be x).
template <typename Op>
void zip_into(const Tensor& x, Tensor& y, const char* op_name, Op&& op) {
  checks::check_same_numel(x, y, Device::cpu, op_name, "x", "y");
  const float* xv = x.data();
  float* yv = y.data();
  const std::int64_t n = y.numel();
  for (std::int64_t i = 0; i < n; ++i) yv[i] = op(xv[i], yv[i]);
}

}  // namespace

void CpuBackend::fill(Tensor& y, float value) {
  checks::fill(y, Device::cpu);
  std::fill(y.data(), y.data() + y.numel(), value);
}

void CpuBackend::copy(const Tensor& x, Tensor& y) {
  checks::same_numel_values(x, y, Device::cpu, "copy");
  if (x.data() != y.data() && x.numel() > 0) std::memmove(y.data(), x.data(), std::size_t(x.numel()) * sizeof(float));
}

void CpuBackend::axpy(float a, const Tensor& x, Tensor& y) {
  zip_into(x, y, "axpy", [a](float xi, float yi) { return yi + a * xi; });
}

void CpuBackend::axpby(float a, const Tensor& x, float b, Tensor& y) {
  zip_into(x, y, "axpby", [a, b](float xi, float yi) { return a * xi + b * yi; });
}

void CpuBackend::scale(Tensor& y, float a) {
  checks::check_tensor(y, Device::cpu, "scale", "y");
  float* yv = y.data();
  const std::int64_t n = y.numel();
  for (std::int64_t i = 0; i < n; ++i) yv[i] *= a;
}

void CpuBackend::mul(const Tensor& a, const Tensor& b, Tensor& y) {
  checks::mul(a, b, y, Device::cpu);
  const float* av = a.data();
  const float* bv = b.data();
  float* yv = y.data();
  const std::int64_t n = y.numel();
  for (std::int64_t i = 0; i < n; ++i) yv[i] = av[i] * bv[i];
}

void CpuBackend::mul_mask(const Tensor& x, const Tensor& mask, Tensor& y) {
  const Shape xs = checks::mul_mask(x, mask, y, Device::cpu);  // x, y (N,C,H,W) (y may be x), mask (1,1,H,W)
  const float* xv = x.data();
  const float* mv = mask.data();
  float* yv = y.data();
  const std::int64_t planes = cpu::plane_count(xs), plane = xs.plane();
  for (std::int64_t p = 0; p < planes; ++p) {
    for (std::int64_t k = 0; k < plane; ++k) yv[p * plane + k] = xv[p * plane + k] * mv[k];
  }
}

// NCHW ↔ NHWC: per sample a transpose of (rows, cols) into (cols, rows), rows = C and cols = H·W on the way to
// NHWC, the other way round on the way back (the CUDA backend's kernels::transpose does the same in tiles).
// With a change of channel count, element by element: y's channel c is x's when c < C, else 0.
void CpuBackend::convert_layout(const Tensor& x, Tensor& y) {
  checks::convert_layout(x, y, Device::cpu);  // x (N,C,H,W), y (N,C',H,W) differing in layout or channels
  const Shape s = x.shape();
  if (y.shape().c != s.c) {
    const Shape ys = y.shape();
    for (int n = 0; n < ys.n; ++n) {
      const float* in = x.data() + std::int64_t(n) * s.c * s.plane();  // sample n of x
      float* out = y.data() + std::int64_t(n) * ys.c * s.plane();      // and of y
      for (int c = 0; c < ys.c; ++c)
        for (std::int64_t p = 0; p < s.plane(); ++p)
          out[c * y.channel_stride() + p * y.pixel_stride()] =
              c < s.c ? in[c * x.channel_stride() + p * x.pixel_stride()] : 0.0f;
    }
    return;
  }
  const bool to_nhwc = y.layout() == Layout::nhwc;
  const std::int64_t rows = to_nhwc ? s.c : s.plane(), cols = to_nhwc ? s.plane() : s.c;
  for (int n = 0; n < s.n; ++n) {
    const float* in = x.data() + std::int64_t(n) * rows * cols;  // (rows, cols)
    float* out = y.data() + std::int64_t(n) * rows * cols;       // (cols, rows)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
  }
}

// The CPU holds no bf16 values: the check refuses the call, naming it.
void CpuBackend::split_bf16(const Tensor& x, Tensor& y) { checks::split_bf16(x, y, Device::cpu); }

// NaN stays NaN (neither comparison holds), so a bad image is still caught downstream.
void CpuBackend::clamp(const Tensor& x, float lo, float hi, Tensor& y) {
  checks::clamp(x, lo, hi, y, Device::cpu);
  zip_into(x, y, "clamp", [lo, hi](float xi, float) { return xi < lo ? lo : (xi > hi ? hi : xi); });
}

}  // namespace impasto
