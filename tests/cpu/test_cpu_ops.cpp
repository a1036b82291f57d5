// tests/cpu/test_cpu_ops.cpp — the CPU backend's ops against naive loop references written here (the answer
// key for the answer key): convolution forward/backward-data (plus the adjoint identity), ReLU, pooling,
// Gram matrices, element-wise ops, reductions, the fused losses (also against central finite differences),
// Adam, memory bookkeeping and argument checks. Inputs are seeded random with odd sizes; outputs are
// poisoned with NaN before each op so that an element left unwritten fails the comparison.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/op_checks.hpp"
#include "tests/support/compare.hpp"

using impasto::CpuBackend;
using impasto::DType;
using impasto::Error;
using impasto::PoolMode;
using impasto::Precision;
using impasto::Shape;
using impasto::Tensor;
using impasto::TvMode;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
using Values = std::vector<float>;

Values random_values(std::mt19937& rng, std::int64_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Values v(static_cast<std::size_t>(n));
  for (auto& e : v) e = dist(rng);
  return v;
}

// Small integers 0..levels−1: many exact ties (max pooling, ReLU at 0).
Values random_levels(std::mt19937& rng, std::int64_t n, int levels) {
  std::uniform_int_distribution<int> dist(0, levels - 1);
  Values v(static_cast<std::size_t>(n));
  for (auto& e : v) e = float(dist(rng));
  return v;
}

// Every H×W plane holds distinct values at least 0.15 apart (a shuffled ladder plus jitter), so no two
// neighbours are within a finite-difference step of each other and |·| has no kink inside the stencil.
Values separated_values(std::mt19937& rng, Shape s) {
  Values v(static_cast<std::size_t>(s.numel()));
  std::uniform_real_distribution<float> jitter(-0.05f, 0.05f);
  const auto plane = static_cast<std::size_t>(s.plane());
  for (std::size_t p = 0; p + plane <= v.size() && plane > 0; p += plane) {
    std::vector<int> order(plane);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t k = 0; k < plane; ++k) v[p + k] = 0.25f * float(order[k]) - 1.0f + jitter(rng);
  }
  return v;
}

Tensor poisoned(CpuBackend& be, Shape s) {
  Tensor t = be.empty(s);
  be.fill(t, kNaN);
  return t;
}

std::size_t at(Shape s, int n, int c, int h, int w) {
  return static_cast<std::size_t>(((std::int64_t(n) * s.c + c) * s.h + h) * s.w + w);
}

double host_dot(const Values& a, const Values& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
  return s;
}

// Central differences of loss(x) at every element of x, divided by the step actually taken in float.
Values finite_differences(Values x, double eps, const std::function<double(const Values&)>& loss) {
  Values g(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float saved = x[i];
    const float up = float(saved + eps), down = float(saved - eps);
    x[i] = up;
    const double lp = loss(x);
    x[i] = down;
    const double lm = loss(x);
    x[i] = saved;
    g[i] = float((lp - lm) / (double(up) - double(down)));
  }
  return g;
}

// ---- naive references ---------------------------------------------------------------------------------

// Direct "same" convolution, stride 1, zero padding (K−1)/2: seven nested loops, accumulated in double.
Values conv_ref(const Values& x, Shape xs, const Values& w, Shape ws, const Values* b, bool relu) {
  const int pad = (ws.h - 1) / 2;
  const Shape ys{xs.n, ws.n, xs.h, xs.w};  // (N,Cout,H,W)
  Values y(static_cast<std::size_t>(ys.numel()));
  for (int n = 0; n < xs.n; ++n)
    for (int co = 0; co < ws.n; ++co)
      for (int i = 0; i < xs.h; ++i)
        for (int j = 0; j < xs.w; ++j) {
          double s = b != nullptr ? (*b)[static_cast<std::size_t>(co)] : 0.0;
          for (int ci = 0; ci < xs.c; ++ci)
            for (int ki = 0; ki < ws.h; ++ki)
              for (int kj = 0; kj < ws.w; ++kj) {
                const int ii = i + ki - pad, jj = j + kj - pad;
                if (ii < 0 || ii >= xs.h || jj < 0 || jj >= xs.w) continue;
                s += double(x[at(xs, n, ci, ii, jj)]) * double(w[at(ws, co, ci, ki, kj)]);
              }
          y[at(ys, n, co, i, j)] = float(relu && s < 0 ? 0.0 : s);
        }
  return y;
}

// Transposed convolution, gathered per input pixel: dx[ci,ii,jj] = Σ w[co,ci,ki,kj]·dy[co,ii−ki+p,jj−kj+p].
Values conv_transpose_ref(const Values& dy, Shape xs, const Values& w, Shape ws) {
  const int pad = (ws.h - 1) / 2;
  const Shape ys{xs.n, ws.n, xs.h, xs.w};
  Values dx(static_cast<std::size_t>(xs.numel()));
  for (int n = 0; n < xs.n; ++n)
    for (int ci = 0; ci < xs.c; ++ci)
      for (int ii = 0; ii < xs.h; ++ii)
        for (int jj = 0; jj < xs.w; ++jj) {
          double s = 0;
          for (int co = 0; co < ws.n; ++co)
            for (int ki = 0; ki < ws.h; ++ki)
              for (int kj = 0; kj < ws.w; ++kj) {
                const int i = ii - ki + pad, j = jj - kj + pad;
                if (i < 0 || i >= xs.h || j < 0 || j >= xs.w) continue;
                s += double(w[at(ws, co, ci, ki, kj)]) * double(dy[at(ys, n, co, i, j)]);
              }
          dx[at(xs, n, ci, ii, jj)] = float(s);
        }
  return dx;
}

// 2×2 stride-2 floor-mode pooling; max keeps the first maximum in row-major order (strict >).
struct PoolRef {
  Values y, dx;
};
PoolRef pool_ref(const Values& x, Shape xs, const Values& dy, PoolMode mode) {
  const Shape ys{xs.n, xs.c, xs.h / 2, xs.w / 2};
  PoolRef r{Values(static_cast<std::size_t>(ys.numel())), Values(static_cast<std::size_t>(xs.numel()), 0.0f)};
  for (int n = 0; n < xs.n; ++n)
    for (int c = 0; c < xs.c; ++c)
      for (int i = 0; i < ys.h; ++i)
        for (int j = 0; j < ys.w; ++j) {
          const float g = dy[at(ys, n, c, i, j)];
          double s = 0;
          int bi = 2 * i, bj = 2 * j;
          for (int di = 0; di < 2; ++di)
            for (int dj = 0; dj < 2; ++dj) {
              const float v = x[at(xs, n, c, 2 * i + di, 2 * j + dj)];
              s += v;
              if (v > x[at(xs, n, c, bi, bj)]) bi = 2 * i + di, bj = 2 * j + dj;
            }
          if (mode == PoolMode::average) {
            r.y[at(ys, n, c, i, j)] = float(s / 4);
            for (int di = 0; di < 2; ++di)
              for (int dj = 0; dj < 2; ++dj) r.dx[at(xs, n, c, 2 * i + di, 2 * j + dj)] = g / 4;
          } else {
            r.y[at(ys, n, c, i, j)] = x[at(xs, n, c, bi, bj)];
            r.dx[at(xs, n, c, bi, bj)] = g;
          }
        }
  return r;
}

