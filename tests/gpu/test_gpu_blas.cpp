// tests/gpu/test_gpu_blas.cpp — the dense history products (gemm_nt, gemv_t) and the compact L-BFGS built on them
// (Byrd, Nocedal & Schnabel 1994, eq. 2.6; engine/lbfgs_history.cpp) on the CUDA backend against the CPU backend
// (the answer key), on fresh seeded random inputs: odd sizes, the history sizes L-BFGS uses (m = 100 rows) and a
// 512² RGB image's length (n = 786432). Outputs that an op overwrites are poisoned with NaN first.
//
// Tolerances (per element; Σ|terms| = Σ_j |a_ij·x_j| of that output, computed in double on the host):
//   gemm_nt, gemv_t, fp32: |gpu − cpu| <= 1e-5·Σ|terms| + 1e-6·|β·y0| — both sum n float products in float, in
//     different orders (OpenBLAS blocking; on the device kernels/blas.cu's column chunks for ≤ 4 right-hand rows,
//     cuBLAS for more); each is within a few float ulps of
//     Σ|terms| of the exact value (the CPU is checked against double in tests/cpu/test_lbfgs_compact.cpp).
//   gemm_nt, gemv_t, tf32: the same bound — the ops switch the cuBLAS handle to fp32 math for their call (a TF32
//     product would be off by ~1e-3·Σ|terms| and fail) and restore TF32 after it (the backend's precision()
//     is checked; the handle's mode itself is not observable from here).
//   L-BFGS direction from the same pairs on both backends (from the offer's products and from its own):
//     ‖Δd‖/‖d‖ <= 1e-5 — the product differences above
//     carried through the triangular solves with R (condition ≈ 100 here) in double.
//   L-BFGS iterates, 10 iterations on a quadratic: ‖Δx‖/‖x‖ <= 1e-4, same evaluation count.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/backend_factory.hpp"
#include "engine/optimizer.hpp"

namespace impasto {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr Precision kPrecisions[] = {Precision::fp32, Precision::tf32};

Shape vec(std::int64_t n) { return Shape{1, 1, 1, int(n)}; }

class Env {
 public:
  Env() : cpu_(make_backend(Device::cpu)), gpu_(make_backend(Device::cuda)) {}
  Backend& cpu() { return *cpu_; }
  Backend& gpu() { return *gpu_; }
  std::vector<float> normal(std::int64_t n) {
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = d(rng_);
    return v;
  }

 private:
  std::unique_ptr<Backend> cpu_, gpu_;
  std::mt19937 rng_{20240611};
};

double relative_distance(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    diff += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    norm += double(b[i]) * b[i];
  }
  return std::sqrt(diff / norm);
}

// Counts elements outside |got − want| <= 1e-5·magnitude + 1e-6·|extra| (non-finite counts as outside).
int violations(const std::vector<float>& got, const std::vector<float>& want, const std::vector<double>& magnitude,
               const std::vector<double>& extra) {
  int bad = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double err = std::abs(double(got[i]) - want[i]);
    if (!(err <= 1e-5 * magnitude[i] + 1e-6 * std::abs(extra[i]))) ++bad;
  }
  return bad;
}

}  // namespace

