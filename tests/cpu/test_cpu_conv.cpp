// tests/cpu/test_cpu_conv.cpp — the CPU convolution's two methods (engine/cpu/conv_method.hpp: im2col and
// shifted GEMMs), each forced on the same inputs, against direct-loop references (forward with bias and fused
// ReLU, backward-data) and the adjoint identity; shapes cover K = 1, 3, 5, N = 2, odd sizes, 1×1 images,
// kernels larger than the image and several row strips. Also: the automatic choice's workspace is what
// conv2d_workspace_bytes reports (nothing grows after it was reserved), and the OpenBLAS kernels in use.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/conv_blas.hpp"
#include "engine/cpu/conv_method.hpp"
#include "engine/cpu/cpu_backend.hpp"
#include "tests/support/compare.hpp"

using impasto::CpuBackend;
using impasto::Shape;
using impasto::Tensor;
using impasto::cpu::ConvMethod;

namespace {

using Values = std::vector<float>;

Values random_values(std::mt19937& rng, std::int64_t n) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Values v(static_cast<std::size_t>(n));
  for (auto& e : v) e = dist(rng);
  return v;
}

// Forces a method for one scope; the automatic choice comes back afterwards.
struct ForcedMethod {
  explicit ForcedMethod(ConvMethod m) { impasto::cpu::set_conv_method(m); }
  ~ForcedMethod() { impasto::cpu::set_conv_method(ConvMethod::automatic); }
};

struct Case {
  int n, cin, cout, h, w, k;
  Shape x() const { return {n, cin, h, w}; }      // (N,Cin,H,W)
  Shape wt() const { return {cout, cin, k, k}; }  // (Cout,Cin,K,K)
  Shape y() const { return {n, cout, h, w}; }     // (N,Cout,H,W)
  std::string str() const {
    return "N=" + std::to_string(n) + " Cin=" + std::to_string(cin) + " Cout=" + std::to_string(cout) +
           " H=" + std::to_string(h) + " W=" + std::to_string(w) + " K=" + std::to_string(k);
  }
};

const Case kCases[] = {
    {2, 3, 4, 5, 7, 3},     // batch, odd sizes
    {2, 3, 4, 5, 7, 1},     // 1×1 kernel
    {2, 3, 4, 5, 7, 5},     // K = 5
    {1, 2, 3, 1, 1, 3},     // a single pixel
    {2, 2, 3, 1, 1, 5},     // a single pixel, K = 5, batch
    {1, 3, 4, 3, 2, 5},     // kernel larger than the image
    {2, 17, 19, 9, 70, 3},  // long rows, uneven channel counts
    {1, 2, 3, 700, 5, 3},   // 700 rows of 7 padded columns: two row strips of the shifted method
    {1, 2, 3, 701, 3, 5},   // two strips, K = 5
};

// The sum over taps of x[n, ci, i+ki−p, j+kj−p]·w[co, ci, ki, kj] for one output (n, co, i, j), in double.
// Forward: y = that + b (+ ReLU). Backward-data: dx[n, ci, i, j] = Σ w[co, ci, ki, kj]·dy[n, co, i−ki+p, j−kj+p].
Values conv_direct(const Case& c, const Values& x, const Values& w, const Values& b, bool relu) {
  const int p = (c.k - 1) / 2;
  Values y(static_cast<std::size_t>(c.y().numel()));
  std::size_t out = 0;
  for (int n = 0; n < c.n; ++n)
    for (int co = 0; co < c.cout; ++co)
      for (int i = 0; i < c.h; ++i)
        for (int j = 0; j < c.w; ++j) {
          double s = b[static_cast<std::size_t>(co)];
          for (int ci = 0; ci < c.cin; ++ci)
            for (int ki = 0; ki < c.k; ++ki)
              for (int kj = 0; kj < c.k; ++kj) {
                const int ii = i + ki - p, jj = j + kj - p;
                if (ii < 0 || ii >= c.h || jj < 0 || jj >= c.w) continue;
                s += double(x[static_cast<std::size_t>(((n * c.cin + ci) * c.h + ii) * c.w + jj)]) *
                     double(w[static_cast<std::size_t>(((co * c.cin + ci) * c.k + ki) * c.k + kj)]);
              }
          y[out++] = float(relu && s < 0 ? 0.0 : s);
        }
  return y;
}

Values conv_transpose_direct(const Case& c, const Values& dy, const Values& w) {
  const int p = (c.k - 1) / 2;
  Values dx(static_cast<std::size_t>(c.x().numel()));
  std::size_t out = 0;
  for (int n = 0; n < c.n; ++n)
    for (int ci = 0; ci < c.cin; ++ci)
      for (int i = 0; i < c.h; ++i)
        for (int j = 0; j < c.w; ++j) {
          double s = 0;
          for (int co = 0; co < c.cout; ++co)
            for (int ki = 0; ki < c.k; ++ki)
              for (int kj = 0; kj < c.k; ++kj) {
                const int oi = i - ki + p, oj = j - kj + p;
                if (oi < 0 || oi >= c.h || oj < 0 || oj >= c.w) continue;
                s += double(w[static_cast<std::size_t>(((co * c.cin + ci) * c.k + ki) * c.k + kj)]) *
                     double(dy[static_cast<std::size_t>(((n * c.cout + co) * c.h + oi) * c.w + oj)]);
              }
          dx[out++] = float(s);
        }
  return dx;
}