// G[a][b] = Σ_m F[a][m]·F[b][m].
Values gram_ref(const Values& f, int c, int m) {
  Values g(static_cast<std::size_t>(c) * c);
  for (int a = 0; a < c; ++a)
    for (int b = 0; b < c; ++b) {
      double s = 0;
      for (int k = 0; k < m; ++k) s += double(f[size_t(a) * m + k]) * double(f[size_t(b) * m + k]);
      g[size_t(a) * c + b] = float(s);
    }
  return g;
}

// df[a][m] = Σ_b (dg[a][b] + dg[b][a])·F[b][m] + beta·df[a][m].
Values gram_backward_ref(const Values& dg, const Values& f, const Values& df0, float beta, int c, int m) {
  Values df(f.size());
  for (int a = 0; a < c; ++a)
    for (int k = 0; k < m; ++k) {
      double s = double(beta) * df0[size_t(a) * m + k];
      for (int b = 0; b < c; ++b) s += (double(dg[size_t(a) * c + b]) + dg[size_t(b) * c + a]) * f[size_t(b) * m + k];
      df[size_t(a) * m + k] = float(s);
    }
  return df;
}

// TV over each plane: Σ φ(x(i+1,j)−x(i,j)) + Σ φ(x(i,j+1)−x(i,j)).
double tv_ref(const Values& x, Shape s, TvMode mode) {
  auto phi = [mode](double d) { return mode == TvMode::l1 ? std::fabs(d) : mode == TvMode::squared ? d * d : 0.5 * d * d; };
  double tv = 0;
  for (int n = 0; n < s.n; ++n)
    for (int c = 0; c < s.c; ++c)
      for (int i = 0; i < s.h; ++i)
        for (int j = 0; j < s.w; ++j) {
          const double v = x[at(s, n, c, i, j)];
          if (mode == TvMode::squared_interior) {  // both differences of the pixels i < H−1, j < W−1 only
            if (i + 1 == s.h || j + 1 == s.w) continue;
            tv += phi(double(x[at(s, n, c, i + 1, j)]) - v) + phi(double(x[at(s, n, c, i, j + 1)]) - v);
            continue;
          }
          if (i + 1 < s.h) tv += phi(double(x[at(s, n, c, i + 1, j)]) - v);
          if (j + 1 < s.w) tv += phi(double(x[at(s, n, c, i, j + 1)]) - v);
        }
  return tv;
}

struct ConvCase {
  int n, cin, cout, h, w, k;
};
const ConvCase kConvCases[] = {
    {2, 3, 4, 5, 7, 3},  // batch, odd sizes
    {1, 3, 4, 5, 7, 1},  // 1×1 kernel (no im2col)
    {2, 3, 4, 5, 7, 5},  // K = 5
    {1, 2, 3, 1, 1, 3},  // a single pixel
    {1, 3, 4, 3, 2, 5},  // kernel larger than the image
    {1, 1, 1, 7, 5, 3},
};

std::string conv_case_str(const ConvCase& cc) {
  return "N=" + std::to_string(cc.n) + " Cin=" + std::to_string(cc.cin) + " Cout=" + std::to_string(cc.cout) +
         " H=" + std::to_string(cc.h) + " W=" + std::to_string(cc.w) + " K=" + std::to_string(cc.k);
}

}  // namespace

// ---- memory -----------------------------------------------------------------------------------------------

TEST_CASE("memory: alignment, transfers, live bytes, a workspace that grows and shrinks only when trimmed") {
  CpuBackend be;
  CHECK(be.name().find("OpenBLAS") != std::string::npos);
  CHECK(be.device() == impasto::Device::cpu);
  const std::size_t base = be.bytes_in_use();
  {
    Tensor t = be.empty(Shape{2, 3, 5, 7});  // (N,C,H,W)
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    CHECK(be.bytes_in_use() == base + 2 * 3 * 5 * 7 * sizeof(float));
    std::mt19937 rng(1);
    const Values v = random_values(rng, t.numel());
    be.upload(v.data(), t);
    CHECK(be.to_host(t) == v);
    Tensor z = be.zeros(Shape{1, 1, 1, 3});
    CHECK(be.to_host(z) == Values{0, 0, 0});
    Tensor e = be.empty(Shape{0, 3, 5, 7});  // zero elements is allowed
    CHECK(e.numel() == 0);
  }
  CHECK(be.bytes_in_use() == base);

  // A tensor may outlive its backend.
  Tensor survivor;
  {
    auto owner = std::make_unique<CpuBackend>();
    survivor = owner->zeros(Shape{1, 1, 4, 4});
  }
  CHECK(survivor.data()[15] == 0.0f);

  // Workspace: sized once, then conv calls of that size do not grow it; reserve never shrinks, trim does.
  const Shape xs{1, 3, 9, 11}, ws{4, 3, 3, 3};
  const std::size_t need = be.conv2d_workspace_bytes(xs, ws);
  CHECK(need == 3 * 3 * 3 * 9 * 11 * sizeof(float));
  CHECK(be.conv2d_workspace_bytes(xs, Shape{4, 3, 1, 1}) == 0);
  Tensor x = be.zeros(xs), w = be.zeros(ws), b = be.zeros(Shape{1, 1, 1, 4}), y = be.empty(Shape{1, 4, 9, 11});
  be.reserve_workspace(need);
  const std::size_t planned = be.bytes_in_use();
  be.conv2d_forward(x, w, b, y, false);
  be.conv2d_backward_data(y, w, x);
  CHECK(be.bytes_in_use() == planned);
  be.reserve_workspace(need / 2);
  CHECK(be.bytes_in_use() == planned);
  be.reserve_workspace(2 * need);
  CHECK(be.bytes_in_use() == planned + need);
  // trim_workspace gives back what is beyond its size and never grows the workspace.
  be.trim_workspace(4 * need);
  CHECK(be.bytes_in_use() == planned + need);
  const std::size_t half = need / 2 / sizeof(float) * sizeof(float);
  be.trim_workspace(half);
  CHECK(be.bytes_in_use() == planned - need + half);
  be.trim_workspace(0);
  CHECK(be.bytes_in_use() == planned - need);
  be.conv2d_forward(x, w, b, y, false);  // grows it again
  CHECK(be.bytes_in_use() == planned);
}

