// tests/cpu/test_optimizers.cpp — L-BFGS (compact direction of Byrd, Nocedal & Schnabel 1994 by default, or the
// two-loop recursion of Nocedal & Wright Alg. 7.4; Alg. 3.5/3.6 strong Wolfe) and Adam (Kingma & Ba 2015) on the
// CPU backend, against problems with known minimizers evaluated on the host in double: SPD quadratics
// ½xᵀAx − bᵀx (diagonal and dense, condition 100), the 2-D and chained 10-D Rosenbrock functions and a double
// well whose concave middle makes sᵀy < 0 (curvature guard). Also the run protocol (callback, stop reasons,
// NaN/Inf with the last good x restored), parameter validation, that both directions give the same iterates,
// and on a counting backend that minimize() allocates no tensors and how many device syncs an iteration takes.
// The direction's pieces (GEMV ops, single directions on given pairs) are in test_lbfgs_compact.cpp.
//
// Set IMPASTO_TEST_VERBOSE=1 to print the iteration counts the bounds below were set from.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/image_optimizer.hpp"
#include "engine/losses.hpp"
#include "engine/optimizer.hpp"
#include "engine/random.hpp"
#include "engine/vgg19.hpp"
#include "tests/support/counting_backend.hpp"
#include "weights/weights.hpp"

using impasto::Adam;
using impasto::AdamParams;
using impasto::Backend;
using impasto::CpuBackend;
using impasto::Error;
using impasto::IterationCallback;
using impasto::ImageOptimizer;
using impasto::IterationInfo;
using impasto::LossConfig;
using impasto::LossTerms;
using impasto::Lbfgs;
using impasto::LbfgsParams;
using impasto::Objective;
using impasto::OptimizeResult;
using impasto::PoolMode;
using impasto::Shape;
using impasto::SplitMix64;
using impasto::StyleObjective;
using impasto::Tensor;
using impasto::Vgg19;
using impasto::VggWeights;
using impasto::test::CountingBackend;
using LineSearch = impasto::LbfgsParams::LineSearch;
using Direction = impasto::LbfgsParams::Direction;

namespace {

using Vec = std::vector<double>;
// f(x, g) on the host in double: returns f, writes ∇f into g.
using HostFunction = std::function<double(const Vec& x, Vec& g)>;

void note(const std::string& line) {
  if (std::getenv("IMPASTO_TEST_VERBOSE")) std::fprintf(stderr, "  [optimizers] %s\n", line.c_str());
}

Shape vector_shape(int n) { return Shape{1, 1, 1, n}; }

Vec uniform_vector(SplitMix64& rng, int n, double lo, double hi) {
  Vec v(static_cast<std::size_t>(n));
  for (double& e : v) e = lo + (hi - lo) * rng.uniform();
  return v;
}

Vec to_double(const std::vector<float>& v) { return Vec(v.begin(), v.end()); }

Tensor upload(Backend& b, const Vec& v, Shape s) {
  return b.from_host(std::vector<float>(v.begin(), v.end()), s);
}

// The adapter every test uses: download x, evaluate in double, upload the gradient. Counts evaluations;
// `poison_at` (1-based) makes that evaluation return NaN (loss) or write an Inf (gradient).
struct HostObjective {
  Backend& backend;
  HostFunction fn;
  int evaluations = 0;
  int poison_at = 0;
  bool poison_gradient = false;
  std::vector<float> xf, gf;
  Vec xd, gd;

  HostObjective(Backend& b, HostFunction f) : backend(b), fn(std::move(f)) {}

  Objective objective() {
    return [this](const Tensor& x, Tensor& grad) {
      ++evaluations;
      const auto n = std::size_t(x.numel());
      xf.resize(n), gf.resize(n), xd.resize(n), gd.assign(n, 0.0);
      backend.download(x, xf.data());
      std::copy(xf.begin(), xf.end(), xd.begin());
      double f = fn(xd, gd);
      std::copy(gd.begin(), gd.end(), gf.begin());
      if (evaluations == poison_at) {
        if (poison_gradient)
          gf[n / 2] = std::numeric_limits<float>::infinity();
        else
          f = std::numeric_limits<double>::quiet_NaN();
      }
      backend.upload(gf.data(), grad);
      return f;
    };
  }
};

// ---- test problems --------------------------------------------------------------------------------------------

// f = ½xᵀAx − bᵀx with A SPD; b = A·x_star so the minimizer is known.
struct Quadratic {
  int n = 0;
  Vec a;  // n×n row-major
  Vec b, x_star;

  double operator()(const Vec& x, Vec& g) const {
    double f = 0;
    for (int i = 0; i < n; ++i) {
      double ax = 0;
      for (int j = 0; j < n; ++j) ax += a[std::size_t(i) * n + j] * x[j];
      g[i] = ax - b[i];
      f += 0.5 * x[i] * ax - b[i] * x[i];
    }
    return f;
  }
  double relative_error(const Vec& x) const {
    double e = 0, s = 0;
    for (int i = 0; i < n; ++i) e += (x[i] - x_star[i]) * (x[i] - x_star[i]), s += x_star[i] * x_star[i];
    return std::sqrt(e / s);
  }
};

// Eigenvalues log-spaced in [1, condition].
Vec spectrum(int n, double condition) {
  Vec lambda(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) lambda[i] = std::pow(condition, n == 1 ? 0.0 : double(i) / (n - 1));
  return lambda;
}

Quadratic finish_quadratic(Quadratic q, SplitMix64& rng) {
  q.x_star = uniform_vector(rng, q.n, -1, 1);
  q.b.assign(std::size_t(q.n), 0.0);
  for (int i = 0; i < q.n; ++i)
    for (int j = 0; j < q.n; ++j) q.b[i] += q.a[std::size_t(i) * q.n + j] * q.x_star[j];
  return q;
}

Quadratic diagonal_quadratic(int n, double condition, SplitMix64& rng) {
  Quadratic q;
  q.n = n;
  q.a.assign(std::size_t(n) * n, 0.0);
  Vec lambda = spectrum(n, condition);
  for (int i = n - 1; i > 0; --i) std::swap(lambda[i], lambda[std::size_t(rng.next() % std::uint64_t(i + 1))]);
  for (int i = 0; i < n; ++i) q.a[std::size_t(i) * n + i] = lambda[i];
  return finish_quadratic(q, rng);
}

// A = Q·diag(λ)·Qᵀ with Q orthonormalized (modified Gram–Schmidt) from a random matrix.
Quadratic dense_quadratic(int n, double condition, SplitMix64& rng) {
  std::vector<Vec> q(static_cast<std::size_t>(n));
  for (int k = 0; k < n; ++k) {
    q[k] = uniform_vector(rng, n, -1, 1);
    for (int j = 0; j < k; ++j) {
      double p = 0;
      for (int i = 0; i < n; ++i) p += q[k][i] * q[j][i];
      for (int i = 0; i < n; ++i) q[k][i] -= p * q[j][i];
    }
    double norm = 0;
    for (double v : q[k]) norm += v * v;
    for (double& v : q[k]) v /= std::sqrt(norm);
  }
  const Vec lambda = spectrum(n, condition);
  Quadratic quad;
  quad.n = n;
  quad.a.assign(std::size_t(n) * n, 0.0);
  for (int k = 0; k < n; ++k)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) quad.a[std::size_t(i) * n + j] += lambda[k] * q[k][i] * q[k][j];
  return finish_quadratic(quad, rng);
}

