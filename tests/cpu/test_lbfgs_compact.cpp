// tests/cpu/test_lbfgs_compact.cpp — the pieces of the compact L-BFGS direction (Byrd, Nocedal & Schnabel 1994,
// eq. 2.6; engine/lbfgs_history.cpp) on the CPU backend:
// - gemv / gemv_t against a naive double reference (odd sizes, empty cases, beta = 0 over a NaN-poisoned y,
//   argument errors). Tolerance: float sums in BLAS order, |err| <= 1e-5·Σ|terms| (+ 1e-6·|y0| for beta·y0);
// - Tensor::slice / slice_rows views;
// - the history's directions on random pairs (ring wrap-around, pairs rejected by the curvature guard): the
//   compact form, the two-loop recursion (N&W Alg. 7.4) and the dense BFGS inverse update in double
//   (N&W eq. 6.17, from H0 = γI) agree to 1e-6 relative (‖Δd‖/‖d‖; float storage of the pairs and float GEMV
//   sums of n = 40 terms, amplified by the conditioning of R; observed <= 1.6e-7).
// The optimizer-level checks (same iterates with either direction, syncs per iteration) are in
// test_optimizers.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/optimizer.hpp"
#include "engine/random.hpp"

namespace impasto {
namespace {

using Vec = std::vector<double>;

std::vector<float> normal_floats(SplitMix64& rng, std::int64_t n) {  // Box–Muller, N(0, 1)
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) {
    const double u1 = 1.0 - rng.uniform(), u2 = rng.uniform();
    x = float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }
  return v;
}

Shape vec(std::int64_t n) { return Shape{1, 1, 1, int(n)}; }

double relative_distance(const std::vector<float>& a, const Vec& b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < b.size(); ++i) diff += (a[i] - b[i]) * (a[i] - b[i]), norm += b[i] * b[i];
  return std::sqrt(diff / norm);
}

}  // namespace

TEST_CASE("cpu gemv and gemv_t match a naive double reference") {
  CpuBackend b;
  SplitMix64 rng(31, 0);
  for (const int rows : {1, 3, 17}) {
    for (const int n : {1, 5, 1000, 4099}) {
      CAPTURE(rows); CAPTURE(n);
      const std::vector<float> a = normal_floats(rng, std::int64_t(rows) * n);
      const std::vector<float> xn = normal_floats(rng, n), xr = normal_floats(rng, rows);
      const std::vector<float> y0 = normal_floats(rng, n);
      const Tensor ta = b.from_host(a, Shape{1, 1, rows, n});
      const Tensor txn = b.from_host(xn, vec(n)), txr = b.from_host(xr, vec(rows));

      // y = A·x over a NaN-poisoned y.
      Tensor y = b.empty(vec(rows));
      b.fill(y, std::numeric_limits<float>::quiet_NaN());
      b.gemv(ta, txn, y);
      const std::vector<float> got = b.to_host(y);
      for (int i = 0; i < rows; ++i) {
        double ref = 0, mag = 0;
        for (int j = 0; j < n; ++j) {
          const double term = double(a[std::size_t(i) * n + j]) * xn[std::size_t(j)];
          ref += term, mag += std::abs(term);
        }
        CHECK(std::abs(got[std::size_t(i)] - ref) <= 1e-5 * mag);
      }

      // y = alpha·Aᵀ·x + beta·y, and beta = 0 over NaN.
      for (const float beta : {0.0f, 0.5f}) {
        CAPTURE(beta);
        Tensor yt = b.from_host(y0, vec(n));
        if (beta == 0.0f) b.fill(yt, std::numeric_limits<float>::quiet_NaN());
        b.gemv_t(ta, txr, -1.5f, beta, yt);
        const std::vector<float> gt = b.to_host(yt);
        for (int j = 0; j < n; ++j) {
          double ref = beta == 0.0f ? 0.0 : double(beta) * y0[std::size_t(j)], mag = 0;
          for (int i = 0; i < rows; ++i) {
            const double term = -1.5 * a[std::size_t(i) * n + j] * double(xr[std::size_t(i)]);
            ref += term, mag += std::abs(term);
          }
          CHECK(std::abs(gt[std::size_t(j)] - ref) <= 1e-5 * mag + 1e-6 * std::abs(ref));
        }
      }
    }
  }
}