// ---- convolution ------------------------------------------------------------------------------------------

TEST_CASE("conv2d_forward matches the direct 7-loop convolution (bias, fused ReLU, N > 1)") {
  CpuBackend be;
  std::mt19937 rng(2);
  for (const ConvCase& cc : kConvCases) {
    for (const bool relu : {false, true}) {
      INFO(conv_case_str(cc) << " relu=" << relu);
      const Shape xs{cc.n, cc.cin, cc.h, cc.w};     // (N,Cin,H,W)
      const Shape ws{cc.cout, cc.cin, cc.k, cc.k};  // (Cout,Cin,K,K)
      const Shape bs{1, 1, 1, cc.cout};             // (1,1,1,Cout)
      const Values xv = random_values(rng, xs.numel()), wv = random_values(rng, ws.numel());
      const Values bv = random_values(rng, bs.numel());
      Tensor x = be.from_host(xv, xs), w = be.from_host(wv, ws), b = be.from_host(bv, bs);
      Tensor y = poisoned(be, Shape{cc.n, cc.cout, cc.h, cc.w});  // (N,Cout,H,W)
      be.conv2d_forward(x, w, b, y, relu);
      // fp32 sums of ≤ 75 products of O(1) terms against a double reference: ~1e-6 relative; allow 1e-4.
      CHECK_CLOSE(be.to_host(y), conv_ref(xv, xs, wv, ws, &bv, relu), 1e-4, 1e-5);
    }
  }
}

TEST_CASE("conv2d_backward_data matches the transposed convolution and is the adjoint of the forward") {
  CpuBackend be;
  std::mt19937 rng(3);
  for (const ConvCase& cc : kConvCases) {
    INFO(conv_case_str(cc));
    const Shape xs{cc.n, cc.cin, cc.h, cc.w};      // (N,Cin,H,W)
    const Shape ws{cc.cout, cc.cin, cc.k, cc.k};   // (Cout,Cin,K,K)
    const Shape ys{cc.n, cc.cout, cc.h, cc.w};     // (N,Cout,H,W)
    const Values xv = random_values(rng, xs.numel()), wv = random_values(rng, ws.numel());
    const Values dyv = random_values(rng, ys.numel());
    Tensor x = be.from_host(xv, xs), w = be.from_host(wv, ws), dy = be.from_host(dyv, ys);
    Tensor dx = poisoned(be, xs);
    be.conv2d_backward_data(dy, w, dx);
    const Values dxv = be.to_host(dx);
    CHECK_CLOSE(dxv, conv_transpose_ref(dyv, xs, wv, ws), 1e-4, 1e-5);

    // <conv(x), dy> == <x, conv_backward(dy)> for the bias-free (linear) convolution. Both sides are float
    // results dotted in double; their error is ~1e-6 of Σ|terms|, checked at 1e-5 of that scale.
    Tensor zero_bias = be.zeros(Shape{1, 1, 1, cc.cout});
    Tensor y = poisoned(be, ys);
    be.conv2d_forward(x, w, zero_bias, y, false);
    const Values yv = be.to_host(y);
    const double lhs = host_dot(yv, dyv), rhs = host_dot(xv, dxv);
    double scale = 0;
    for (std::size_t i = 0; i < yv.size(); ++i) scale += std::fabs(double(yv[i]) * dyv[i]);
    CHECK(std::fabs(lhs - rhs) <= 1e-5 * (scale + 1.0));
  }
}

TEST_CASE("conv2d checks shapes, kernel size, devices and aliasing") {
  CpuBackend be;
  Tensor x = be.zeros(Shape{1, 3, 5, 7}), w = be.zeros(Shape{4, 3, 3, 3}), b = be.zeros(Shape{1, 1, 1, 4});
  Tensor y = be.empty(Shape{1, 4, 5, 7});
  CHECK_NOTHROW(be.conv2d_forward(x, w, b, y, false));
  Tensor wrong_cin = be.zeros(Shape{4, 2, 3, 3});
  CHECK_THROWS_AS(be.conv2d_forward(x, wrong_cin, b, y, false), Error);
  Tensor even_k = be.zeros(Shape{4, 3, 2, 2});
  CHECK_THROWS_AS(be.conv2d_forward(x, even_k, b, y, false), Error);
  Tensor non_square = be.zeros(Shape{4, 3, 3, 1});
  CHECK_THROWS_AS(be.conv2d_forward(x, non_square, b, y, false), Error);
  Tensor wrong_y = be.empty(Shape{1, 4, 5, 6});
  CHECK_THROWS_AS(be.conv2d_forward(x, w, b, wrong_y, false), Error);
  Tensor wrong_b = be.zeros(Shape{1, 1, 1, 3});
  CHECK_THROWS_AS(be.conv2d_forward(x, w, wrong_b, y, false), Error);
  Tensor wrong_dx = be.empty(Shape{2, 3, 5, 7});
  CHECK_THROWS_AS(be.conv2d_backward_data(y, w, wrong_dx), Error);
  Tensor square = be.zeros(Shape{1, 3, 5, 7});
  Tensor w33 = be.zeros(Shape{3, 3, 1, 1}), b3 = be.zeros(Shape{1, 1, 1, 3});
  CHECK_THROWS_AS(be.conv2d_forward(square, w33, b3, square, false), Error);  // y aliases x
  Tensor unallocated;
  CHECK_THROWS_AS(be.conv2d_forward(unallocated, w, b, y, false), Error);
  // A tensor claiming to live on the GPU (host memory behind it, never touched).
  std::vector<float> host(std::size_t(x.numel()));
  Tensor gpu(std::make_shared<impasto::Storage>(host.data(), host.size(), impasto::Device::cuda), x.shape());
  CHECK_THROWS_AS(be.conv2d_forward(gpu, w, b, y, false), Error);
  // The CPU's convolutions take w itself (no copy), and float32 only: a bf16 view is refused by name.
  CHECK(be.conv_filter(w).raw() == w.raw());
  CHECK(be.conv_filter_bytes(w.shape()) == 0);
  Tensor w16 = be.zeros(Shape{1, 1, 1, 54}).viewed_as(DType::bf16, w.shape());  // (4,3,3,3) in 54 floats
  CHECK_THROWS_WITH_AS(be.conv2d_forward(x, w16, b, y, false), "conv2d_forward: w holds bf16 values; this op takes float32",
                       Error);
  CHECK_THROWS_WITH_AS(be.relu_forward(w16, w16), doctest::Contains("holds bf16 values"), Error);
}