// Chained Rosenbrock Σ 100(x_{i+1} − x_i²)² + (1 − x_i)², i < n−1; n = 2 is the classic one. Minimum 0 at 1.
double rosenbrock(const Vec& x, Vec& g) {
  const std::size_t n = x.size();
  double f = 0;
  std::fill(g.begin(), g.end(), 0.0);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const double r = x[i + 1] - x[i] * x[i], u = 1 - x[i];
    f += 100 * r * r + u * u;
    g[i] += -400 * x[i] * r - 2 * u;
    g[i + 1] += 200 * r;
  }
  return f;
}

// Σ (x_i² − 1)²/4: concave for |x_i| < 1/√3, minima at ±1.
double double_well(const Vec& x, Vec& g) {
  double f = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    f += 0.25 * (x[i] * x[i] - 1) * (x[i] * x[i] - 1);
    g[i] = x[i] * x[i] * x[i] - x[i];
  }
  return f;
}

double max_abs_diff(const Vec& x, double value) {
  double m = 0;
  for (double v : x) m = std::max(m, std::abs(v - value));
  return m;
}

LbfgsParams lbfgs_params(LineSearch ls, int history = 100, int max_iterations = 1000) {
  LbfgsParams p;
  p.line_search = ls;
  p.history = history;
  p.max_iterations = max_iterations;
  return p;
}

const char* name(LineSearch ls) { return ls == LineSearch::none ? "none" : "strong_wolfe"; }
const char* name(Direction d) { return d == Direction::compact ? "compact" : "two_loop"; }

// Runs L-BFGS on a quadratic until ‖x − x*‖ < tol·‖x*‖ (the callback stops it); returns the iterations needed.
int lbfgs_iterations_to_solve(CpuBackend& backend, const Quadratic& q, LbfgsParams params, Shape shape,
                              SplitMix64& rng, double tol = 1e-4) {
  HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
  Tensor x = upload(backend, uniform_vector(rng, q.n, -2, 2), shape);
  Lbfgs lbfgs(backend, shape, params);
  const OptimizeResult r = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo&, const Tensor& xx) {
    return q.relative_error(to_double(backend.to_host(xx))) >= tol;
  });
  INFO("stop reason: " << r.stop_reason << ", iterations " << r.iterations);
  CHECK(r.stop_reason == "callback");
  if (params.line_search == LineSearch::none) CHECK(r.evaluations == r.iterations + 1);
  return r.iterations;
}

}  // namespace

// ---- L-BFGS on quadratics ---------------------------------------------------------------------------------------

// Bounds: with full history L-BFGS on a quadratic behaves like conjugate gradients, whose error falls at least
// like ((√κ − 1)/(√κ + 1))^k ≈ 0.82^k for κ = 100, so 1e-4 needs ≈ 50 iterations (fewer when the spectrum is
// clustered); the bound is 60 with strong Wolfe and 80 with unit steps (no line search), and never more than
// 2n + 10. Observed: 32–34 (n = 20), 45–46 (n = 64), 53–55 (n = 200) with either line search.
TEST_CASE("lbfgs: SPD quadratics with condition 100 are solved to 1e-4 in about n iterations") {
  CpuBackend backend;
  for (const LineSearch ls : {LineSearch::none, LineSearch::strong_wolfe}) {
    for (const int n : {20, 64, 200}) {
      for (const bool dense : {false, true}) {
        SplitMix64 rng(1000 + std::uint64_t(n) * 2 + dense, 7);
        const Quadratic q = dense ? dense_quadratic(n, 100, rng) : diagonal_quadratic(n, 100, rng);
        const int bound = std::min(2 * n + 10, ls == LineSearch::none ? 80 : 60);
        CAPTURE(n); CAPTURE(dense); CAPTURE(name(ls));
        const int iterations = lbfgs_iterations_to_solve(backend, q, lbfgs_params(ls), vector_shape(n), rng);
        note(std::string("quadratic ") + (dense ? "dense" : "diagonal") + " n=" + std::to_string(n) + " " +
             name(ls) + ": " + std::to_string(iterations) + " iterations (bound " + std::to_string(bound) + ")");
        CHECK(iterations <= bound);
      }
    }
  }
}

TEST_CASE("lbfgs: a history much smaller than n still converges, and x may have any 4-D shape") {
  CpuBackend backend;
  const Shape shape{1, 4, 5, 5};  // n = 100
  for (const LineSearch ls : {LineSearch::none, LineSearch::strong_wolfe}) {
    for (const int history : {1, 5}) {
      SplitMix64 rng(77 + std::uint64_t(history), 1);
      const Quadratic q = dense_quadratic(100, 100, rng);
      CAPTURE(history); CAPTURE(name(ls));
      const int iterations = lbfgs_iterations_to_solve(backend, q, lbfgs_params(ls, history), shape, rng);
      note("quadratic dense n=100 history=" + std::to_string(history) + " " + name(ls) + ": " +
           std::to_string(iterations) + " iterations (bound 400)");
      CHECK(iterations <= 400);
    }
  }
}

// ---- L-BFGS on Rosenbrock ---------------------------------------------------------------------------------------