TEST_CASE("cpu gemv and gemv_t: empty products, views of a larger matrix and argument errors") {
  CpuBackend b;
  const Tensor m = b.from_host({1, 2, 3, 4, 5, 6, 7, 8, 9}, Shape{1, 1, 3, 3});  // rows (1 2 3), (4 5 6), (7 8 9)
  const Tensor x = b.from_host({1, 1, 1}, vec(3));
  Tensor y2 = b.zeros(vec(2));
  b.gemv(m.slice_rows(1, 2), x, y2);  // rows 1..2 only
  CHECK(b.to_host(y2) == std::vector<float>{15, 24});
  Tensor y3 = b.from_host({1, 1, 1}, vec(3));
  const Tensor c = b.from_host({1, -1}, vec(2));
  b.gemv_t(m.slice_rows(0, 2), c, 2.0f, 1.0f, y3);  // 2·(row 0 − row 1) + 1
  CHECK(b.to_host(y3) == std::vector<float>{-5, -5, -5});

  // rows = 0: gemv writes nothing, gemv_t leaves beta·y; n = 0 via an empty x gives zeros.
  Tensor none = b.empty(vec(0));
  const Tensor empty_a = m.slice_rows(0, 0);
  b.gemv(empty_a, x, none);
  Tensor yb = b.from_host({2, 4, 6}, vec(3));
  b.gemv_t(empty_a, none, 1.0f, 0.5f, yb);
  CHECK(b.to_host(yb) == std::vector<float>{1, 2, 3});
  b.gemv_t(empty_a, none, 1.0f, 0.0f, yb);
  CHECK(b.to_host(yb) == std::vector<float>{0, 0, 0});
  Tensor yz = b.from_host({7, 7}, vec(2));
  b.gemv(b.empty(Shape{1, 1, 2, 0}), none, yz);
  CHECK(b.to_host(yz) == std::vector<float>{0, 0});

  Tensor y4 = b.empty(vec(4));
  CHECK_THROWS_WITH_AS(b.gemv(m, x, y4), "gemv: a (1,1,3,3) holds 9 elements, expected rows·n = 4·3", Error);
  Tensor big = b.zeros(vec(12));
  Tensor alias = big.slice(3, vec(3));
  CHECK_THROWS_WITH_AS(b.gemv(big.slice(0, Shape{1, 1, 3, 3}), big.slice(9, vec(3)), alias),
                       "gemv: y must not overlap a", Error);
}

TEST_CASE("Tensor::slice and slice_rows are checked views") {
  CpuBackend b;
  const Tensor m = b.from_host({0, 1, 2, 3, 4, 5}, Shape{1, 1, 3, 2});
  const Tensor r = m.slice_rows(1, 2);
  CHECK(r.shape() == Shape{1, 1, 2, 2});
  CHECK(b.to_host(r) == std::vector<float>{2, 3, 4, 5});
  CHECK(b.to_host(m.slice(3, vec(2))) == std::vector<float>{3, 4});
  CHECK(m.slice_rows(3, 0).numel() == 0);
  CHECK_THROWS_WITH_AS(m.slice_rows(2, 2), "slice_rows: rows [2, 4) outside the 3 rows of (1,1,3,2)", Error);
  CHECK_THROWS_WITH_AS(m.slice(5, vec(2)), "cannot view 2 elements at offset 5 of tensor (1,1,3,2)", Error);
  CHECK_THROWS_WITH_AS(b.zeros(Shape{1, 2, 2, 2}).slice_rows(0, 1),
                       "slice_rows: tensor (1,2,2,2) is not a (1,1,rows,cols) matrix", Error);
}