TEST_CASE("a bf16 view counts 2 bytes per element: sizes, slices and overlap") {
  CpuBackend be;
  const Tensor floats = be.zeros(Shape{1, 1, 1, 10});
  const Tensor h = floats.viewed_as(DType::bf16, Shape{1, 1, 4, 5});  // 20 bf16 values in 10 floats
  CHECK(h.element_bytes() == 2);
  CHECK(h.raw() == floats.raw());
  const Tensor row = h.slice_rows(2, 1);  // elements [10, 15): 20 bytes in
  CHECK(static_cast<const char*>(row.raw()) - static_cast<const char*>(h.raw()) == 20);
  CHECK(row.dtype() == DType::bf16);
  CHECK_THROWS_AS(floats.viewed_as(DType::bf16, Shape{1, 1, 1, 21}), Error);  // 42 bytes in 40
  CHECK_THROWS_AS(floats.viewed_as(DType::f32, Shape{1, 1, 1, 11}), Error);
  // The first 5 floats overlap the first 10 bf16 values, not the next ones.
  const Tensor head = floats.prefix(Shape{1, 1, 1, 5});
  CHECK_THROWS_AS(impasto::checks::check_no_alias(head, h.slice_rows(1, 1), "t", "a", "b"), Error);
  CHECK_NOTHROW(impasto::checks::check_no_alias(head, h.slice_rows(2, 2), "t", "a", "b"));
}

// ---- layouts -----------------------------------------------------------------------------------------------

TEST_CASE("convert_layout reorders NCHW <-> NHWC by the index rule; the CPU computes in NCHW only") {
  using impasto::Layout;
  CpuBackend be;
  std::mt19937 rng(31);
  const Shape s{2, 3, 4, 5};  // (N,C,H,W)
  const Values v = random_values(rng, s.numel());
  const Tensor x = be.from_host(v, s);
  CHECK(x.layout() == Layout::nchw);
  Tensor y = be.empty(s).with_layout(Layout::nhwc);
  CHECK(y.layout() == Layout::nhwc);
  CHECK(y.prefix(Shape{1, 3, 4, 5}).layout() == Layout::nhwc);  // views keep the layout
  be.fill(y, kNaN);
  be.convert_layout(x, y);
  const Values h = be.to_host(y);
  int wrong = 0;
  for (int n = 0; n < s.n; ++n)
    for (int c = 0; c < s.c; ++c)
      for (int i = 0; i < s.h; ++i)
        for (int j = 0; j < s.w; ++j)
          wrong += h[std::size_t(((n * s.h + i) * s.w + j) * s.c + c)] != v[std::size_t(((n * s.c + c) * s.h + i) * s.w + j)];
  CHECK(wrong == 0);
  Tensor back = be.empty(s);
  be.fill(back, kNaN);
  be.convert_layout(y, back);
  CHECK(be.to_host(back) == v);
  // Same layout on both sides, or overlapping: errors. Layout-dependent ops refuse NHWC on the CPU, naming it.
  Tensor same = be.empty(s);
  CHECK_THROWS_AS(be.convert_layout(x, same), Error);
  Tensor x_as_nhwc = x.with_layout(Layout::nhwc);  // overlaps x
  CHECK_THROWS_AS(be.convert_layout(x, x_as_nhwc), Error);
  Tensor w = be.zeros(Shape{4, 3, 3, 3}), b = be.zeros(Shape{1, 1, 1, 4});
  Tensor out = be.empty(Shape{2, 4, 4, 5});
  try {
    be.conv2d_forward(y, w, b, out, false);
    FAIL("the CPU accepted an NHWC convolution input");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "conv2d_forward: x is NHWC; the cpu backend computes in NCHW");
  }
  Tensor g = be.empty(Shape{1, 1, 3, 3});
  CHECK_THROWS_AS(be.gram(y.sample(0), g), Error);
  CHECK(be.activation_layout() == Layout::nchw);
  CHECK(be.activation_dtype() == impasto::DType::f32);
}

TEST_CASE("convert_layout pads channels with zeros and crops them, in either layout") {
  using impasto::Layout;
  CpuBackend be;
  std::mt19937 rng(37);
  const Shape s{2, 3, 4, 5}, padded{2, 8, 4, 5};
  const Values v = random_values(rng, s.numel());
  const Tensor x = be.from_host(v, s);  // (2,3,4,5) NCHW
  for (const Layout l : {Layout::nchw, Layout::nhwc}) {
    CAPTURE(l);
    Tensor p = be.empty(padded).with_layout(l);  // (2,8,4,5)
    be.fill(p, kNaN);
    be.convert_layout(x, p);
    const Values h = be.to_host(p);
    int wrong = 0;
    for (int n = 0; n < 2; ++n)
      for (int c = 0; c < 8; ++c)
        for (int i = 0; i < 20; ++i) {
          const std::size_t at = l == Layout::nhwc ? std::size_t((n * 20 + i) * 8 + c) : std::size_t((n * 8 + c) * 20 + i);
          wrong += h[at] != (c < 3 ? v[std::size_t((n * 3 + c) * 20 + i)] : 0.0f);
        }
    CHECK(wrong == 0);
    Tensor back = be.empty(s);  // cropped to the first 3 channels, NCHW
    be.fill(back, kNaN);
    be.convert_layout(p, back);
    CHECK(be.to_host(back) == v);
  }
  Tensor other = be.empty(Shape{2, 8, 4, 6});
  CHECK_THROWS_WITH_AS(be.convert_layout(x, other), doctest::Contains("(its channels may differ)"), Error);
}

// ---- activation -------------------------------------------------------------------------------------------