TEST_CASE("lbfgs strong_wolfe: Rosenbrock (2-D and chained 10-D) converges to 1 within 1e-4 in <= 200 iterations") {
  CpuBackend backend;
  for (const int n : {2, 10}) {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      SplitMix64 rng(seed, std::uint64_t(n));
      Vec x0 = uniform_vector(rng, n, -2, 2);
      // The chained function (4 <= n <= 30) also has a local minimum near (−1, 1, …, 1), whose basin holds part
      // of [-2, 2]^n; the first coordinate is drawn from [0, 2] so every start lies in the global minimum's.
      if (n > 2) x0[0] = std::abs(x0[0]);
      HostObjective obj(backend, rosenbrock);
      Tensor x = upload(backend, x0, vector_shape(n));
      Lbfgs lbfgs(backend, vector_shape(n), lbfgs_params(LineSearch::strong_wolfe, 100, 200));
      // Every accepted step s = x_{k+1} − x_k = t·d must satisfy the strong Wolfe conditions (checked in double on
      // the host while f_k > 1e-8, above float rounding): f_{k+1} <= f_k + c1·g_kᵀs and |g_{k+1}ᵀs| <= c2·|g_kᵀs|.
      Vec x_prev, g_prev;
      double f_prev = 0;
      int wolfe_violations = 0;
      const OptimizeResult r = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo&, const Tensor& xx) {
        const Vec xk = to_double(backend.to_host(xx));
        Vec gk(xk.size());
        const double fk = rosenbrock(xk, gk);
        if (!x_prev.empty() && f_prev > 1e-8) {
          double gs_prev = 0, gs = 0;
          for (std::size_t i = 0; i < xk.size(); ++i) {
            gs_prev += g_prev[i] * (xk[i] - x_prev[i]);
            gs += gk[i] * (xk[i] - x_prev[i]);
          }
          const bool armijo = fk <= f_prev + 1e-4 * gs_prev + 1e-12 * f_prev;
          const bool curvature = std::abs(gs) <= 0.9 * std::abs(gs_prev) * (1 + 1e-6);
          if (!armijo || !curvature) ++wolfe_violations;
        }
        x_prev = xk, g_prev = gk, f_prev = fk;
        return max_abs_diff(xk, 1.0) >= 1e-4;
      });
      CAPTURE(n); CAPTURE(seed); CAPTURE(r.stop_reason); CAPTURE(r.final_loss);
      note("rosenbrock n=" + std::to_string(n) + " seed " + std::to_string(seed) + " strong_wolfe: " +
           std::to_string(r.iterations) + " iterations, " + std::to_string(r.evaluations) + " evaluations");
      CHECK(r.stop_reason == "callback");
      CHECK(r.iterations <= 200);
      CHECK(obj.evaluations == r.evaluations);
      CHECK(wolfe_violations == 0);
      CHECK(max_abs_diff(to_double(backend.to_host(x)), 1.0) < 1e-4);
    }
  }
}

// The callback's accepted_evaluation names the evaluation whose loss and x are the accepted iterate's: with the
// strong-Wolfe search that is sometimes an earlier trial than the last (the zoom keeps its best point), which is
// why the pipelines look terms up by index and not by the last evaluation.
TEST_CASE("optimizers: accepted_evaluation names the evaluation at the accepted iterate") {
  CpuBackend backend;
  struct Seen {
    double loss;
    std::vector<float> x;
  };
  for (const int kind : {0, 1, 2}) {  // L-BFGS strong-Wolfe, L-BFGS none, Adam
    int earlier = 0, iterations = 0, mismatches = 0;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      SplitMix64 rng(seed, 10);
      const Vec x0 = uniform_vector(rng, 10, -2, 2);
      HostObjective obj(backend, rosenbrock);
      const Objective inner = obj.objective();
      std::vector<Seen> seen;  // per evaluation, 1-based index − 1
      const Objective f = [&](const Tensor& x, Tensor& grad) {
        const double loss = inner(x, grad);
        seen.push_back({loss, backend.to_host(x)});
        return loss;
      };
      Tensor x = upload(backend, x0, vector_shape(10));
      const IterationCallback callback = [&](const IterationInfo& info, const Tensor& xx) {
        ++iterations;
        const bool in_range = info.accepted_evaluation >= 1 && info.accepted_evaluation <= info.evaluations &&
                              info.evaluations == int(seen.size());
        if (!in_range) return ++mismatches, false;
        const Seen& s = seen[std::size_t(info.accepted_evaluation - 1)];
        if (s.loss != info.loss || s.x != backend.to_host(xx)) ++mismatches;
        if (info.accepted_evaluation < info.evaluations) ++earlier;
        return true;
      };
      if (kind == 2) {
        AdamParams p;
        p.learning_rate = 0.01;
        p.max_iterations = 60;
        impasto::Adam(backend, vector_shape(10), p).minimize(x, f, callback);
      } else {
        LbfgsParams p = lbfgs_params(kind == 0 ? LineSearch::strong_wolfe : LineSearch::none, 100, 60);
        // Short first steps and a short search: the search extrapolates, overshoots and, out of evaluations,
        // keeps its best earlier point.
        if (kind == 0) p.learning_rate = 0.02, p.max_line_search_evals = 2;
        Lbfgs(backend, vector_shape(10), p).minimize(x, f, callback);
      }
    }
    CAPTURE(kind);
    CHECK(iterations > 100);
    CHECK(mismatches == 0);
    if (kind != 0) CHECK(earlier == 0);  // one evaluation per iteration: always the last
  }
}

// A search that ends on a rejected trial accepts an earlier point: f(x) = −x + e^{20(x−1)} from 0, first step
// 0.05, three evaluations per search. The search extrapolates to 0.5 (still descending) and then to 5 (the
// wall, rejected) and, out of evaluations, keeps 0.5: evaluation 3 of 4, not the last.
TEST_CASE("lbfgs strong_wolfe: accepted_evaluation names an earlier trial when the last was rejected") {
  CpuBackend backend;
  HostObjective obj(backend, [](const Vec& x, Vec& g) {
    g[0] = -1.0 + 20.0 * std::exp(20.0 * (x[0] - 1.0));
    return -x[0] + std::exp(20.0 * (x[0] - 1.0));
  });
  LbfgsParams p = lbfgs_params(LineSearch::strong_wolfe, 10, 1);
  p.learning_rate = 0.05;
  p.max_line_search_evals = 3;
  Tensor x = upload(backend, Vec{0.0}, vector_shape(1));
  IterationInfo last;
  Lbfgs(backend, vector_shape(1), p).minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor&) {
    last = info;
    return true;
  });
  CHECK(last.iteration == 1);
  CHECK(last.evaluations == 4);
  CHECK(last.accepted_evaluation == 3);
  CHECK(backend.to_host(x)[0] == doctest::Approx(0.5).epsilon(1e-6));
  CHECK(last.loss == doctest::Approx(-0.5 + std::exp(-10.0)).epsilon(1e-6));
}