TEST_CASE("gpu gemm_nt and gemv_t match the CPU in fp32 and tf32") {
  Env env;
  struct Case {
    int rows, n, rhs;  // history rows, row length, right-hand rows of gemm_nt
  };
  for (const Case c : {Case{1, 1, 1}, Case{3, 33, 3}, Case{17, 4099, 1}, Case{200, 4099, 3}, Case{200, 49152, 3},
                       Case{8, 3 * 512 * 512, 3}, Case{40, 3 * 512 * 512, 1},
                       Case{9, 1001, 6} /* cuBLAS */, Case{5, 70001, 4}}) {
    const std::vector<float> a = env.normal(std::int64_t(c.rows) * c.n);
    const std::vector<float> xn = env.normal(std::int64_t(c.rhs) * c.n), xr = env.normal(c.rows),
                             y0 = env.normal(c.n);
    const Shape as{1, 1, c.rows, c.n}, xs{1, 1, c.rhs, c.n};
    const Tensor a_cpu = env.cpu().from_host(a, as), a_gpu = env.gpu().from_host(a, as);
    const Tensor xn_cpu = env.cpu().from_host(xn, xs), xn_gpu = env.gpu().from_host(xn, xs);
    const Tensor xr_cpu = env.cpu().from_host(xr, vec(c.rows)), xr_gpu = env.gpu().from_host(xr, vec(c.rows));
    // Σ|terms| per output, in double.
    std::vector<double> prod_mag(std::size_t(c.rhs) * c.rows, 0.0), col_mag(std::size_t(c.n), 0.0);
    for (int i = 0; i < c.rows; ++i)
      for (int j = 0; j < c.n; ++j) {
        const double aij = std::abs(double(a[std::size_t(i) * c.n + j]));
        for (int r = 0; r < c.rhs; ++r)
          prod_mag[std::size_t(r) * c.rows + i] += aij * std::abs(double(xn[std::size_t(r) * c.n + j]));
        col_mag[std::size_t(j)] += 1.5 * aij * std::abs(double(xr[std::size_t(i)]));
      }

    const Shape cs{1, 1, c.rhs, c.rows};
    Tensor c_cpu = env.cpu().empty(cs);
    env.cpu().gemm_nt(xn_cpu, a_cpu, c_cpu);
    const std::vector<float> want = env.cpu().to_host(c_cpu);
    std::vector<float> want_t[2];  // beta = 0, 0.5
    for (int b = 0; b < 2; ++b) {
      Tensor yt = env.cpu().from_host(y0, vec(c.n));
      env.cpu().gemv_t(a_cpu, xr_cpu, -1.5f, b ? 0.5f : 0.0f, yt);
      want_t[b] = env.cpu().to_host(yt);
    }

    for (const Precision p : kPrecisions) {
      env.gpu().set_precision(p);
      CAPTURE(c.rows); CAPTURE(c.n); CAPTURE(c.rhs); CAPTURE(std::string(p == Precision::fp32 ? "fp32" : "tf32"));
      Tensor prod = env.gpu().empty(cs);
      env.gpu().fill(prod, kNaN);  // beta = 0 must not read C
      env.gpu().gemm_nt(xn_gpu, a_gpu, prod);
      CHECK(violations(env.gpu().to_host(prod), want, prod_mag, std::vector<double>(want.size(), 0.0)) == 0);
      for (int b = 0; b < 2; ++b) {
        CAPTURE(b);
        Tensor yt = env.gpu().from_host(y0, vec(c.n));
        if (b == 0) env.gpu().fill(yt, kNaN);  // beta = 0 must not read y
        env.gpu().gemv_t(a_gpu, xr_gpu, -1.5f, b ? 0.5f : 0.0f, yt);
        std::vector<double> extra(y0.begin(), y0.end());
        for (double& e : extra) e *= b ? 0.5 : 0.0;
        CHECK(violations(env.gpu().to_host(yt), want_t[b], col_mag, extra) == 0);
      }
      CHECK(env.gpu().precision() == p);
    }
  }
}

TEST_CASE("gpu lbfgs history: the compact direction matches the CPU on the same pairs") {
  Env env;
  const Shape shape{1, 3, 37, 41};  // n = 4551
  const int capacity = 6;
  std::vector<double> lambda(std::size_t(shape.numel()));
  {
    std::uniform_real_distribution<double> u(1, 100);
    std::mt19937 rng(7);
    for (double& l : lambda) l = u(rng);
  }
  detail::LbfgsHistory cpu(env.cpu(), shape, capacity, 1e-10), gpu(env.gpu(), shape, capacity, 1e-10);
  Tensor g_cpu = env.cpu().empty(shape), d_cpu = env.cpu().empty(shape);
  Tensor g_gpu = env.gpu().empty(shape), d_gpu = env.gpu().empty(shape);
  for (int pair = 1; pair <= 10; ++pair) {  // 10 pairs into 6 rows: the ring wraps; every 4th is rejected
    const bool bad = pair % 4 == 0;
    const std::vector<float> s = env.normal(shape.numel());
    std::vector<float> y(s.size());
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = float((bad ? -1 : 1) * lambda[i] * s[i]);
    env.cpu().upload(s.data(), cpu.candidate_s());
    env.cpu().upload(y.data(), cpu.candidate_y());
    env.gpu().upload(s.data(), gpu.candidate_s());
    env.gpu().upload(y.data(), gpu.candidate_y());
    CAPTURE(pair);
    const std::vector<float> g = env.normal(shape.numel());
    env.cpu().upload(g.data(), g_cpu);
    env.gpu().upload(g.data(), g_gpu);
    CHECK(cpu.offer(g_cpu) == !bad);
    CHECK(gpu.offer(g_gpu) == !bad);
    CHECK(gpu.size() == cpu.size());

    // From the offer's products (next_direction) and from the direction's own GEMM (direction).
    cpu.direction(g_cpu, d_cpu, LbfgsParams::Direction::compact);
    const std::vector<float> want = env.cpu().to_host(d_cpu);
    env.gpu().fill(d_gpu, kNaN);
    gpu.next_direction(d_gpu, LbfgsParams::Direction::compact);
    CHECK(relative_distance(env.gpu().to_host(d_gpu), want) <= 1e-5);
    env.gpu().fill(d_gpu, kNaN);
    gpu.direction(g_gpu, d_gpu, LbfgsParams::Direction::compact);
    CHECK(relative_distance(env.gpu().to_host(d_gpu), want) <= 1e-5);
  }
}