TEST_CASE("relu forward/backward, in place too") {
  CpuBackend be;
  std::mt19937 rng(4);
  const Shape s{2, 3, 5, 7};
  Values xv = random_values(rng, s.numel());
  xv[0] = 0.0f;  // the gradient at exactly 0 is 0 (y > 0 test)
  const Values dyv = random_values(rng, s.numel());
  Values y_ref(xv.size()), dx_ref(xv.size());
  for (std::size_t i = 0; i < xv.size(); ++i) {
    y_ref[i] = xv[i] > 0 ? xv[i] : 0.0f;
    dx_ref[i] = y_ref[i] > 0 ? dyv[i] : 0.0f;
  }
  Tensor x = be.from_host(xv, s), y = poisoned(be, s), dy = be.from_host(dyv, s), dx = poisoned(be, s);
  be.relu_forward(x, y);
  CHECK_CLOSE(be.to_host(y), y_ref, 0, 0);
  be.relu_backward(y, dy, dx);
  CHECK_CLOSE(be.to_host(dx), dx_ref, 0, 0);
  be.relu_forward(x, x);  // alias: y = x
  CHECK_CLOSE(be.to_host(x), y_ref, 0, 0);
  be.relu_backward(y, dy, dy);  // alias: dx = dy
  CHECK_CLOSE(be.to_host(dy), dx_ref, 0, 0);
  Tensor wrong = be.empty(Shape{2, 3, 5, 6});
  CHECK_THROWS_AS(be.relu_forward(x, wrong), Error);
  CHECK_THROWS_AS(be.relu_backward(y, wrong, dx), Error);
}

TEST_CASE("relu masks: one bit per element in memory order, and the backward and pooling backward through them") {
  CpuBackend be;
  std::mt19937 rng(14);
  // 210 elements: 6 full words and a last one of 18; a pooled shape with an odd row and column.
  const Shape s{2, 3, 5, 7};
  Values yv = random_values(rng, s.numel());
  for (float& v : yv) v = v > 0 ? v : 0.0f;  // a ReLU output (exact zeros)
  yv[31] = 1e-30f;                           // tiny but positive: its bit is set
  const Tensor y = be.from_host(yv, s);
  Tensor bits = be.empty(Shape{1, 1, 1, int(impasto::relu_mask_words(s.numel()))});  // (1,1,1,7)
  CHECK(bits.numel() == 7);
  be.relu_mask(y, bits);
  const auto host = be.to_host(bits);
  std::vector<unsigned> words(host.size());
  std::memcpy(words.data(), host.data(), host.size() * sizeof(unsigned));
  for (std::int64_t e = 0; e < s.numel(); ++e) {
    CAPTURE(e);
    CHECK(bool((words[std::size_t(e / 32)] >> (e % 32)) & 1u) == (yv[std::size_t(e)] > 0));
  }
  CHECK((words[6] >> 18) == 0u);  // bits past the last element stay clear

  // relu_backward_mask == relu_backward with y, also in place.
  const Values dyv = random_values(rng, s.numel());
  Tensor dy = be.from_host(dyv, s), dx = poisoned(be, s), dx_ref = poisoned(be, s);
  be.relu_backward(y, dy, dx_ref);
  be.relu_backward_mask(bits, dy, dx);
  CHECK(be.to_host(dx) == be.to_host(dx_ref));
  be.relu_backward_mask(bits, dy, dy);
  CHECK(be.to_host(dy) == be.to_host(dx_ref));

  // Average pooling's mask is the ReLU mask: pool2d_backward_mask (average) through it == pool2d_backward
  // (average, relu_mask) with y (floor mode drops the odd row/column).
  Tensor pool_bits = be.empty(bits.shape());
  be.pool2d_mask(y, pool_bits, PoolMode::average);
  CHECK(be.to_host(pool_bits) == host);
  const Shape ps{2, 3, 2, 3};  // (N,C,H/2,W/2)
  const Tensor pooled = be.empty(ps), dp = be.from_host(random_values(rng, ps.numel()), ps);
  Tensor through_y = poisoned(be, s), through_bits = poisoned(be, s);
  be.pool2d_backward(y, pooled, dp, through_y, PoolMode::average, true);
  be.pool2d_backward_mask(bits, dp, through_bits, PoolMode::average);
  CHECK(be.to_host(through_bits) == be.to_host(through_y));

  Tensor short_bits = be.empty(Shape{1, 1, 1, 6});
  CHECK_THROWS_WITH_AS(be.relu_mask(y, short_bits), doctest::Contains("relu_mask: bits has shape (1,1,1,6), expected (1,1,1,7)"),
                       Error);
  CHECK_THROWS_AS(be.relu_backward_mask(short_bits, dy, dx), Error);
  Tensor other_shape = dy.sample(0);
  CHECK_THROWS_AS(be.pool2d_backward_mask(bits, dp, other_shape, PoolMode::max), Error);
  CHECK_THROWS_WITH_AS(be.pool2d_mask(y, short_bits, PoolMode::max),
                       doctest::Contains("pool2d_mask: bits has shape (1,1,1,6), expected (1,1,1,7)"), Error);
  Tensor overlapping = y.reshaped(Shape{1, 1, 1, 210}).slice(0, Shape{1, 1, 1, 7});
  CHECK_THROWS_AS(be.relu_mask(y, overlapping), Error);
}

// ---- pooling ----------------------------------------------------------------------------------------------

TEST_CASE("pool2d forward/backward match the naive loops (odd sizes, max ties)") {
  CpuBackend be;
  std::mt19937 rng(5);
  const Shape shapes[] = {{2, 3, 5, 7}, {1, 2, 4, 6}, {1, 1, 3, 3}, {2, 1, 1, 1}, {1, 2, 2, 5}};
  for (const Shape& xs : shapes) {
    for (const PoolMode mode : {PoolMode::average, PoolMode::max}) {
      for (const bool ties : {false, true}) {
        INFO("x " << xs.str() << " mode=" << int(mode) << " ties=" << ties);
        const Shape ys{xs.n, xs.c, xs.h / 2, xs.w / 2};  // (N,C,H/2,W/2)
        const Values xv = ties ? random_levels(rng, xs.numel(), 2) : random_values(rng, xs.numel());
        const Values dyv = random_values(rng, ys.numel());
        const PoolRef ref = pool_ref(xv, xs, dyv, mode);
        Tensor x = be.from_host(xv, xs), y = poisoned(be, ys), dy = be.from_host(dyv, ys), dx = poisoned(be, xs);
        be.pool2d_forward(x, y, mode);
        CHECK_CLOSE(be.to_host(y), ref.y, 1e-6, 0);
        be.pool2d_backward(x, y, dy, dx, mode);  // dropped rows/columns must come back as 0, not NaN
        CHECK_CLOSE(be.to_host(dx), ref.dx, 1e-6, 0);
        // relu_mask: x seen as a ReLU output, its ReLU backward fused in (0 where x <= 0).
        Values masked = ref.dx;
        for (std::size_t i = 0; i < masked.size(); ++i)
          if (!(xv[i] > 0.0f)) masked[i] = 0.0f;
        be.fill(dx, kNaN);
        be.pool2d_backward(x, y, dy, dx, mode, /*relu_mask=*/true);
        CHECK_CLOSE(be.to_host(dx), masked, 1e-6, 0);
        // pool2d_mask keeps all that this backward reads of x: average, the ReLU mask; max, where each window's
        // gradient lands (dy has no zeros, so exactly where `masked` is not 0). Through it, the same dx exactly.
        Tensor bits = be.empty(Shape{1, 1, 1, int(impasto::relu_mask_words(xs.numel()))});
        be.pool2d_mask(x, bits, mode);
        const Values bits_host = be.to_host(bits);
        std::vector<unsigned> words(bits_host.size());
        std::memcpy(words.data(), bits_host.data(), bits_host.size() * sizeof(unsigned));
        for (std::size_t i = 0; i < masked.size(); ++i) {
          CAPTURE(i);
          const bool set = (words[i / 32] >> (i % 32)) & 1u;
          CHECK(set == (mode == PoolMode::average ? xv[i] > 0.0f : masked[i] != 0.0f));
        }
        const Values through_x = be.to_host(dx);
        be.fill(dx, kNaN);
        be.pool2d_backward_mask(bits, dy, dx, mode);
        CHECK(be.to_host(dx) == through_x);
      }
    }
  }
}