// ImageOptimizer: the terms handed to each iteration are those of the accepted evaluation; `iterations` caps the
// run with "max iterations"; a cap above the optimizer's own maximum is refused.
TEST_CASE("image optimizer: accepted terms, the iteration cap and its bound") {
  CpuBackend backend;
  for (const bool adam : {false, true}) {
    LbfgsParams lp = lbfgs_params(LineSearch::strong_wolfe, 20, 40);
    AdamParams ap;
    ap.learning_rate = 0.01;
    ap.max_iterations = 40;
    impasto::ImageOptimizer optimizer(backend, vector_shape(10), adam, lp, ap);
    SplitMix64 rng(7, 10);
    Tensor x = upload(backend, uniform_vector(rng, 10, -2, 2), vector_shape(10));
    HostObjective obj(backend, rosenbrock);
    const Objective inner = obj.objective();
    // Terms that name their evaluation: content = its index, style = the loss, temporal = 2·index.
    int count = 0;
    const impasto::ImageOptimizer::Evaluate f = [&](const Tensor& xx, Tensor& grad) {
      impasto::LossTerms t;
      t.style = inner(xx, grad);
      t.content = ++count;
      t.temporal = 2.0 * count;
      t.total = t.style;
      return t;
    };
    int calls = 0, wrong = 0;
    const OptimizeResult r = optimizer.run(x, 25, f, [&](const IterationInfo& info, const impasto::LossTerms& t,
                                                         const Tensor&) {
      ++calls;
      if (t.content != info.accepted_evaluation || t.style != info.loss || t.temporal != 2.0 * t.content) ++wrong;
      return true;
    });
    CAPTURE(adam);
    CHECK(wrong == 0);
    CHECK(calls == 26);  // the initial point and 25 iterations
    CHECK(r.iterations == 25);
    CHECK(r.stop_reason == "max iterations");
    CHECK_THROWS_WITH_AS(optimizer.run(x, 41, f, {}), "41 iterations asked of an optimizer made for at most 40",
                         Error);
  }
}

// Unit steps without a line search are not guaranteed to descend on Rosenbrock's curved valley. With
// learning_rate 0.5 every seeded start still gets below 1e-6 (2-D) and 1e-3 (10-D) in 500 iterations.
TEST_CASE("lbfgs none: Rosenbrock loss falls below a stated bound") {
  CpuBackend backend;
  for (const int n : {2, 10}) {
    const double bound = n == 2 ? 1e-6 : 1e-3;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      SplitMix64 rng(seed, std::uint64_t(n));
      Vec x0 = uniform_vector(rng, n, -2, 2);
      if (n > 2) x0[0] = std::abs(x0[0]);
      HostObjective obj(backend, rosenbrock);
      Tensor x = upload(backend, x0, vector_shape(n));
      LbfgsParams p = lbfgs_params(LineSearch::none, 100, 500);
      p.learning_rate = 0.5;
      Lbfgs lbfgs(backend, vector_shape(n), p);
      double best = std::numeric_limits<double>::infinity();
      const OptimizeResult r = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor&) {
        best = std::min(best, info.loss);
        return info.loss >= bound;
      });
      CAPTURE(n); CAPTURE(seed); CAPTURE(r.stop_reason); CAPTURE(best);
      note("rosenbrock n=" + std::to_string(n) + " seed " + std::to_string(seed) + " none lr 0.5: " +
           std::to_string(r.iterations) + " iterations to loss < " + std::to_string(bound));
      CHECK(r.stop_reason == "callback");
      CHECK(r.final_loss < bound);
      CHECK(r.evaluations == r.iterations + 1);  // one evaluation per iteration
    }
  }
}

// ---- curvature guard ---------------------------------------------------------------------------------------------

// On the double well from 0 < x < 0.3 (concave) the first unit steps give sᵀy < 0; those pairs are dropped, the
// run goes on with scaled gradient steps and converges to +1 once x reaches the convex region.
TEST_CASE("lbfgs: the curvature guard drops pairs with s'y <= 0 and the run still converges") {
  CpuBackend backend;
  SplitMix64 rng(5, 5);
  const int n = 4;
  const Vec x0 = uniform_vector(rng, n, 0.05, 0.3);
  HostObjective obj(backend, double_well);
  Tensor x = upload(backend, x0, vector_shape(n));
  Lbfgs lbfgs(backend, vector_shape(n), lbfgs_params(LineSearch::none, 10, 200));
  const OptimizeResult r = lbfgs.minimize(x, obj.objective());
  CAPTURE(r.stop_reason); CAPTURE(r.iterations);
  note("double well: " + std::to_string(r.curvature_skips) + " pairs skipped, final loss " +
       std::to_string(r.final_loss));
  CHECK(r.curvature_skips >= 1);
  CHECK(max_abs_diff(to_double(backend.to_host(x)), 1.0) < 1e-4);
}

// ---- compact vs two-loop direction --------------------------------------------------------------------------------

// Both directions apply the same H (test_lbfgs_compact.cpp checks single directions to 1e-6), so the iterates agree
// until rounding differences grow: over the first 30 iterations on a condition-100 quadratic (ring wrapping with
// history 8, and full history) every iterate matches to 2e-4 relative (‖Δx‖/‖x‖; observed <= 4.2e-5), with the same
// evaluation counts.
TEST_CASE("lbfgs: compact and two-loop directions give the same iterates") {
  CpuBackend backend;
  SplitMix64 rng(61, 3);
  const Quadratic q = dense_quadratic(64, 100, rng);
  const Vec x0 = uniform_vector(rng, q.n, -2, 2);
  const Shape shape{1, 1, 8, 8};
  for (const LineSearch ls : {LineSearch::none, LineSearch::strong_wolfe}) {
    for (const int history : {8, 100}) {
      std::vector<std::vector<float>> iterates[2];
      OptimizeResult results[2];
      for (const Direction direction : {Direction::compact, Direction::two_loop}) {
        HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
        Tensor x = upload(backend, x0, shape);
        LbfgsParams p = lbfgs_params(ls, history, 30);
        p.direction = direction;
        Lbfgs lbfgs(backend, shape, p);
        auto& seen = iterates[int(direction)];
        results[int(direction)] = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo&, const Tensor& xx) {
          seen.push_back(backend.to_host(xx));
          return true;
        });
      }
      CAPTURE(name(ls)); CAPTURE(history);
      REQUIRE(iterates[0].size() == iterates[1].size());
      CHECK(results[0].evaluations == results[1].evaluations);
      CHECK(results[0].curvature_skips == results[1].curvature_skips);
      double worst = 0;
      for (std::size_t k = 0; k < iterates[0].size(); ++k) {
        double diff = 0, norm = 0;
        for (std::size_t i = 0; i < iterates[0][k].size(); ++i) {
          const double a = iterates[0][k][i], b = iterates[1][k][i];
          diff += (a - b) * (a - b), norm += b * b;
        }
        worst = std::max(worst, std::sqrt(diff / norm));
      }
      note(std::string("compact vs two_loop ") + name(ls) + " history " + std::to_string(history) +
           ": worst relative iterate difference " + std::to_string(worst));
      CHECK(worst <= 2e-4);
    }
  }
}