// Pairs y = A·s with A = diag(λ), λ in [1, 100], so sᵀy > 0; every fourth pair has y = −A·s and must be dropped.
TEST_CASE("lbfgs history: compact, two-loop and dense BFGS directions agree on random pairs") {
  CpuBackend b;
  const int n = 40, capacity = 5;
  const Shape shape{1, 1, 5, 8};  // n = 40 as a 4-D shape, like an image
  SplitMix64 rng(41, 2);
  Vec lambda(n);
  for (double& l : lambda) l = 1 + 99 * rng.uniform();
  detail::LbfgsHistory history(b, shape, capacity, 1e-10);
  Tensor g = b.empty(shape), d = b.empty(shape);
  std::vector<std::pair<Vec, Vec>> kept;  // host copies (of the float values), oldest first

  auto check_directions = [&]() {
    const std::vector<float> gh = normal_floats(rng, n);
    b.upload(gh.data(), g);
    // Dense H in double: H0 = γI, then H ← (I − ρsyᵀ)·H·(I − ρysᵀ) + ρssᵀ per kept pair, oldest first.
    Vec h(std::size_t(n) * n, 0.0);
    double gamma = 1;
    if (!kept.empty()) {
      const auto& [s, y] = kept.back();
      double sy = 0, yy = 0;
      for (int i = 0; i < n; ++i) sy += s[i] * y[i], yy += y[i] * y[i];
      gamma = sy / yy;
      CHECK(history.gamma() == doctest::Approx(gamma).epsilon(1e-5));
    }
    for (int i = 0; i < n; ++i) h[std::size_t(i) * n + i] = gamma;
    for (const auto& [s, y] : kept) {
      double sy = 0;
      for (int i = 0; i < n; ++i) sy += s[i] * y[i];
      const double rho = 1 / sy;
      Vec hy(n, 0.0), yh(n, 0.0);  // H·y, yᵀ·H
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
          hy[i] += h[std::size_t(i) * n + j] * y[j];
          yh[j] += y[i] * h[std::size_t(i) * n + j];
        }
      double yhy = 0;
      for (int i = 0; i < n; ++i) yhy += y[i] * hy[i];
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j)
          h[std::size_t(i) * n + j] += -rho * (s[i] * yh[j] + hy[i] * s[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
    }
    Vec want(n, 0.0);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) want[i] -= h[std::size_t(i) * n + j] * gh[std::size_t(j)];

    history.direction(g, d, LbfgsParams::Direction::compact);
    const std::vector<float> compact = b.to_host(d);
    history.direction(g, d, LbfgsParams::Direction::two_loop);
    const std::vector<float> two_loop = b.to_host(d);
    Vec two_loop_d(two_loop.begin(), two_loop.end());
    CAPTURE(history.size());
    CHECK(relative_distance(compact, want) <= 1e-6);
    CHECK(relative_distance(two_loop, want) <= 1e-6);
    CHECK(relative_distance(compact, two_loop_d) <= 1e-6);
  };

  check_directions();  // empty: d = −g
  for (int pair = 1; pair <= 14; ++pair) {
    const bool bad = pair % 4 == 0;
    const std::vector<float> s = normal_floats(rng, n);
    std::vector<float> y(s.size());
    for (int i = 0; i < n; ++i)
      y[i] = float((bad ? -1 : 1) * lambda[i] * s[i] * (1 + 0.01 * (rng.uniform() - 0.5)));
    b.upload(s.data(), history.candidate_s());
    b.upload(y.data(), history.candidate_y());
    CAPTURE(pair);
    CHECK(history.offer() == !bad);
    if (!bad) {
      kept.emplace_back(Vec(s.begin(), s.end()), Vec(y.begin(), y.end()));
      if (int(kept.size()) > capacity) kept.erase(kept.begin());
    }
    CHECK(history.size() == int(kept.size()));
    check_directions();
  }
  history.clear();
  kept.clear();
  CHECK(history.size() == 0);
  check_directions();
}

}  // namespace impasto