TEST_CASE("max pool routes the gradient to the first maximum in row-major order") {
  CpuBackend be;
  const Shape xs{1, 1, 2, 2};
  Tensor x = be.from_host({1, 3, 3, 3}, xs), y = be.empty(Shape{1, 1, 1, 1});
  Tensor dy = be.from_host({5}, Shape{1, 1, 1, 1}), dx = poisoned(be, xs);
  be.pool2d_forward(x, y, PoolMode::max);
  be.pool2d_backward(x, y, dy, dx, PoolMode::max);
  CHECK(be.to_host(dx) == Values{0, 5, 0, 0});
  Tensor wrong_y = be.empty(Shape{1, 1, 2, 1});
  CHECK_THROWS_AS(be.pool2d_forward(x, wrong_y, PoolMode::max), Error);
  Tensor wrong_dx = be.empty(Shape{1, 1, 3, 2});
  CHECK_THROWS_AS(be.pool2d_backward(x, y, dy, wrong_dx, PoolMode::average), Error);
}

// ---- Gram matrices ----------------------------------------------------------------------------------------

TEST_CASE("gram and gram_backward match the naive loops (beta 0 and 1)") {
  CpuBackend be;
  std::mt19937 rng(6);
  const Shape shapes[] = {{1, 5, 3, 7}, {1, 1, 1, 1}, {1, 4, 1, 1}, {1, 3, 5, 5}};
  for (const Shape& fs : shapes) {
    CAPTURE(fs.str());
    const int c = fs.c, m = int(fs.plane());
    const Shape gs{1, 1, c, c};  // (1,1,C,C)
    const Values fv = random_values(rng, fs.numel());
    Tensor f = be.from_host(fv, fs), g = poisoned(be, gs);
    be.gram(f, g);
    const Values gv = be.to_host(g);
    CHECK_CLOSE(gv, gram_ref(fv, c, m), 1e-5, 1e-6);
    for (int a = 0; a < c; ++a)
      for (int b = 0; b < c; ++b) CHECK(gv[size_t(a) * c + b] == gv[size_t(b) * c + a]);  // exactly symmetric

    const Values dgv = random_values(rng, gs.numel());  // not symmetric
    Tensor dg = be.from_host(dgv, gs);
    for (const float beta : {0.0f, 1.0f}) {
      CAPTURE(beta);
      const Values df0 = random_values(rng, fs.numel());
      Tensor df = beta == 0.0f ? poisoned(be, fs) : be.from_host(df0, fs);
      be.gram_backward(dg, f, df, beta);
      CHECK_CLOSE(be.to_host(df), gram_backward_ref(dgv, fv, df0, beta, c, m), 1e-5, 1e-6);
    }
  }
  Tensor f = be.zeros(Shape{1, 3, 2, 2});
  Tensor wrong_g = be.empty(Shape{1, 1, 3, 2});
  CHECK_THROWS_AS(be.gram(f, wrong_g), Error);
  Tensor batch = be.zeros(Shape{2, 3, 2, 2}), g = be.empty(Shape{1, 1, 3, 3});
  CHECK_THROWS_AS(be.gram(batch, g), Error);
  Tensor wrong_df = be.empty(Shape{1, 3, 2, 3});
  CHECK_THROWS_AS(be.gram_backward(g, f, wrong_df, 0.0f), Error);
}

// ---- element-wise -----------------------------------------------------------------------------------------

TEST_CASE("element-wise ops: fill, copy, axpy, axpby, scale, mul, mul_mask, clamp") {
  CpuBackend be;
  std::mt19937 rng(7);
  const Shape s{2, 3, 5, 7};
  const Values xv = random_values(rng, s.numel(), -2, 2), yv = random_values(rng, s.numel(), -2, 2);
  auto ref = [&](auto op) {
    Values r(xv.size());
    for (std::size_t i = 0; i < xv.size(); ++i) r[i] = op(xv[i], yv[i]);
    return r;
  };
  Tensor x = be.from_host(xv, s);

  Tensor y = poisoned(be, s);
  be.fill(y, 2.5f);
  CHECK(be.to_host(y) == Values(xv.size(), 2.5f));
  y = poisoned(be, s);
  be.copy(x, y);
  CHECK(be.to_host(y) == xv);
  Tensor flat = poisoned(be, Shape{1, 1, 1, int(s.numel())});  // equal numel, other shape
  be.copy(x, flat);
  CHECK(be.to_host(flat) == xv);

  y = be.from_host(yv, s);
  be.axpy(0.5f, x, y);
  CHECK_CLOSE(be.to_host(y), ref([](float a, float b) { return b + 0.5f * a; }), 1e-6, 1e-7);
  y = be.from_host(yv, s);
  be.axpby(-1.5f, x, 0.25f, y);
  CHECK_CLOSE(be.to_host(y), ref([](float a, float b) { return -1.5f * a + 0.25f * b; }), 1e-6, 1e-7);
  y = be.from_host(yv, s);
  be.scale(y, -3.0f);
  CHECK_CLOSE(be.to_host(y), ref([](float, float b) { return -3.0f * b; }), 1e-6, 0);
  y = be.from_host(yv, s);
  Tensor out = poisoned(be, s);
  be.mul(x, y, out);
  CHECK_CLOSE(be.to_host(out), ref([](float a, float b) { return a * b; }), 1e-6, 0);
  be.mul(x, y, y);  // alias
  CHECK_CLOSE(be.to_host(y), ref([](float a, float b) { return a * b; }), 1e-6, 0);

  const Shape ms{1, 1, s.h, s.w};  // (1,1,H,W)
  const Values mv = random_values(rng, ms.numel(), 0, 1);
  Values masked(xv.size());
  for (int n = 0; n < s.n; ++n)
    for (int c = 0; c < s.c; ++c)
      for (int i = 0; i < s.h; ++i)
        for (int j = 0; j < s.w; ++j) masked[at(s, n, c, i, j)] = xv[at(s, n, c, i, j)] * mv[at(ms, 0, 0, i, j)];
  Tensor mask = be.from_host(mv, ms);
  out = poisoned(be, s);
  be.mul_mask(x, mask, out);
  CHECK_CLOSE(be.to_host(out), masked, 1e-6, 0);
  Tensor x2 = be.from_host(xv, s);
  be.mul_mask(x2, mask, x2);  // alias
  CHECK_CLOSE(be.to_host(x2), masked, 1e-6, 0);

  out = poisoned(be, s);
  be.clamp(x, -0.5f, 1.0f, out);
  CHECK_CLOSE(be.to_host(out), ref([](float a, float) { return std::min(std::max(a, -0.5f), 1.0f); }), 0, 0);
  be.clamp(x2, 0.0f, 0.0f, x2);  // alias
  CHECK(be.to_host(x2) == Values(xv.size(), 0.0f));

  Tensor short_y = be.empty(Shape{1, 1, 1, 3});
  CHECK_THROWS_AS(be.copy(x, short_y), Error);
  CHECK_THROWS_AS(be.axpy(1.0f, x, short_y), Error);
  CHECK_THROWS_AS(be.axpby(1.0f, x, 1.0f, short_y), Error);
  CHECK_THROWS_AS(be.mul(x, short_y, out), Error);
  Tensor wrong_mask = be.zeros(Shape{1, 3, s.h, s.w});
  CHECK_THROWS_AS(be.mul_mask(x, wrong_mask, out), Error);
  CHECK_THROWS_AS(be.clamp(x, 1.0f, 0.0f, out), Error);
}