// Blocking device→host operations (downloads, reductions, synchronizations, take_deferred round trips) per
// iteration, counted on a forwarding backend; the objective's own transfers go to the CPU backend underneath and
// are not counted (the next test counts a real objective's). Line search none, compact: one — the evaluation's
// round trip brings ‖g‖∞ and the offer's products, which give the next direction and its gᵀd on the host.
// two_loop adds gᵀd and 2·size dot products. Strong Wolfe: gᵀd and the offer's download, and per evaluation its
// round trip (which brings the trial's gᵀd); a zoom adds two norms once.
TEST_CASE("lbfgs: the compact direction needs a constant number of device syncs per iteration") {
  SplitMix64 rng(71, 4);
  const Quadratic q = diagonal_quadratic(400, 1e4, rng);  // slow enough that no pair is rejected in 40 iterations
  const Vec x0 = uniform_vector(rng, q.n, -2, 2);
  const Shape shape = vector_shape(q.n);
  for (const Direction direction : {Direction::compact, Direction::two_loop}) {
    for (const LineSearch ls : {LineSearch::none, LineSearch::strong_wolfe}) {
      const int history = 10, iterations = 40;
      CountingBackend backend;
      HostObjective obj(backend.cpu, [&q](const Vec& x, Vec& g) { return q(x, g); });
      Tensor x = upload(backend.cpu, x0, shape);
      LbfgsParams p = lbfgs_params(ls, history, iterations);
      p.direction = direction;
      Lbfgs lbfgs(backend, shape, p);
      std::vector<int> syncs{backend.syncs()}, evaluations{0};
      const OptimizeResult r = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor&) {
        syncs.push_back(backend.syncs());
        evaluations.push_back(info.evaluations);
        return true;
      });
      CAPTURE(std::string(name(direction))); CAPTURE(std::string(name(ls)));
      REQUIRE(r.iterations == iterations);
      CHECK(r.curvature_skips == 0);
      CHECK(syncs[1] - syncs[0] == 1);  // the initial point: its round trip (‖g‖∞, ‖g‖₂², ‖g‖₁)
      int most = 0;
      for (int k = 1; k <= iterations; ++k) {
        const int per_iteration = syncs[k + 1] - syncs[k];
        const int evals = evaluations[k + 1] - evaluations[k];
        const int size = std::min(k - 1, history);  // pairs in the history when iteration k starts
        CAPTURE(k);
        const bool wolfe = ls == LineSearch::strong_wolfe, two_loop = direction == Direction::two_loop;
        const int per_evaluation = 1;  // its round trip
        const int fixed = wolfe ? 2 : (two_loop && k > 1 ? 1 : 0);
        const int bound = fixed + per_evaluation * evals + (evals > 1 ? 2 : 0) + (two_loop ? 2 * size : 0);
        CHECK(per_iteration <= bound);
        if (!two_loop && evals == 1) CHECK(per_iteration == fixed + per_evaluation);
        if (!two_loop && !wolfe) CHECK(per_iteration == 1);
        most = std::max(most, per_iteration);
      }
      note(std::string("syncs per iteration, ") + name(direction) + " " + name(ls) + " history " +
           std::to_string(history) + ": at most " + std::to_string(most) + " (" +
           std::to_string(syncs.back() - syncs[1]) + " in " + std::to_string(iterations) + " iterations, " +
           std::to_string(r.evaluations) + " evaluations)");
    }
  }
}

// Issue 15's target, counted on a real objective: with line search none and the compact direction an L-BFGS
// iteration of the StyleObjective blocks the host once — the terms' values, ‖g‖∞ and the history products in one
// take_deferred — where the blocking form (evaluate(), then the optimizer's own round trip) takes two. Both make
// the same device work in the same order, so the iterates are identical; nothing allocates in either run.
TEST_CASE("lbfgs: an iteration of the queued StyleObjective with line search none is one device round trip") {
  const VggWeights weights = impasto::random_vgg19_weights(11, 3);  // conv1_1 … conv2_1
  const int h = 16, w = 18, iterations = 12;
  const Shape shape{1, 3, h, w};
  auto image = [&](std::uint64_t seed) {
    SplitMix64 rng(seed, 0);
    Vec v = uniform_vector(rng, 3 * h * w, -60, 60);
    return std::vector<float>(v.begin(), v.end());
  };
  std::vector<float> final_x[2];
  double final_loss[2] = {}, initial_loss = 0;
  for (const bool queued : {false, true}) {
    CAPTURE(queued);
    CountingBackend be;
    Vgg19 net(be, weights, PoolMode::average);
    LossConfig c;
    c.content_layers = impasto::parse_weighted_taps("relu2_1", "", "content");
    c.style_layers = impasto::parse_weighted_taps("relu1_1,relu2_1", "", "style");
    StyleObjective obj(net, c);
    obj.add_style(be.from_host(image(31), shape), 1.0f);
    obj.set_content(be.from_host(image(32), shape));
    Tensor x = be.from_host(image(33), shape);
    LbfgsParams lp = lbfgs_params(LineSearch::none, 5, iterations);
    ImageOptimizer optimizer(be, shape, false, lp, AdamParams{});
    std::vector<int> syncs{be.syncs()};
    const int allocations = be.allocations;
    const ImageOptimizer::OnIteration on_iteration = [&](const IterationInfo& info, const LossTerms& t,
                                                         const Tensor&) {
      CHECK(t.total == info.loss);
      if (info.iteration == 0) initial_loss = t.total;
      syncs.push_back(be.syncs());
      return true;
    };
    OptimizeResult r;
    if (queued)
      r = optimizer.run(x, iterations,
                        ImageOptimizer::QueuedEvaluate{[&](const Tensor& xx, Tensor& g) { obj.queue(xx, g); },
                                                       [&](const double* v) { return obj.terms(v); }},
                        on_iteration);
    else
      r = optimizer.run(x, iterations, [&](const Tensor& xx, Tensor& g) { return obj.evaluate(xx, g); },
                        on_iteration);
    REQUIRE(r.iterations == iterations);
    CHECK(be.allocations == allocations);
    CHECK_FALSE(be.deferring());
    const int expected = queued ? 1 : 2;
    CHECK(syncs[1] - syncs[0] == expected);
    for (int k = 1; k <= iterations; ++k) {
      CAPTURE(k);
      CHECK(syncs[std::size_t(k) + 1] - syncs[std::size_t(k)] == expected);
    }
    final_x[queued] = be.to_host(x);
    final_loss[queued] = r.final_loss;
  }
  CHECK(final_loss[1] < 0.9 * initial_loss);  // a real run: the loss fell
  CHECK(final_loss[1] == final_loss[0]);
  CHECK(final_x[1] == final_x[0]);
}

// ---- Adam ---------------------------------------------------------------------------------------------------------