TEST_CASE("gpu lbfgs: 10 iterations on a quadratic follow the CPU's iterates") {
  Env env;
  // fp32, as the CPU: under TF32/bf16 line search `none` takes a longer first step (engine/lbfgs.cpp), and this
  // test compares the optimizer's algebra on the two backends, not the precision modes.
  env.gpu().set_precision(Precision::fp32);
  const Shape shape{1, 3, 32, 32};
  const auto n = std::size_t(shape.numel());
  std::vector<double> lambda(n), target(n);
  {
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> u(0, 1);
    for (std::size_t i = 0; i < n; ++i) lambda[i] = std::pow(100.0, u(rng)), target[i] = 2 * u(rng) - 1;
  }
  const std::vector<float> x0 = env.normal(shape.numel());
  std::vector<std::vector<float>> iterates[2];
  OptimizeResult results[2];
  for (const int on_gpu : {0, 1}) {
    Backend& b = on_gpu ? env.gpu() : env.cpu();
    std::vector<float> xh(n), gh(n);
    // f = ½ Σ λ_i (x_i − t_i)², evaluated on the host.
    const Objective f = [&](const Tensor& x, Tensor& grad) {
      b.download(x, xh.data());
      double loss = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double r = xh[i] - target[i];
        gh[i] = float(lambda[i] * r);
        loss += 0.5 * lambda[i] * r * r;
      }
      b.upload(gh.data(), grad);
      return loss;
    };
    LbfgsParams p;
    p.history = 5;
    p.max_iterations = 10;
    p.line_search = LbfgsParams::LineSearch::none;
    Lbfgs lbfgs(b, shape, p);
    Tensor x = b.from_host(x0, shape);
    results[on_gpu] = lbfgs.minimize(x, f, [&](const IterationInfo&, const Tensor& xx) {
      iterates[on_gpu].push_back(b.to_host(xx));
      return true;
    });
  }
  CHECK(results[1].evaluations == results[0].evaluations);
  REQUIRE(iterates[1].size() == iterates[0].size());
  for (std::size_t k = 0; k < iterates[0].size(); ++k) {
    CAPTURE(k);
    CHECK(relative_distance(iterates[1][k], iterates[0][k]) <= 1e-4);
  }
}

TEST_CASE("gpu lbfgs: the optimizer's recorded work (no line search) replays what the eager run computes") {
  // The same run on two CUDA backends, one recording (the default), one eager (IMPASTO_CUDA_GRAPHS=0): the step
  // and pair work around each evaluation is recorded at its second run with the same key and replayed after,
  // so the iterates must agree bit for bit. Then the workspace moves (a larger reservation) and a second run
  // re-records instead of replaying graphs that point into the freed block (CudaBackend::replay asserts that).
  std::unique_ptr<Backend> backends[2];
  backends[0] = make_backend(Device::cuda);
  setenv("IMPASTO_CUDA_GRAPHS", "0", 1);
  backends[1] = make_backend(Device::cuda);
  unsetenv("IMPASTO_CUDA_GRAPHS");
  const Shape shape{1, 3, 32, 32};
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> weight(std::size_t(shape.numel())), target(weight.size()), x0(weight.size());
  for (std::size_t i = 0; i < weight.size(); ++i)
    weight[i] = std::pow(100.0f, u(rng)), target[i] = 2 * u(rng) - 1, x0[i] = 2 * u(rng) - 1;
  std::vector<std::vector<float>> iterates[2];
  int replays[2] = {0, 0};
  for (int eager : {0, 1}) {
    Backend& b = *backends[eager];
    b.set_precision(Precision::fp32);
    const Tensor w = b.from_host(weight, shape), t = b.from_host(target, shape);
    // f = ½ Σ w (x − t)², queued on the device (its value comes back with the optimizer's scalars).
    const QueuedObjective f{[&](const Tensor& x, Tensor& grad) {
                              b.begin_deferred();
                              b.fill(grad, 0.0f);
                              (void)b.sq_diff_loss(x, t, &w, 0.5f, &grad);
                            },
                            [](const double* values) { return values[0]; }};
    LbfgsParams p;
    p.history = 3;
    p.max_iterations = 12;
    p.line_search = LbfgsParams::LineSearch::none;
    Lbfgs lbfgs(b, shape, p);
    for (int run = 0; run < 2; ++run) {
      if (run == 1) b.reserve_workspace(std::size_t(64) << 20);  // the workspace moves
      Tensor x = b.from_host(x0, shape);
      const OptimizeResult r = lbfgs.minimize(x, f, [&](const IterationInfo&, const Tensor& xx) {
        iterates[eager].push_back(b.to_host(xx));
        return true;
      });
      CHECK(r.iterations == 12);
    }
    replays[eager] = lbfgs.replays();
  }
  MESSAGE("optimizer work replayed " << replays[0] << " times in 2 × 12 iterations");
  CHECK(replays[0] >= 2 * 10);  // from the third iteration on, the step work at least, in each run
  CHECK(replays[1] == 0);
  REQUIRE(iterates[0].size() == iterates[1].size());
  for (std::size_t k = 0; k < iterates[0].size(); ++k) {
    CAPTURE(k);
    CHECK(iterates[0][k] == iterates[1][k]);
  }
}

}  // namespace impasto