// ---- reductions -------------------------------------------------------------------------------------------

TEST_CASE("reductions accumulate in double; abs_max propagates NaN; all_finite") {
  CpuBackend be;
  std::mt19937 rng(8);
  const Shape s{2, 3, 5, 7};
  const Values xv = random_values(rng, s.numel(), -3, 3), yv = random_values(rng, s.numel(), -3, 3);
  double sum = 0, abs_sum = 0, abs_max = 0;
  for (const float v : xv) sum += v, abs_sum += std::fabs(double(v)), abs_max = std::max(abs_max, std::fabs(double(v)));
  Tensor x = be.from_host(xv, s), y = be.from_host(yv, s);
  CHECK(be.dot(x, y) == doctest::Approx(host_dot(xv, yv)).epsilon(1e-12));
  CHECK(be.sum(x) == doctest::Approx(sum).epsilon(1e-12));
  CHECK(be.abs_sum(x) == doctest::Approx(abs_sum).epsilon(1e-12));
  CHECK(be.abs_max(x) == abs_max);
  CHECK(be.all_finite(x));

  // Values whose float sum would lose the small terms: 1e8 + 1 + ... − 1e8.
  Tensor big = be.from_host({1e8f, 1, 1, 1, -1e8f}, Shape{1, 1, 1, 5});
  CHECK(be.sum(big) == 3.0);

  Values bad = xv;
  bad[17] = std::numeric_limits<float>::infinity();
  Tensor inf = be.from_host(bad, s);
  CHECK_FALSE(be.all_finite(inf));
  CHECK(std::isinf(be.abs_max(inf)));
  bad[17] = kNaN;
  Tensor nan = be.from_host(bad, s);
  CHECK_FALSE(be.all_finite(nan));
  CHECK(std::isnan(be.abs_max(nan)));

  Tensor short_y = be.zeros(Shape{1, 1, 1, 3});
  CHECK_THROWS_AS(be.dot(x, short_y), Error);
}

// ---- losses -----------------------------------------------------------------------------------------------

TEST_CASE("sq_diff_loss: value, accumulated gradient, weights (same shape and per-plane broadcast)") {
  CpuBackend be;
  std::mt19937 rng(9);
  const Shape s{2, 3, 3, 4};
  const Values xv = random_values(rng, s.numel()), tv = random_values(rng, s.numel());
  const float scale = 0.7f;
  Tensor target = be.from_host(tv, s);
  const Shape weight_shapes[] = {s, Shape{1, 1, s.h, s.w}};
  for (int variant = 0; variant < 3; ++variant) {
    CAPTURE(variant);  // 0: no weight, 1: same shape, 2: (1,1,H,W) broadcast over channels and samples
    const Shape ws = variant == 0 ? s : weight_shapes[variant - 1];
    const Values wv = random_values(rng, ws.numel(), 0, 2);
    Tensor weight = be.from_host(wv, ws);
    const Tensor* wp = variant == 0 ? nullptr : &weight;
    auto w_at = [&](int n, int c, int i, int j) {
      if (variant == 0) return 1.0;
      return double(variant == 1 ? wv[at(s, n, c, i, j)] : wv[at(ws, 0, 0, i, j)]);
    };
    double loss_ref = 0;
    const Values g0 = random_values(rng, s.numel());  // grad accumulates onto these
    Values grad_ref = g0;
    for (int n = 0; n < s.n; ++n)
      for (int c = 0; c < s.c; ++c)
        for (int i = 0; i < s.h; ++i)
          for (int j = 0; j < s.w; ++j) {
            const std::size_t k = at(s, n, c, i, j);
            const double d = double(xv[k]) - tv[k];
            loss_ref += scale * w_at(n, c, i, j) * d * d;
            grad_ref[k] = float(g0[k] + 2.0 * scale * w_at(n, c, i, j) * d);
          }
    Tensor x = be.from_host(xv, s), grad = be.from_host(g0, s);
    CHECK(be.sq_diff_loss(x, target, wp, scale, &grad) == doctest::Approx(loss_ref).epsilon(1e-5));
    CHECK_CLOSE(be.to_host(grad), grad_ref, 1e-5, 1e-6);

    // Central differences: the loss is quadratic, so they are exact up to float rounding of the few terms
    // that change (~1e-7 of O(1)) over a step of 2·1e-2: ~1e-5; checked at 1e-3.
    Tensor probe = be.empty(s);
    const Values fd = finite_differences(xv, 1e-2, [&](const Values& v) {
      be.upload(v.data(), probe);
      return be.sq_diff_loss(probe, target, wp, scale, nullptr);
    });
    Tensor g = be.zeros(s);
    be.sq_diff_loss(x, target, wp, scale, &g);
    CHECK_CLOSE(be.to_host(g), fd, 1e-3, 1e-3);
  }
  Tensor x = be.zeros(s);
  Tensor wrong_weight = be.zeros(Shape{1, 3, s.h, s.w});
  CHECK_THROWS_AS(be.sq_diff_loss(x, target, &wrong_weight, 1.0f, nullptr), Error);
  Tensor wrong_target = be.zeros(Shape{1, 3, s.h, s.w});
  CHECK_THROWS_AS(be.sq_diff_loss(x, wrong_target, nullptr, 1.0f, nullptr), Error);
  Tensor wrong_grad = be.zeros(Shape{2, 3, s.h, s.w + 1});
  CHECK_THROWS_AS(be.sq_diff_loss(x, target, nullptr, 1.0f, &wrong_grad), Error);
}

