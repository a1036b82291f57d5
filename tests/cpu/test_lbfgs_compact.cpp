// tests/cpu/test_lbfgs_compact.cpp — the pieces of the compact L-BFGS direction (Byrd, Nocedal & Schnabel 1994,
// eq. 2.6; engine/lbfgs_history.cpp) on the CPU backend:
// - gemm_nt / gemv_t against a naive double reference (odd sizes, empty cases, beta = 0 over a NaN-poisoned
//   output, argument errors). Tolerance: float sums in BLAS order, |err| <= 1e-5·Σ|terms| (+ 1e-6·|y0| for
//   beta·y0);
// - Tensor::slice / slice_rows views;
// - the history's directions on random pairs (ring wrap-around, pairs rejected by the curvature guard): the
//   compact form (from the offer's products with g, next_direction, and from its own, direction), the
//   two-loop recursion (N&W Alg. 7.4) and the dense BFGS inverse update in double
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

TEST_CASE("cpu gemm_nt and gemv_t match a naive double reference") {
  CpuBackend b;
  SplitMix64 rng(31, 0);
  for (const int rows : {1, 3, 17}) {
    for (const int n : {1, 5, 1000, 4099}) {
      CAPTURE(rows); CAPTURE(n);
      const std::vector<float> a = normal_floats(rng, std::int64_t(rows) * n);
      const std::vector<float> xr = normal_floats(rng, rows), y0 = normal_floats(rng, n);
      const Tensor ta = b.from_host(a, Shape{1, 1, rows, n});
      const Tensor txr = b.from_host(xr, vec(rows));

      // C (ra×rows) = X·Aᵀ for 1 and 3 right-hand rows (x as an image-shaped tensor when ra = 1), over a
      // NaN-poisoned C.
      for (const int ra : {1, 3}) {
        CAPTURE(ra);
        const std::vector<float> x = normal_floats(rng, std::int64_t(ra) * n);
        const Tensor tx = ra == 1 ? b.from_host(x, Shape{1, 1, 1, n}) : b.from_host(x, Shape{1, 1, ra, n});
        Tensor c = b.empty(Shape{1, 1, ra, rows});
        b.fill(c, std::numeric_limits<float>::quiet_NaN());
        b.gemm_nt(tx, ta, c);
        const std::vector<float> got = b.to_host(c);
        for (int r = 0; r < ra; ++r)
          for (int i = 0; i < rows; ++i) {
            double ref = 0, mag = 0;
            for (int j = 0; j < n; ++j) {
              const double term = double(a[std::size_t(i) * n + j]) * x[std::size_t(r) * n + j];
              ref += term, mag += std::abs(term);
            }
            CHECK(std::abs(got[std::size_t(r) * rows + i] - ref) <= 1e-5 * mag);
          }
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

TEST_CASE("cpu gemm_nt and gemv_t: empty products, views of a larger matrix and argument errors") {
  CpuBackend b;
  const Tensor m = b.from_host({1, 2, 3, 4, 5, 6, 7, 8, 9}, Shape{1, 1, 3, 3});  // rows (1 2 3), (4 5 6), (7 8 9)
  const Tensor x = b.from_host({1, 1, 1}, vec(3));
  Tensor c2 = b.zeros(Shape{1, 1, 1, 2});
  b.gemm_nt(x, m.slice_rows(1, 2), c2);  // rows 1..2 only
  CHECK(b.to_host(c2) == std::vector<float>{15, 24});
  Tensor c22 = b.zeros(Shape{1, 1, 2, 2});
  b.gemm_nt(m.slice_rows(0, 2), m.slice_rows(1, 2), c22);  // overlapping a and b are fine
  CHECK(b.to_host(c22) == std::vector<float>{32, 50, 77, 122});
  Tensor y3 = b.from_host({1, 1, 1}, vec(3));
  const Tensor c = b.from_host({1, -1}, vec(2));
  b.gemv_t(m.slice_rows(0, 2), c, 2.0f, 1.0f, y3);  // 2·(row 0 − row 1) + 1
  CHECK(b.to_host(y3) == std::vector<float>{-5, -5, -5});

  // No history rows: gemm_nt writes nothing, gemv_t leaves beta·y; n = 0 gives zeros.
  Tensor none = b.empty(vec(0));
  const Tensor empty_a = m.slice_rows(0, 0);
  Tensor c10 = b.empty(Shape{1, 1, 1, 0});
  b.gemm_nt(x, empty_a, c10);
  Tensor yb = b.from_host({2, 4, 6}, vec(3));
  b.gemv_t(empty_a, none, 1.0f, 0.5f, yb);
  CHECK(b.to_host(yb) == std::vector<float>{1, 2, 3});
  b.gemv_t(empty_a, none, 1.0f, 0.0f, yb);
  CHECK(b.to_host(yb) == std::vector<float>{0, 0, 0});
  Tensor cz = b.from_host({7, 7}, Shape{1, 1, 1, 2});
  b.gemm_nt(none, b.empty(Shape{1, 1, 2, 0}), cz);
  CHECK(b.to_host(cz) == std::vector<float>{0, 0});

  Tensor c4 = b.empty(Shape{1, 1, 1, 4});
  CHECK_THROWS_WITH_AS(b.gemm_nt(x, m, c4), "gemm_nt: b (1,1,3,3) holds 9 elements, expected rb·n = 4·3", Error);
  CHECK_THROWS_WITH_AS(b.gemm_nt(b.zeros(vec(5)), m, c22),
                       "gemm_nt: a (1,1,1,5) holds 5 elements, not 2 rows (c is (1,1,2,2))", Error);
  Tensor c_bad = b.empty(Shape{1, 2, 1, 2});
  CHECK_THROWS_WITH_AS(b.gemm_nt(x, m, c_bad), "gemm_nt: c (1,2,1,2) must be (1,1,ra,rb)", Error);
  Tensor big = b.zeros(vec(12));
  Tensor alias = big.slice(3, Shape{1, 1, 1, 3});
  CHECK_THROWS_WITH_AS(b.gemm_nt(big.slice(9, vec(3)), big.slice(0, Shape{1, 1, 3, 3}), alias),
                       "gemm_nt: c must not overlap b", Error);
  Tensor y4 = b.empty(vec(4));
  CHECK_THROWS_WITH_AS(b.gemv_t(m, x, 1.0f, 0.0f, y4), "gemv_t: a (1,1,3,3) holds 9 elements, expected rows·n = 3·4",
                       Error);
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

  // gh: the gradient; after_offer: it was the last offer's, so next_direction() applies too.
  auto check_directions = [&](const std::vector<float>& gh, bool after_offer) {
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

    CAPTURE(history.size());
    CAPTURE(after_offer);
    std::vector<std::vector<float>> got;
    if (after_offer) {
      b.fill(d, std::numeric_limits<float>::quiet_NaN());
      history.next_direction(d, LbfgsParams::Direction::compact);
      got.push_back(b.to_host(d));
      b.fill(d, std::numeric_limits<float>::quiet_NaN());
      history.next_direction(d, LbfgsParams::Direction::two_loop);
      got.push_back(b.to_host(d));
    }
    b.upload(gh.data(), g);
    for (const auto how : {LbfgsParams::Direction::compact, LbfgsParams::Direction::two_loop}) {
      b.fill(d, std::numeric_limits<float>::quiet_NaN());
      history.direction(g, d, how);
      got.push_back(b.to_host(d));
    }
    for (const std::vector<float>& dir : got) CHECK(relative_distance(dir, want) <= 1e-6);
    const Vec first(got[0].begin(), got[0].end());
    for (std::size_t i = 1; i < got.size(); ++i) CHECK(relative_distance(got[i], first) <= 1e-6);
  };

  auto random_gradient = [&]() {
    std::vector<float> gh = normal_floats(rng, n);
    b.upload(gh.data(), g);
    return gh;
  };
  check_directions(random_gradient(), false);  // empty: d = −g
  for (int pair = 1; pair <= 14; ++pair) {
    const bool bad = pair % 4 == 0;
    const std::vector<float> s = normal_floats(rng, n);
    std::vector<float> y(s.size());
    for (int i = 0; i < n; ++i)
      y[i] = float((bad ? -1 : 1) * lambda[i] * s[i] * (1 + 0.01 * (rng.uniform() - 0.5)));
    b.upload(s.data(), history.candidate_s());
    b.upload(y.data(), history.candidate_y());
    CAPTURE(pair);
    const std::vector<float> gh = random_gradient();
    CHECK(history.offer(g) == !bad);
    b.fill(g, std::numeric_limits<float>::quiet_NaN());  // next_direction() must use the offer's own copy of g
    if (!bad) {
      kept.emplace_back(Vec(s.begin(), s.end()), Vec(y.begin(), y.end()));
      if (int(kept.size()) > capacity) kept.erase(kept.begin());
    }
    CHECK(history.size() == int(kept.size()));
    check_directions(gh, true);
  }
  history.clear();
  kept.clear();
  CHECK(history.size() == 0);
  check_directions(random_gradient(), false);
}

}  // namespace impasto
