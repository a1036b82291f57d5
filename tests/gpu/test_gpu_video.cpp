// tests/gpu/test_gpu_video.cpp — the video ops (warp, consistency, gaussian_blur; Ruder et al. 2016) on the
// CUDA backend against the CPU backend, on fresh seeded random inputs at odd and real frame sizes. Outputs are
// poisoned with NaN first, so an element the GPU forgets to write fails (non-finite).
//
// Tolerances (same shared math, kernels/warp.cuh, on both sides; nvcc contracts a·b + c into FMA, the host
// compiler does not, so results differ by an ulp or two):
//   warp: rtol 1e-5, atol 1e-5·max — bilinear weights and two lerps per sample;
//   gaussian_blur: rtol 1e-5, atol 1e-6·max — a ≤ 61-tap sum and one division;
//   consistency: the output is discrete (−1, 0, 1); a pixel whose test value lies within an ulp of a
//     threshold may flip, so at most 1 pixel in 10⁴ may differ (random smooth flows put essentially none there).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/backend_factory.hpp"
#include "tests/support/compare.hpp"

namespace impasto {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct Env {
  std::unique_ptr<Backend> cpu = make_backend(Device::cpu), gpu = make_backend(Device::cuda);
  std::mt19937 rng{1234};
  std::vector<float> uniform(std::int64_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
  }
  // A smooth random flow (1,2,H,W): a few sinusoids of amplitude `amp` pixels plus a constant drift, so that
  // some sources leave the frame and the forward-backward test sees both consistent and inconsistent pixels.
  std::vector<float> smooth_flow(int h, int w, float amp) {
    std::uniform_real_distribution<float> d(0.0f, 1.0f);
    std::vector<float> f(std::size_t(2) * h * w);
    for (int c = 0; c < 2; ++c) {
      const float fx = 0.02f + 0.1f * d(rng), fy = 0.02f + 0.1f * d(rng), ph = 6.28f * d(rng), drift = amp * (d(rng) - 0.5f);
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < w; ++j) f[std::size_t((c * h + i) * w + j)] = drift + amp * std::sin(fx * j + fy * i + ph);
    }
    return f;
  }
  Tensor poisoned(Backend& b, Shape s) {
    Tensor t = b.empty(s);
    b.fill(t, kNaN);
    return t;
  }
};

Env& env() {
  static Env e;
  return e;
}

void check_close(const std::string& what, const Tensor& gpu, const Tensor& cpu, double rtol, double atol_of_max) {
  const std::vector<float> a = env().gpu->to_host(gpu), b = env().cpu->to_host(cpu);
  double max_ref = 0.0;
  for (float v : b) max_ref = std::max(max_ref, std::fabs(double(v)));
  INFO(what);
  CHECK_CLOSE(a, b, rtol, atol_of_max * max_ref + 1e-30);
}

const Shape kSizes[] = {{1, 3, 1, 1}, {1, 3, 37, 53}, {1, 3, 288, 512}, {1, 3, 576, 768}};

}  // namespace

TEST_CASE("gpu video: warp matches the CPU backend") {
  Env& e = env();
  for (const Shape s : kSizes) {
    const auto xv = e.uniform(s.numel(), -120, 130);
    const auto fv = e.smooth_flow(s.h, s.w, 6.0f);
    const std::vector<float> fill{1.5f, -2.5f, 3.5f};
    const Shape fs{1, 2, s.h, s.w}, ps{1, 3, 1, 1};
    Tensor xc = e.cpu->from_host(xv, s), xg = e.gpu->from_host(xv, s);
    Tensor fc = e.cpu->from_host(fv, fs), fg = e.gpu->from_host(fv, fs);
    Tensor lc = e.cpu->from_host(fill, ps), lg = e.gpu->from_host(fill, ps);
    Tensor yc = e.poisoned(*e.cpu, s), yg = e.poisoned(*e.gpu, s);
    e.cpu->warp(xc, fc, lc, yc);
    e.gpu->warp(xg, fg, lg, yg);
    check_close("warp " + s.str(), yg, yc, 1e-5, 1e-5);
  }
}

TEST_CASE("gpu video: consistency matches the CPU backend") {
  Env& e = env();
  for (const Shape s0 : kSizes) {
    const Shape fs{1, 2, s0.h, s0.w}, cs{1, 1, s0.h, s0.w};
    const auto fwd = e.smooth_flow(s0.h, s0.w, 4.0f);
    auto bwd = e.smooth_flow(s0.h, s0.w, 1.0f);  // bwd ≈ −fwd + a smooth disturbance
    for (std::size_t k = 0; k < bwd.size(); ++k) bwd[k] -= fwd[k];
    Tensor fc = e.cpu->from_host(fwd, fs), fg = e.gpu->from_host(fwd, fs);
    Tensor bc = e.cpu->from_host(bwd, fs), bg = e.gpu->from_host(bwd, fs);
    Tensor cc = e.poisoned(*e.cpu, cs), cg = e.poisoned(*e.gpu, cs);
    e.cpu->consistency(fc, bc, cc);
    e.gpu->consistency(fg, bg, cg);
    const auto a = e.gpu->to_host(cg), b = e.cpu->to_host(cc);
    std::size_t differ = 0, finite = 0, occluded = 0, reliable = 0;
    for (std::size_t k = 0; k < a.size(); ++k) {
      differ += a[k] != b[k];
      finite += std::isfinite(a[k]);
      occluded += b[k] < 0;
      reliable += b[k] > 0;
    }
    INFO("consistency " << s0.str() << ": " << differ << " of " << a.size() << " pixels differ; cpu: " << occluded
                        << " occluded, " << reliable << " reliable");
    CHECK(finite == a.size());
    CHECK(differ <= a.size() / 10000);
  }
}

TEST_CASE("gpu video: gaussian_blur matches the CPU backend (also in place)") {
  Env& e = env();
  for (const float sigma : {0.8f, 2.5f}) {
    for (const Shape s0 : kSizes) {
      const Shape s{1, 2, s0.h, s0.w};
      const auto xv = e.uniform(s.numel(), -1, 1);
      Tensor xc = e.cpu->from_host(xv, s), xg = e.gpu->from_host(xv, s);
      Tensor tc = e.poisoned(*e.cpu, s), tg = e.poisoned(*e.gpu, s);
      Tensor yc = e.poisoned(*e.cpu, s), yg = e.poisoned(*e.gpu, s);
      e.cpu->gaussian_blur(xc, sigma, tc, yc);
      e.gpu->gaussian_blur(xg, sigma, tg, yg);
      check_close("gaussian_blur sigma " + std::to_string(sigma) + " " + s.str(), yg, yc, 1e-5, 1e-6);
      e.gpu->gaussian_blur(xg, sigma, tg, xg);  // y == x
      check_close("gaussian_blur in place " + s.str(), xg, yc, 1e-5, 1e-6);
    }
  }
}

}  // namespace impasto