TEST_CASE("tv_loss: value and accumulated gradient against the naive sum and finite differences") {
  CpuBackend be;
  std::mt19937 rng(10);
  const Shape shapes[] = {{2, 3, 4, 5}, {1, 1, 1, 6}, {1, 2, 5, 1}, {1, 1, 1, 1}};
  for (const Shape& s : shapes) {
    for (const TvMode mode : {TvMode::l1, TvMode::squared, TvMode::squared_interior}) {
      INFO("x " << s.str() << " mode=" << int(mode));
      const float scale = 1.3f;
      const Values xv = separated_values(rng, s);
      const Values g0 = random_values(rng, s.numel());
      Tensor x = be.from_host(xv, s), grad = be.from_host(g0, s);
      const double loss = be.tv_loss(x, mode, scale, &grad);
      CHECK(loss == doctest::Approx(scale * tv_ref(xv, s, mode)).epsilon(1e-5));

      // Neighbours differ by ≥ 0.15, so a 1e-2 step never crosses a kink of |·|: L1 is linear and squared
      // quadratic on the stencil and the differences are exact up to float rounding (~1e-5); checked at 1e-3.
      Tensor probe = be.empty(s);
      const Values fd = finite_differences(xv, 1e-2, [&](const Values& v) {
        be.upload(v.data(), probe);
        return be.tv_loss(probe, mode, scale, nullptr);
      });
      Values got = be.to_host(grad);
      for (std::size_t i = 0; i < got.size(); ++i) got[i] -= g0[i];  // the accumulated part
      CHECK_CLOSE(got, fd, 1e-3, 1e-3);
    }
  }
  // squared_interior's gradient is jcjohnson/neural-style's TVLoss:updateGradInput, written out: over the
  // top-left (H−1)×(W−1) block, xd = x(i,j) − x(i,j+1), yd = x(i,j) − x(i+1,j); g(i,j) += xd + yd,
  // g(i,j+1) −= xd, g(i+1,j) −= yd; times the strength.
  {
    const Shape s{1, 3, 5, 6};
    const Values xv = random_values(rng, s.numel());
    Values want(xv.size(), 0.0f);
    for (int c = 0; c < s.c; ++c)
      for (int i = 0; i + 1 < s.h; ++i)
        for (int j = 0; j + 1 < s.w; ++j) {
          const float xd = xv[at(s, 0, c, i, j)] - xv[at(s, 0, c, i, j + 1)];
          const float yd = xv[at(s, 0, c, i, j)] - xv[at(s, 0, c, i + 1, j)];
          want[at(s, 0, c, i, j)] += 0.7f * (xd + yd);
          want[at(s, 0, c, i, j + 1)] -= 0.7f * xd;
          want[at(s, 0, c, i + 1, j)] -= 0.7f * yd;
        }
    Tensor grad = be.zeros(s);
    be.tv_loss(be.from_host(xv, s), TvMode::squared_interior, 0.7f, &grad);
    CHECK_CLOSE(be.to_host(grad), want, 1e-5, 1e-6);
  }
  Tensor x = be.zeros(Shape{1, 3, 4, 4}), wrong = be.zeros(Shape{1, 3, 4, 5});
  CHECK_THROWS_AS(be.tv_loss(x, TvMode::l1, 1.0f, &wrong), Error);
  CHECK_THROWS_AS(be.tv_loss(x, TvMode::l1, 1.0f, &x), Error);  // grad aliases x
}

// ---- Adam -------------------------------------------------------------------------------------------------

TEST_CASE("adam_step matches a scalar reference over several steps") {
  CpuBackend be;
  std::mt19937 rng(11);
  const Shape s{1, 3, 5, 7};
  const float lr = 0.5f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  Values xv = random_values(rng, s.numel());
  std::vector<double> xr(xv.begin(), xv.end()), mr(xv.size(), 0.0), vr(xv.size(), 0.0);
  Tensor x = be.from_host(xv, s), m = be.zeros(s), v = be.zeros(s), g = be.empty(s);
  for (int t = 1; t <= 5; ++t) {
    const Values gv = random_values(rng, s.numel());
    be.upload(gv.data(), g);
    be.adam_step(x, g, m, v, lr, beta1, beta2, eps, t);
    // Kingma & Ba 2015, Alg. 1 as written: bias-corrected moments, x −= lr·m̂/(√v̂ + ε), in double.
    for (std::size_t i = 0; i < xr.size(); ++i) {
      mr[i] = beta1 * mr[i] + (1.0 - beta1) * gv[i];
      vr[i] = beta2 * vr[i] + (1.0 - beta2) * double(gv[i]) * gv[i];
      const double mhat = mr[i] / (1.0 - std::pow(double(beta1), t));
      const double vhat = vr[i] / (1.0 - std::pow(double(beta2), t));
      xr[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
  // Five fp32 steps of size ~lr against double: ~1e-6 of the step; checked at 1e-5.
  CHECK_CLOSE(be.to_host(x), Values(xr.begin(), xr.end()), 1e-5, 1e-5);
  CHECK_CLOSE(be.to_host(m), Values(mr.begin(), mr.end()), 1e-5, 1e-6);
  CHECK_CLOSE(be.to_host(v), Values(vr.begin(), vr.end()), 1e-5, 1e-8);
  CHECK_THROWS_AS(be.adam_step(x, g, m, v, lr, beta1, beta2, eps, 0), Error);
  Tensor short_m = be.zeros(Shape{1, 1, 1, 3});
  CHECK_THROWS_AS(be.adam_step(x, g, short_m, v, lr, beta1, beta2, eps, 1), Error);
}

TEST_CASE("the CPU computes fp32 whatever precision is asked") {
  CpuBackend be;
  be.set_precision(Precision::bf16);
  CHECK(be.precision() == Precision::fp32);
}