TEST_CASE("adam: converges on a quadratic and reduces Rosenbrock's loss") {
  CpuBackend backend;
  SUBCASE("diagonal quadratic, condition 10, lr 0.02: 1e-3 relative error within 2000 iterations") {
    SplitMix64 rng(11, 0);
    const Quadratic q = diagonal_quadratic(50, 10, rng);
    HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
    Tensor x = upload(backend, uniform_vector(rng, q.n, -2, 2), vector_shape(q.n));
    AdamParams p;
    p.learning_rate = 0.02;
    p.max_iterations = 2000;
    Adam adam(backend, vector_shape(q.n), p);
    int reached = -1;
    const OptimizeResult r = adam.minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor& xx) {
      if (q.relative_error(to_double(backend.to_host(xx))) < 1e-3) reached = info.iteration;
      return reached < 0;
    });
    note("adam quadratic: 1e-3 reached at iteration " + std::to_string(reached));
    CHECK(r.stop_reason == "callback");
    CHECK(reached > 0);
    CHECK(r.evaluations == r.iterations + 1);
  }
  SUBCASE("2-D Rosenbrock from (-1.5, 2), lr 0.01, 2000 iterations: loss falls by a factor >= 500") {
    HostObjective obj(backend, rosenbrock);
    Tensor x = upload(backend, Vec{-1.5, 2.0}, vector_shape(2));
    AdamParams p;
    p.learning_rate = 0.01;
    p.max_iterations = 2000;
    Adam adam(backend, vector_shape(2), p);
    double initial = 0;
    const OptimizeResult r = adam.minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor&) {
      if (info.iteration == 0) initial = info.loss;
      return true;
    });
    note("adam rosenbrock: loss " + std::to_string(initial) + " -> " + std::to_string(r.final_loss));
    CHECK(r.stop_reason == "max iterations");
    CHECK(r.iterations == 2000);
    CHECK(r.final_loss * 500 <= initial);  // observed: 12.5 → 0.0077, a factor ≈ 1600
  }
}

// ---- run protocol ---------------------------------------------------------------------------------------------------

namespace {

// Runs `run` with an objective that fails at evaluation `poison_at`; checks the Error's message and that x holds
// the last iterate the callback saw.
void check_non_finite(CpuBackend& backend, bool poison_gradient,
                      const std::function<OptimizeResult(Tensor&, const Objective&, const IterationCallback&)>& run,
                      const std::string& expected) {
  SplitMix64 rng(3, 3);
  const Quadratic q = diagonal_quadratic(10, 10, rng);
  HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
  obj.poison_at = 3;
  obj.poison_gradient = poison_gradient;
  Tensor x = upload(backend, uniform_vector(rng, q.n, -2, 2), vector_shape(q.n));
  std::vector<float> last_seen;
  int last_iteration = -1;
  std::string message;
  try {
    run(x, obj.objective(), [&](const IterationInfo& info, const Tensor& xx) {
      last_seen = backend.to_host(xx);
      last_iteration = info.iteration;
      return true;
    });
  } catch (const Error& e) {
    message = e.what();
  }
  CAPTURE(message);
  CHECK(message.find(expected) != std::string::npos);
  CHECK(message.find("(evaluation 3)") != std::string::npos);
  CHECK(message.find("x restored to iteration " + std::to_string(last_iteration)) != std::string::npos);
  CHECK(backend.to_host(x) == last_seen);
}

}  // namespace

TEST_CASE("optimizers: a non-finite loss or gradient throws and leaves x at the last good iterate") {
  CpuBackend backend;
  const Shape shape = vector_shape(10);
  Lbfgs none(backend, shape, lbfgs_params(LineSearch::none));
  Lbfgs wolfe(backend, shape, lbfgs_params(LineSearch::strong_wolfe));
  AdamParams ap;
  ap.learning_rate = 0.1;
  Adam adam(backend, shape, ap);
  // none: evaluations 1, 2, 3 are iterations 0, 1, 2; strong Wolfe's third evaluation is inside a line search.
  check_non_finite(backend, false, [&](Tensor& x, const Objective& f, const IterationCallback& c) {
    return none.minimize(x, f, c);
  }, "L-BFGS: loss became NaN at iteration 2");
  check_non_finite(backend, true, [&](Tensor& x, const Objective& f, const IterationCallback& c) {
    return none.minimize(x, f, c);
  }, "L-BFGS: gradient became Inf at iteration 2");
  check_non_finite(backend, false, [&](Tensor& x, const Objective& f, const IterationCallback& c) {
    return wolfe.minimize(x, f, c);
  }, "L-BFGS: loss became NaN at iteration");
  check_non_finite(backend, false, [&](Tensor& x, const Objective& f, const IterationCallback& c) {
    return adam.minimize(x, f, c);
  }, "Adam: loss became NaN at iteration 2");
  check_non_finite(backend, true, [&](Tensor& x, const Objective& f, const IterationCallback& c) {
    return adam.minimize(x, f, c);
  }, "Adam: gradient became Inf at iteration 2");
}

TEST_CASE("optimizers: a non-finite initial point throws and leaves x untouched") {
  CpuBackend backend;
  HostObjective obj(backend, double_well);
  obj.poison_at = 1;
  const std::vector<float> x0{0.5f, -0.5f, 2.0f};
  Tensor x = backend.from_host(x0, vector_shape(3));
  Lbfgs lbfgs(backend, vector_shape(3), LbfgsParams{});
  CHECK_THROWS_WITH_AS(lbfgs.minimize(x, obj.objective()),
                       "L-BFGS: loss became NaN at iteration 0 (evaluation 1); x left at the initial point", Error);
  CHECK(backend.to_host(x) == x0);
}