double host_dot(const Values& a, const Values& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
  return s;
}

}  // namespace

TEST_CASE("conv2d: im2col and shifted GEMMs each match the direct loops, forward and backward-data") {
  for (const ConvMethod method : {ConvMethod::im2col, ConvMethod::shifted, ConvMethod::automatic}) {
    ForcedMethod forced(method);
    CpuBackend be;
    std::mt19937 rng(7);
    for (const Case& c : kCases) {
      INFO(c.str() << " method=" << int(method));
      const Values xv = random_values(rng, c.x().numel()), wv = random_values(rng, c.wt().numel());
      const Values bv = random_values(rng, c.cout), dyv = random_values(rng, c.y().numel());
      Tensor x = be.from_host(xv, c.x()), w = be.from_host(wv, c.wt()), b = be.from_host(bv, Shape{1, 1, 1, c.cout});
      Tensor dy = be.from_host(dyv, c.y()), zero_bias = be.zeros(Shape{1, 1, 1, c.cout});
      Tensor y = be.empty(c.y()), dx = be.empty(c.x());
      be.reserve_workspace(be.conv2d_workspace_bytes(c.x(), c.wt()));
      const std::size_t planned = be.bytes_in_use();
      for (const bool relu : {false, true}) {
        be.fill(y, std::numeric_limits<float>::quiet_NaN());
        be.conv2d_forward(x, w, b, y, relu);
        // fp32 sums of ≤ 17·25 products of O(1) terms against a double reference.
        CHECK_CLOSE(be.to_host(y), conv_direct(c, xv, wv, bv, relu), 1e-4, 1e-4);
      }
      be.fill(dx, std::numeric_limits<float>::quiet_NaN());
      be.conv2d_backward_data(dy, w, dx);
      const Values dxv = be.to_host(dx);
      CHECK_CLOSE(dxv, conv_transpose_direct(c, dyv, wv), 1e-4, 1e-4);

      // <conv(x), dy> == <x, conv_backward(dy)> for the bias-free convolution.
      be.fill(y, std::numeric_limits<float>::quiet_NaN());
      be.conv2d_forward(x, w, zero_bias, y, false);
      CHECK(be.bytes_in_use() == planned);  // the reserved workspace covered both directions
      const Values yv = be.to_host(y);
      double scale = 0;
      for (std::size_t i = 0; i < yv.size(); ++i) scale += std::fabs(double(yv[i]) * dyv[i]);
      CHECK(std::fabs(host_dot(yv, dyv) - host_dot(xv, dxv)) <= 1e-5 * (scale + 1.0));
    }
  }
}

TEST_CASE("conv2d: the automatic choice uses shifted GEMMs on large planes and sizes its workspace for them") {
  CpuBackend be;
  const Shape small_x{1, 3, 9, 11}, small_w{4, 3, 3, 3};
  const Shape large_x{1, 16, 64, 64}, large_w{16, 16, 3, 3};  // plane 4096 ≥ 8·16, 16 channels each way
  const auto im2col_bytes = [](Shape x, Shape w) {
    return std::size_t(w.c) * w.h * w.w * std::size_t(x.plane()) * sizeof(float);
  };
  CHECK(be.conv2d_workspace_bytes(small_x, small_w) == im2col_bytes(small_x, small_w));
  const std::size_t large = be.conv2d_workspace_bytes(large_x, large_w);
  CHECK(large < im2col_bytes(large_x, large_w));  // one padded copy, not nine
  {
    ForcedMethod forced(ConvMethod::im2col);
    CHECK(be.conv2d_workspace_bytes(large_x, large_w) == im2col_bytes(large_x, large_w));
  }
  CHECK(be.conv2d_workspace_bytes(large_x, Shape{16, 16, 1, 1}) == 0);

  // Reserved once, a forward and backward of that size do not grow it.
  CpuBackend fresh;
  fresh.reserve_workspace(large);
  Tensor x = fresh.zeros(large_x), w = fresh.zeros(large_w), b = fresh.zeros(Shape{1, 1, 1, 16});
  Tensor y = fresh.empty(Shape{1, 16, 64, 64});
  const std::size_t planned = fresh.bytes_in_use();
  fresh.conv2d_forward(x, w, b, y, true);
  fresh.conv2d_backward_data(y, w, x);
  CHECK(fresh.bytes_in_use() == planned);
}

TEST_CASE("OpenBLAS runs kernels this CPU supports, and the backend names them") {
  CpuBackend be;
  const std::string core = impasto::cpu::blas_core_name();
  INFO("OpenBLAS core: " << core);
  if (!core.empty()) CHECK(be.name().find(core) != std::string::npos);
#if defined(__x86_64__) && defined(__GNUC__)
  // A CPU with AVX2 + FMA must not be left on OpenBLAS's SSE3 fallback (unless the user forced a core).
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && std::getenv("OPENBLAS_CORETYPE") == nullptr &&
      !core.empty()) {
    CHECK(core != "Prescott");
  }
#endif
}