TEST_CASE("optimizers: callback protocol and stop reasons") {
  CpuBackend backend;
  SplitMix64 rng(9, 9);
  const Quadratic q = diagonal_quadratic(20, 100, rng);
  const Vec x0 = uniform_vector(rng, q.n, -2, 2);
  const Shape shape = vector_shape(q.n);

  SUBCASE("iteration 0 is the initial point; every iteration reports once, in order") {
    for (const LineSearch ls : {LineSearch::none, LineSearch::strong_wolfe}) {
      HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
      Tensor x = upload(backend, x0, shape);
      Lbfgs lbfgs(backend, shape, lbfgs_params(ls, 100, 7));
      std::vector<IterationInfo> seen;
      const OptimizeResult r = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor& xx) {
        Vec g(x0.size());
        CHECK(info.loss == q(to_double(backend.to_host(xx)), g));  // the loss of the x it is given
        seen.push_back(info);
        return true;
      });
      Vec g(x0.size());
      REQUIRE(seen.size() == 8);
      CHECK(seen[0].loss == q(to_double(std::vector<float>(x0.begin(), x0.end())), g));  // before any step
      for (int k = 0; k < 8; ++k) CHECK(seen[k].iteration == k);
      CHECK(seen[0].evaluations == 1);
      CHECK(r.stop_reason == "max iterations");
      CHECK(r.iterations == 7);
      CHECK(r.evaluations == seen.back().evaluations);
      CHECK(r.evaluations == obj.evaluations);
      CHECK(r.final_loss == seen.back().loss);
    }
  }
  SUBCASE("callback returning false stops at once, also at iteration 0") {
    for (const int stop_at : {0, 3}) {
      HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
      Tensor x = upload(backend, x0, shape);
      Lbfgs lbfgs(backend, shape, lbfgs_params(LineSearch::none));
      std::vector<float> last;
      const OptimizeResult r = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor& xx) {
        last = backend.to_host(xx);
        return info.iteration < stop_at;
      });
      CHECK(r.stop_reason == "callback");
      CHECK(r.iterations == stop_at);
      CHECK(r.evaluations == stop_at + 1);
      CHECK(backend.to_host(x) == last);

      AdamParams ap;
      Adam adam(backend, shape, ap);
      Tensor xa = upload(backend, x0, shape);
      const OptimizeResult ra = adam.minimize(xa, obj.objective(), [&](const IterationInfo& info, const Tensor&) {
        return info.iteration < stop_at;
      });
      CHECK(ra.stop_reason == "callback");
      CHECK(ra.iterations == stop_at);
    }
  }
  SUBCASE("gradient zero: starting at the minimizer") {
    HostObjective obj(backend, double_well);
    Tensor x = upload(backend, Vec{1.0, -1.0, 1.0}, vector_shape(3));
    Lbfgs lbfgs(backend, vector_shape(3), LbfgsParams{});
    const OptimizeResult r = lbfgs.minimize(x, obj.objective());
    CHECK(r.stop_reason == "gradient zero");
    CHECK(r.iterations == 0);
    CHECK(r.evaluations == 1);
  }
  SUBCASE("loss change below tolerance over the window") {
    HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
    Tensor x = upload(backend, x0, shape);
    LbfgsParams p = lbfgs_params(LineSearch::strong_wolfe, 100, 1000);
    p.tolerance_change = 1e-6;
    p.tolerance_window = 5;
    Lbfgs lbfgs(backend, shape, p);
    std::vector<double> losses;
    const OptimizeResult r = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor&) {
      losses.push_back(info.loss);
      return true;
    });
    CHECK(r.stop_reason == "loss change below tolerance");
    REQUIRE(r.iterations >= 5);
    const double f = losses.back(), old = losses[losses.size() - 6];
    CHECK(std::abs(f - old) <= 1e-6 * std::max(1.0, std::abs(f)));
    // It did not stop earlier: the window before the last was still moving.
    if (losses.size() >= 7) {
      const double f1 = losses[losses.size() - 2], old1 = losses[losses.size() - 7];
      CHECK(std::abs(f1 - old1) > 1e-6 * std::max(1.0, std::abs(f1)));
    }
  }
  SUBCASE("loss change below tolerance at checkpoints (artistic-videos' lbfgs.lua)") {
    // Rosenbrock (+ 10, so that relative changes shrink as it converges) without line search falls slowly and
    // unevenly, so the checkpoint rule and the sliding window stop at different iterations.
    HostObjective obj(backend, [](const Vec& v, Vec& g) { return 10.0 + rosenbrock(v, g); });
    SplitMix64 r10(3, 10);
    Vec start = uniform_vector(r10, 10, -2, 2);
    start[0] = std::abs(start[0]);
    Tensor x = upload(backend, start, vector_shape(10));
    LbfgsParams p = lbfgs_params(LineSearch::none, 100, 1000);
    p.learning_rate = 0.5;
    p.tolerance_change = 1e-2;
    p.tolerance_window = 5;
    p.tolerance_rule = LbfgsParams::ToleranceRule::checkpoints;
    Lbfgs lbfgs(backend, vector_shape(10), p);
    std::vector<double> losses;
    const OptimizeResult r = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor&) {
      losses.push_back(info.loss);
      return true;
    });
    // lbfgs.lua: `if nIter % interval == 0 then if f_past ~= nil and abs(f - f_past) / f_past < tol then break
    // end; f_past = f end`, replayed on the losses the run reported.
    int want = -1;
    double f_past = -1;
    for (int k = 1; k < int(losses.size()) && want < 0; ++k) {
      if (k % 5 != 0) continue;
      if (f_past >= 0 && std::abs(losses[std::size_t(k)] - f_past) / f_past < 1e-2) want = k;
      f_past = losses[std::size_t(k)];
    }
    CAPTURE(losses.size());
    CAPTURE(r.stop_reason);
    REQUIRE(want > 10);  // not the first possible checkpoint: the rule had something to decide
    CHECK(r.stop_reason == "loss change below tolerance");
    CHECK(r.iterations == want);
    // The sliding window over the same losses would have stopped elsewhere.
    int sliding = -1;
    for (int k = 5; k < int(losses.size()) && sliding < 0; ++k)
      if (std::abs(losses[std::size_t(k)] - losses[std::size_t(k - 5)]) <=
          1e-2 * std::max(1.0, std::abs(losses[std::size_t(k)])))
        sliding = k;
    CHECK(sliding != want);
  }
  SUBCASE("strong Wolfe: no step decreases f (a gradient of the wrong sign) -> no progress, x unchanged") {
    HostObjective obj(backend, [](const Vec& x, Vec& g) {
      double f = 0;
      for (std::size_t i = 0; i < x.size(); ++i) f += 0.5 * x[i] * x[i], g[i] = -x[i];
      return f;
    });
    Tensor x = upload(backend, x0, shape);
    const std::vector<float> start = backend.to_host(x);
    Lbfgs lbfgs(backend, shape, lbfgs_params(LineSearch::strong_wolfe));
    const OptimizeResult r = lbfgs.minimize(x, obj.objective());
    CHECK(r.stop_reason == "line search made no progress");
    CHECK(r.iterations == 0);
    CHECK(r.evaluations <= 1 + lbfgs.params().max_line_search_evals);
    CHECK(backend.to_host(x) == start);
  }
  SUBCASE("strong Wolfe: out of evaluations while extrapolating keeps the last (decreasing) step") {
    // f = −Σx is unbounded below: every trial satisfies Armijo with an unchanged slope, so the search extrapolates
    // (×10 per evaluation) until it runs out; y = 0, so the curvature guard drops every pair.
    HostObjective obj(backend, [](const Vec& x, Vec& g) {
      double f = 0;
      for (std::size_t i = 0; i < x.size(); ++i) f -= x[i], g[i] = -1;
      return f;
    });
    Tensor x = upload(backend, x0, shape);
    LbfgsParams p = lbfgs_params(LineSearch::strong_wolfe, 5, 3);
    p.max_line_search_evals = 3;
    Lbfgs lbfgs(backend, shape, p);
    std::vector<double> losses;
    const OptimizeResult r = lbfgs.minimize(x, obj.objective(), [&](const IterationInfo& info, const Tensor&) {
      losses.push_back(info.loss);
      return true;
    });
    CHECK(r.stop_reason == "max iterations");
    CHECK(r.evaluations == 1 + 3 * 3);
    CHECK(r.curvature_skips == 3);
    REQUIRE(losses.size() == 4);
    for (int k = 1; k < 4; ++k) CHECK(losses[k] < losses[k - 1]);
  }
  SUBCASE("max_iterations 0 evaluates the initial point only") {
    HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
    Tensor x = upload(backend, x0, shape);
    Lbfgs lbfgs(backend, shape, lbfgs_params(LineSearch::none, 10, 0));
    const OptimizeResult r = lbfgs.minimize(x, obj.objective());
    CHECK(r.stop_reason == "max iterations");
    CHECK(r.iterations == 0);
    CHECK(r.evaluations == 1);
  }
}

TEST_CASE("lbfgs: each minimize starts afresh, is deterministic and allocates no tensors") {
  CountingBackend backend;
  SplitMix64 rng(21, 0);
  const Quadratic q = dense_quadratic(30, 100, rng);
  const Vec x0 = uniform_vector(rng, q.n, -2, 2);
  const Shape shape = vector_shape(q.n);
  for (const auto& [ls, direction] : {std::pair{LineSearch::none, Direction::compact},
                                     std::pair{LineSearch::strong_wolfe, Direction::compact},
                                     std::pair{LineSearch::none, Direction::two_loop}}) {
    HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
    const int made = backend.allocations;
    LbfgsParams p = lbfgs_params(ls, 8, 25);
    p.direction = direction;
    Lbfgs lbfgs(backend, shape, p);
    // The allocations the header states: [S Y] with the candidate rows, the small-vector block, d, g, the last
    // good x (5), two more for strong Wolfe.
    CHECK(backend.allocations - made == 5 + (ls == LineSearch::strong_wolfe ? 2 : 0));
    Tensor x1 = upload(backend, x0, shape);
    Tensor x2 = upload(backend, x0, shape);
    const int before = backend.allocations;
    const OptimizeResult r1 = lbfgs.minimize(x1, obj.objective());
    const OptimizeResult r2 = lbfgs.minimize(x2, obj.objective());
    CAPTURE(std::string(name(ls))); CAPTURE(std::string(name(direction)));
    CHECK(backend.allocations == before);
    CHECK(r1.iterations == 25);
    CHECK(r1.evaluations == r2.evaluations);
    CHECK(r1.final_loss == r2.final_loss);
    CHECK(backend.to_host(x1) == backend.to_host(x2));
  }
  AdamParams ap;
  ap.max_iterations = 10;
  HostObjective obj(backend, [&q](const Vec& x, Vec& g) { return q(x, g); });
  Adam adam(backend, shape, ap);
  Tensor x = upload(backend, x0, shape);
  const int before = backend.allocations;
  adam.minimize(x, obj.objective());
  CHECK(backend.allocations == before);
}

// ---- arguments ------------------------------------------------------------------------------------------------------

TEST_CASE("optimizers: parameters are validated up front and errors name the parameter") {
  CpuBackend backend;
  const Shape shape = vector_shape(4);
  auto lbfgs_error = [&](const std::function<void(LbfgsParams&)>& edit) {
    LbfgsParams p;
    edit(p);
    try {
      Lbfgs lbfgs(backend, shape, p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(lbfgs_error([](LbfgsParams& p) { p.history = 0; }) ==
        "L-BFGS parameter history must be >= 1 (got 0)");
  CHECK(lbfgs_error([](LbfgsParams& p) { p.learning_rate = -1; }) ==
        "L-BFGS parameter learning_rate must be finite and > 0 (got -1)");
  CHECK(lbfgs_error([](LbfgsParams& p) { p.wolfe_c2 = 1e-4; }) ==
        "L-BFGS parameter wolfe_c2 must be in (wolfe_c1, 1) (got 0.0001)");
  CHECK(lbfgs_error([](LbfgsParams& p) { p.wolfe_c1 = 0.95; }) ==
        "L-BFGS parameter wolfe_c2 must be in (wolfe_c1, 1) (got 0.9)");
  CHECK(lbfgs_error([](LbfgsParams& p) { p.max_iterations = -1; }).find("max_iterations") != std::string::npos);
  CHECK(lbfgs_error([](LbfgsParams& p) { p.tolerance_change = -1e-3; }).find("tolerance_change") !=
        std::string::npos);
  CHECK(lbfgs_error([](LbfgsParams& p) { p.tolerance_window = 0; }).find("tolerance_window") != std::string::npos);
  CHECK(lbfgs_error([](LbfgsParams& p) { p.curvature_eps = -1; }).find("curvature_eps") != std::string::npos);
  CHECK(lbfgs_error([](LbfgsParams& p) { p.max_line_search_evals = 0; }).find("max_line_search_evals") !=
        std::string::npos);
  CHECK(lbfgs_error([](LbfgsParams& p) { p.direction = Direction(7); }) ==
        "L-BFGS parameter direction must be compact or two_loop (got 7)");
  CHECK(lbfgs_error([](LbfgsParams& p) { p.learning_rate = std::nan(""); }).find("learning_rate") !=
        std::string::npos);
  CHECK(lbfgs_error([](LbfgsParams&) {}) == "no error");

  auto adam_error = [&](const std::function<void(AdamParams&)>& edit) {
    AdamParams p;
    edit(p);
    try {
      Adam adam(backend, shape, p);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(adam_error([](AdamParams& p) { p.learning_rate = 0; }) ==
        "Adam parameter learning_rate must be finite and > 0 (got 0)");
  CHECK(adam_error([](AdamParams& p) { p.beta1 = 1; }) == "Adam parameter beta1 must be in [0, 1) (got 1)");
  CHECK(adam_error([](AdamParams& p) { p.beta2 = -0.5; }).find("beta2") != std::string::npos);
  CHECK(adam_error([](AdamParams& p) { p.eps = 0; }).find("eps") != std::string::npos);
  CHECK(adam_error([](AdamParams&) {}) == "no error");

  // A tensor of another shape, and a missing objective.
  Lbfgs lbfgs(backend, shape, LbfgsParams{});
  Tensor wrong = backend.zeros(vector_shape(5));
  HostObjective obj(backend, double_well);
  CHECK_THROWS_WITH_AS(lbfgs.minimize(wrong, obj.objective()),
                       "L-BFGS: x has shape (1,1,1,5) but the optimizer was made for (1,1,1,4)", Error);
  Tensor x = backend.zeros(shape);
  CHECK_THROWS_WITH_AS(lbfgs.minimize(x, Objective{}), "L-BFGS: no objective function given", Error);
  CHECK_THROWS_WITH_AS(Lbfgs(backend, Shape{0, 0, 0, 0}, LbfgsParams{}),
                       "L-BFGS: cannot optimize an empty tensor (0,0,0,0)", Error);
}
