// tests/cpu/test_photo.cpp — photorealistic transfer on the CPU backend (Luan et al. 2017, "Deep photo style
// transfer"). The matting Laplacian ops (matting_prepare, matting_loss: the matrix-free L·v of He, Sun & Tang 2010
// in kernels/matting.cuh) against a dense matrix built entry by entry in double from Levin, Lischinski & Weiss
// 2008, eq. 12 (3×3 windows centred at interior pixels), and against the Laplacian's properties: L·1 = 0, L
// annihilates affine functions of the guide as ε → 0, symmetry, positive semi-definiteness, and the gradient by
// central differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/finite_diff.hpp"

using namespace impasto;

// ---- matting Laplacian ----------------------------------------------------------------------------------------

namespace {

std::vector<float> uniform(std::size_t n, float lo, float hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(gen);
  return v;
}

// The inverse of a 3×3 matrix (row-major) by Gauss–Jordan elimination with partial pivoting, in double: an answer
// key independent of kernels/matting.cuh's adjugate.
void invert3(const double m[9], double inv[9]) {
  double a[3][6];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 6; ++c) a[r][c] = c < 3 ? m[r * 3 + c] : (c - 3 == r ? 1.0 : 0.0);
  for (int col = 0; col < 3; ++col) {
    int piv = col;
    for (int r = col + 1; r < 3; ++r)
      if (std::fabs(a[r][col]) > std::fabs(a[piv][col])) piv = r;
    for (int c = 0; c < 6; ++c) std::swap(a[col][c], a[piv][c]);
    const double d = a[col][col];
    for (int c = 0; c < 6; ++c) a[col][c] /= d;
    for (int r = 0; r < 3; ++r) {
      if (r == col) continue;
      const double f = a[r][col];
      for (int c = 0; c < 6; ++c) a[r][c] -= f * a[col][c];
    }
  }
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) inv[r * 3 + c] = a[r][c + 3];
}

// The dense matting Laplacian (N×N, N = H·W, row-major) of guide (3,H,W), entry by entry (Levin et al. 2008, eq. 12):
// L_ij = Σ_{k: i,j ∈ w_k} δ_ij − (1/9)(1 + (I_i − μ_k)ᵀ(Σ_k + ε/9·I₃)⁻¹(I_j − μ_k)), k over interior pixels.
std::vector<double> dense_laplacian(const std::vector<float>& guide, int h, int w, double eps) {
  const std::int64_t n = std::int64_t(h) * w;
  std::vector<double> lap(std::size_t(n * n), 0.0);
  for (int ki = 1; ki + 1 < h; ++ki)
    for (int kj = 1; kj + 1 < w; ++kj) {
      std::int64_t px[9];
      int q = 0;
      for (int di = -1; di <= 1; ++di)
        for (int dj = -1; dj <= 1; ++dj) px[q++] = std::int64_t(ki + di) * w + (kj + dj);
      double mu[3] = {0, 0, 0};
      for (int c = 0; c < 3; ++c) {
        for (const std::int64_t p : px) mu[c] += guide[std::size_t(c * n + p)];
        mu[c] /= 9.0;
      }
      double cov[9] = {};
      for (const std::int64_t p : px)
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b)
            cov[a * 3 + b] += (guide[std::size_t(a * n + p)] - mu[a]) * (guide[std::size_t(b * n + p)] - mu[b]) / 9.0;
      for (int a = 0; a < 3; ++a) cov[a * 3 + a] += eps / 9.0;
      double inv[9];
      invert3(cov, inv);
      for (const std::int64_t pi : px)
        for (const std::int64_t pj : px) {
          double quad = 0;
          for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b)
              quad += (guide[std::size_t(a * n + pi)] - mu[a]) * inv[a * 3 + b] *
                      (guide[std::size_t(b * n + pj)] - mu[b]);
          lap[std::size_t(pi * n + pj)] += (pi == pj ? 1.0 : 0.0) - (1.0 + quad) / 9.0;
        }
    }
  return lap;
}

// L·v_c for each of the C planes of v (C,H,W).
std::vector<double> dense_apply(const std::vector<double>& lap, const std::vector<float>& v, std::int64_t n) {
  std::vector<double> out(v.size(), 0.0);
  for (std::size_t c = 0; c < v.size() / std::size_t(n); ++c)
    for (std::int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < n; ++j) s += lap[std::size_t(i * n + j)] * v[c * std::size_t(n) + std::size_t(j)];
      out[c * std::size_t(n) + std::size_t(i)] = s;
    }
  return out;
}

// What the engine computes for guide (1,3,H,W) and v (1,C,H,W): L·v (the gradient of 0.5·vᵀLv added into a zeroed
// gradient) and the loss scale·Σ_c v_cᵀLv_c (the same call, scale 0.5, gives both).
struct EngineLv {
  std::vector<float> lv;
  double loss = 0;  // 0.5·Σ_c v_cᵀLv_c
};
EngineLv engine_lv(CpuBackend& be, const std::vector<float>& guide, const std::vector<float>& v, int c, int h, int w,
                   float eps) {
  const Tensor g = be.from_host(guide, Shape{1, 3, h, w});
  Tensor stats = be.empty(Shape{1, 15, h, w}), coef = be.empty(Shape{1, 4 * c, h, w});
  be.matting_prepare(g, eps, stats);
  Tensor grad = be.empty(Shape{1, c, h, w});
  be.fill(grad, 0.0f);
  EngineLv r;
  r.loss = be.matting_loss(be.from_host(v, Shape{1, c, h, w}), g, stats, 0.5f, coef, &grad);
  r.lv = be.to_host(grad);
  return r;
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}
std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// A guide as the engine sees a photo: 8-bit levels on a 0..1 scale, so flat windows (Σ = 0), windows of two
// colours (Σ of rank 1) and grey windows (R = G = B) occur, where (Σ + ε/9)⁻¹ reaches 9/ε.
std::vector<float> quantized_guide(int h, int w, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> step(0, 2);
  std::vector<float> g(std::size_t(3) * h * w);
  const std::int64_t n = std::int64_t(h) * w;
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) {
      const std::int64_t p = std::int64_t(i) * w + j;
      const int region = (i < h / 2 ? 0 : 1) + (j < w / 3 ? 0 : 2);  // four flat-ish regions
      const int level = 40 + 50 * region + (i % 4 == 0 ? step(gen) : 0);
      for (int c = 0; c < 3; ++c) {
        const int tint = region == 3 ? 0 : 7 * c * region;  // region 3 grey
        g[std::size_t(c * n + p)] = float(std::min(255, level + tint)) / 255.0f;
      }
    }
  return g;
}

struct Size {
  int h, w;
};
constexpr Size kSizes[] = {{3, 3}, {5, 7}, {12, 12}, {9, 11}};

}  // namespace

// L·v within 1e-4 of max|L·v| (float stats and coefficients, sums in double), the loss within 1e-5 of Σ|v_i·(Lv)_i|.
TEST_CASE("matting Laplacian: L·v and the loss match the dense matrix of Levin et al.'s eq. 12") {
  CpuBackend be;
  unsigned seed = 1;
  for (const double eps : {1e-3, 1e-7}) {
    for (const Size sz : kSizes) {
      for (const int c : {1, 3}) {
        CAPTURE(eps);
        CAPTURE(sz.h);
        CAPTURE(sz.w);
        CAPTURE(c);
        const std::int64_t n = std::int64_t(sz.h) * sz.w;
        const auto guide = uniform(std::size_t(3 * n), 0.0f, 1.0f, seed++);
        const auto v = uniform(std::size_t(c * n), 0.0f, 1.0f, seed++);
        const auto lap = dense_laplacian(guide, sz.h, sz.w, eps);
        const auto want = dense_apply(lap, v, n);
        const EngineLv got = engine_lv(be, guide, v, c, sz.h, sz.w, float(eps));
        CHECK_CLOSE(got.lv, to_float(want), 0.0, 1e-4 * max_abs(want));
        double vlv = 0, mag = 0;
        for (std::size_t i = 0; i < v.size(); ++i) {
          vlv += v[i] * want[i];
          mag += std::fabs(v[i] * want[i]);
        }
        CHECK(std::fabs(got.loss - 0.5 * vlv) <= 1e-5 * mag);
      }
    }
  }
}

// On an 8-bit guide (flat, two-colour and grey windows, where Σ is nearly singular and (Σ + ε/9)⁻¹ reaches 9/ε):
// L·v within 1e-6 of max|L·v| at ε = 1e-3 (measured 2.4e-7) and 2e-4 at ε = 1e-7 (measured 1.5–3.2e-5; an
// inverse stored in float would be off by ~2e-2, kernels/matting.cuh). An affine function of the guide stays in
// the null space: its L·v within 10× the dense matrix's (which is not 0 at ε > 0) plus 1e-5 of max|L·random|.
TEST_CASE("matting Laplacian: L·v on an 8-bit guide against the dense matrix") {
  CpuBackend be;
  for (const auto& [eps, tol] : {std::pair{1e-3, 1e-6}, std::pair{1e-7, 2e-4}}) {
    for (const Size sz : {Size{12, 12}, Size{16, 15}}) {
      CAPTURE(eps);
      CAPTURE(sz.h);
      const std::int64_t n = std::int64_t(sz.h) * sz.w;
      const auto guide = quantized_guide(sz.h, sz.w, 5);
      const auto v = uniform(std::size_t(3 * n), 0.0f, 1.0f, 9);
      const auto want = dense_apply(dense_laplacian(guide, sz.h, sz.w, eps), v, n);
      const EngineLv got = engine_lv(be, guide, v, 3, sz.h, sz.w, float(eps));
      const auto cmp = test::compare(got.lv, to_float(want), 0.0, tol * max_abs(want));
      MESSAGE("eps " << eps << ", " << sz.h << "x" << sz.w << ": max |L·v − dense| / max|L·v| = " << cmp.max_abs / max_abs(want));
      CHECK_CLOSE(got.lv, to_float(want), 0.0, tol * max_abs(want));
      std::vector<float> affine(static_cast<std::size_t>(n));
      for (std::int64_t p = 0; p < n; ++p)
        affine[std::size_t(p)] = 0.3f * guide[std::size_t(p)] - 0.5f * guide[std::size_t(n + p)] +
                                 0.8f * guide[std::size_t(2 * n + p)] + 0.1f;
      const double dense_affine = max_abs(dense_apply(dense_laplacian(guide, sz.h, sz.w, eps), affine, n));
      double got_affine = 0;
      for (float x : engine_lv(be, guide, affine, 1, sz.h, sz.w, float(eps)).lv)
        got_affine = std::max(got_affine, double(std::fabs(x)));
      MESSAGE("  max|L·affine|: engine " << got_affine << ", dense " << dense_affine);
      CHECK(got_affine <= 10.0 * dense_affine + 1e-5 * max_abs(want));
    }
  }
}

// Layout of stats and coef: border pixels 0 (written over NaN), interior μ and Δ = Σ + ε/9 as the reference (μ to
// 1e-7 absolute; Δ's high + low parts to 1e-12 of its largest entry, ε = 1e-3), coef's a = Δ⁻¹·cov(I, v) (by an
// independent Gauss–Jordan inverse, to 1e-5 of its largest entry) and its last plane per channel the window means
// of v.
TEST_CASE("matting Laplacian: stats and coef hold the window statistics, zeros on the border") {
  CpuBackend be;
  const int h = 6, w = 7, c = 2;
  const std::int64_t n = std::int64_t(h) * w;
  const auto guide = uniform(std::size_t(3 * n), 0.0f, 1.0f, 31);
  const auto v = uniform(std::size_t(c * n), -1.0f, 1.0f, 32);
  const Tensor g = be.from_host(guide, Shape{1, 3, h, w});
  Tensor stats = be.empty(Shape{1, 15, h, w}), coef = be.empty(Shape{1, 4 * c, h, w});
  be.fill(stats, std::nanf(""));
  be.fill(coef, std::nanf(""));
  const float eps = 1e-3f;
  be.matting_prepare(g, eps, stats);
  be.matting_loss(be.from_host(v, Shape{1, c, h, w}), g, stats, 1.0f, coef, nullptr);
  const auto st = be.to_host(stats), cf = be.to_host(coef);
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) {
      CAPTURE(i);
      CAPTURE(j);
      const std::int64_t p = std::int64_t(i) * w + j;
      const bool interior = i >= 1 && j >= 1 && i + 1 < h && j + 1 < w;
      if (!interior) {
        for (int q = 0; q < 15; ++q) CHECK(st[std::size_t(q * n + p)] == 0.0f);
        for (int q = 0; q < 4 * c; ++q) CHECK(cf[std::size_t(q * n + p)] == 0.0f);
        continue;
      }
      double mu[3] = {0, 0, 0}, cov[9] = {}, vbar[c] = {};
      for (int di = -1; di <= 1; ++di)
        for (int dj = -1; dj <= 1; ++dj) {
          const std::int64_t r = p + di * w + dj;
          for (int a = 0; a < 3; ++a) mu[a] += guide[std::size_t(a * n + r)] / 9.0;
          for (int ch = 0; ch < c; ++ch) vbar[ch] += v[std::size_t(ch * n + r)] / 9.0;
        }
      for (int di = -1; di <= 1; ++di)
        for (int dj = -1; dj <= 1; ++dj) {
          const std::int64_t r = p + di * w + dj;
          for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b)
              cov[a * 3 + b] += (guide[std::size_t(a * n + r)] - mu[a]) * (guide[std::size_t(b * n + r)] - mu[b]) / 9.0;
        }
      for (int a = 0; a < 3; ++a) cov[a * 3 + a] += eps / 9.0;
      double big = 0;
      for (double x : cov) big = std::max(big, std::fabs(x));
      const int entries[6][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 2}};  // xx, xy, xz, yy, yz, zz
      for (int a = 0; a < 3; ++a) CHECK(std::fabs(st[std::size_t(a * n + p)] - mu[a]) <= 1e-7);
      for (int q = 0; q < 6; ++q) {
        const double delta = double(st[std::size_t((3 + q) * n + p)]) + double(st[std::size_t((9 + q) * n + p)]);
        CHECK(std::fabs(delta - cov[entries[q][0] * 3 + entries[q][1]]) <= 1e-12 * big);
      }
      double inv[9];
      invert3(cov, inv);
      for (int ch = 0; ch < c; ++ch) {
        double civ[3] = {0, 0, 0}, a_ref[3] = {0, 0, 0}, a_big = 0;
        for (int di = -1; di <= 1; ++di)
          for (int dj = -1; dj <= 1; ++dj) {
            const std::int64_t r = p + di * w + dj;
            for (int a = 0; a < 3; ++a)
              civ[a] += (guide[std::size_t(a * n + r)] - mu[a]) * (v[std::size_t(ch * n + r)] - vbar[ch]) / 9.0;
          }
        for (int a = 0; a < 3; ++a) {
          for (int b = 0; b < 3; ++b) a_ref[a] += inv[a * 3 + b] * civ[b];
          a_big = std::max(a_big, std::fabs(a_ref[a]));
        }
        for (int a = 0; a < 3; ++a) CHECK(std::fabs(cf[std::size_t((4 * ch + a) * n + p)] - a_ref[a]) <= 1e-5 * a_big + 1e-7);
        CHECK(std::fabs(cf[std::size_t((4 * ch + 3) * n + p)] - vbar[ch]) <= 1e-7);
      }
    }
}

// L·1 = 0 exactly in the matrix (each window's row sums vanish); here to 1e-5 absolute with (L·v) ~ 1–5 for random
// v. An affine function of the guide is fitted exactly by every window's model up to the ε regularization: L·v
// below 1e-2 of max|L·random| at ε = 1e-3 (measured 3e-3) and 1e-5 at ε = 1e-7 (measured 3e-7).
TEST_CASE("matting Laplacian: constants and affine functions of the guide lie in its null space") {
  CpuBackend be;
  for (const Size sz : kSizes) {
    CAPTURE(sz.h);
    CAPTURE(sz.w);
    const std::int64_t n = std::int64_t(sz.h) * sz.w;
    const auto guide = uniform(std::size_t(3 * n), 0.0f, 1.0f, 41);
    std::vector<float> constant(std::size_t(3 * n), 0.7f), affine(static_cast<std::size_t>(n));
    for (std::int64_t p = 0; p < n; ++p)
      affine[std::size_t(p)] = 0.3f * guide[std::size_t(p)] - 0.5f * guide[std::size_t(n + p)] +
                               0.8f * guide[std::size_t(2 * n + p)] + 0.1f;
    const auto random = uniform(std::size_t(n), 0.0f, 1.0f, 42);
    for (const auto& [eps, rel] : {std::pair{1e-3f, 1e-2}, std::pair{1e-7f, 1e-5}}) {
      CAPTURE(eps);
      const EngineLv lc = engine_lv(be, guide, constant, 3, sz.h, sz.w, eps);
      for (float x : lc.lv) CHECK(std::fabs(x) <= 1e-5f);
      CHECK(std::fabs(lc.loss) <= 1e-5);
      const EngineLv la = engine_lv(be, guide, affine, 1, sz.h, sz.w, eps);
      const EngineLv lr = engine_lv(be, guide, random, 1, sz.h, sz.w, eps);
      double max_affine = 0, max_random = 0;
      for (float x : la.lv) max_affine = std::max(max_affine, double(std::fabs(x)));
      for (float x : lr.lv) max_random = std::max(max_random, double(std::fabs(x)));
      INFO("max|L·affine| " << max_affine << ", max|L·random| " << max_random);
      CHECK(max_random > 0.1);
      CHECK(max_affine <= rel * max_random);
    }
  }
}

// uᵀLv = vᵀLu to 1e-6 of Σ|u_i·(Lv)_i|; vᵀLv >= −1e-7 of Σ|v_i·(Lv)_i| (each window adds I − (1/9)(11ᵀ + ...), a
// positive semi-definite block, Levin et al. 2008 Sec. 3), also for v close to an affine function of the guide.
TEST_CASE("matting Laplacian: symmetric and positive semi-definite") {
  CpuBackend be;
  unsigned seed = 50;
  for (const float eps : {1e-3f, 1e-7f}) {
    for (const Size sz : kSizes) {
      CAPTURE(eps);
      CAPTURE(sz.h);
      CAPTURE(sz.w);
      const std::int64_t n = std::int64_t(sz.h) * sz.w;
      const auto guide = uniform(std::size_t(3 * n), 0.0f, 1.0f, seed++);
      const auto u = uniform(std::size_t(3 * n), -1.0f, 1.0f, seed++);
      const auto v = uniform(std::size_t(3 * n), -1.0f, 1.0f, seed++);
      const EngineLv lu = engine_lv(be, guide, u, 3, sz.h, sz.w, eps);
      const EngineLv lv = engine_lv(be, guide, v, 3, sz.h, sz.w, eps);
      double ulv = 0, vlu = 0, mag = 0, vlv_mag = 0;
      for (std::size_t i = 0; i < u.size(); ++i) {
        ulv += double(u[i]) * lv.lv[i];
        vlu += double(v[i]) * lu.lv[i];
        mag += std::fabs(double(u[i]) * lv.lv[i]);
        vlv_mag += std::fabs(double(v[i]) * lv.lv[i]);
      }
      CHECK(std::fabs(ulv - vlu) <= 1e-6 * mag);
      CHECK(lv.loss >= -1e-7 * vlv_mag);
      // Nearly in the null space: an affine function of the guide plus a small perturbation.
      std::vector<float> near(v.size());
      for (std::int64_t p = 0; p < n; ++p)
        for (int c = 0; c < 3; ++c)
          near[std::size_t(c * n + p)] =
              0.5f * guide[std::size_t(((c + 1) % 3) * n + p)] + 1e-3f * v[std::size_t(c * n + p)];
      const EngineLv ln = engine_lv(be, guide, near, 3, sz.h, sz.w, eps);
      double near_mag = 0;
      for (std::size_t i = 0; i < near.size(); ++i) near_mag += std::fabs(double(near[i]) * ln.lv[i]);
      CHECK(ln.loss >= -1e-7 * near_mag);
    }
  }
}

// The loss is quadratic, so central differences are exact up to rounding; the loss values are ~1–50 and the
// difference 2ε·<g, d> with ε = 1e-2 along unit-scale directions, so 1e-4 relative leaves room for float inputs.
// The gradient accumulates into what grad held.
TEST_CASE("matting Laplacian: gradient by central differences") {
  CpuBackend be;
  for (const float eps : {1e-3f, 1e-7f}) {
    for (const Size sz : {Size{5, 7}, Size{9, 11}}) {
      CAPTURE(eps);
      CAPTURE(sz.h);
      const int c = 3;
      const Shape vs{1, c, sz.h, sz.w};
      const std::int64_t n = vs.plane();
      const auto guide = uniform(std::size_t(3 * n), 0.0f, 1.0f, 61);
      const auto x0 = uniform(std::size_t(c * n), 0.0f, 1.0f, 62);
      const auto g0 = uniform(std::size_t(c * n), -1.0f, 1.0f, 63);
      const Tensor g = be.from_host(guide, Shape{1, 3, sz.h, sz.w});
      Tensor stats = be.empty(Shape{1, 15, sz.h, sz.w}), coef = be.empty(Shape{1, 4 * c, sz.h, sz.w});
      be.matting_prepare(g, eps, stats);
      const float scale = 0.37f;
      Tensor grad = be.from_host(g0, vs);
      be.matting_loss(be.from_host(x0, vs), g, stats, scale, coef, &grad);
      std::vector<float> dg = be.to_host(grad);
      for (std::size_t i = 0; i < dg.size(); ++i) dg[i] -= g0[i];  // what the call added
      for (unsigned k = 0; k < 3; ++k) {
        const auto dir = uniform(x0.size(), -1.0f, 1.0f, 70 + k);
        const auto d = test::directional_derivative(x0, dg, dir, 1e-2f, [&](const std::vector<float>& x) {
          return be.matting_loss(be.from_host(x, vs), g, stats, scale, coef, nullptr);
        });
        INFO("finite difference " << d.finite_difference << ", backward " << d.backward);
        CHECK(std::fabs(d.finite_difference - d.backward) <= 1e-4 * std::fabs(d.backward) + 1e-6);
      }
    }
  }
}

TEST_CASE("matting Laplacian: the loss defers like tv_loss") {
  CpuBackend be;
  const int h = 5, w = 6;
  const std::int64_t n = std::int64_t(h) * w;
  const Tensor g = be.from_host(uniform(std::size_t(3 * n), 0.0f, 1.0f, 81), Shape{1, 3, h, w});
  const Tensor v = be.from_host(uniform(std::size_t(3 * n), 0.0f, 1.0f, 82), Shape{1, 3, h, w});
  Tensor stats = be.empty(Shape{1, 15, h, w}), coef = be.empty(Shape{1, 12, h, w});
  be.matting_prepare(g, 1e-7f, stats);
  const double direct = be.matting_loss(v, g, stats, 2.0f, coef, nullptr);
  CHECK(direct > 0.0);
  be.begin_deferred();
  CHECK(be.matting_loss(v, g, stats, 2.0f, coef, nullptr) == 0.0);
  double out[Backend::kMaxDeferred];
  REQUIRE(be.take_deferred(out) == 1);
  CHECK(out[0] == direct);
}

TEST_CASE("matting Laplacian: shape, size and argument errors are one-line Errors") {
  CpuBackend be;
  const int h = 5, w = 6;
  Tensor g = be.empty(Shape{1, 3, h, w}), v = be.empty(Shape{1, 3, h, w});
  be.fill(g, 0.5f);
  be.fill(v, 0.5f);
  Tensor stats = be.empty(Shape{1, 15, h, w}), coef = be.empty(Shape{1, 12, h, w});
  be.matting_prepare(g, 1e-7f, stats);
  CHECK_NOTHROW(be.matting_loss(v, g, stats, 1.0f, coef, nullptr));

  Tensor stats8 = be.empty(Shape{1, 9, h, w}), stats_w = be.empty(Shape{1, 15, h, w + 1});
  CHECK_THROWS_WITH_AS(be.matting_prepare(g, 1e-7f, stats8), doctest::Contains("stats has shape (1,9,5,6)"), Error);
  CHECK_THROWS_WITH_AS(be.matting_prepare(g, 1e-7f, stats_w), doctest::Contains("expected (1,15,5,6)"), Error);
  CHECK_THROWS_WITH_AS(be.matting_loss(v, g, stats8, 1.0f, coef, nullptr), doctest::Contains("stats"), Error);
  CHECK_THROWS_WITH_AS(be.matting_prepare(g, 0.0f, stats), doctest::Contains("eps"), Error);
  CHECK_THROWS_WITH_AS(be.matting_prepare(g, std::nanf(""), stats), doctest::Contains("eps"), Error);

  Tensor coef4 = be.empty(Shape{1, 4, h, w}), coef11 = be.empty(Shape{1, 11, h, w});
  CHECK_THROWS_WITH_AS(be.matting_loss(v, g, stats, 1.0f, coef4, nullptr),
                       doctest::Contains("coef has shape (1,4,5,6), expected (1,12,5,6)"), Error);
  CHECK_THROWS_WITH_AS(be.matting_loss(v, g, stats, 1.0f, coef11, nullptr), doctest::Contains("coef"), Error);

  for (const Shape small : {Shape{1, 3, 2, 6}, Shape{1, 3, 5, 2}, Shape{1, 3, 1, 1}}) {
    CAPTURE(small.str());
    const Tensor gs = be.empty(small);
    Tensor ss = be.empty(Shape{1, 15, small.h, small.w}), cs = be.empty(Shape{1, 12, small.h, small.w});
    const Tensor vs = be.empty(Shape{1, 3, small.h, small.w});
    CHECK_THROWS_WITH_AS(be.matting_prepare(gs, 1e-7f, ss), doctest::Contains("smaller than one 3x3"), Error);
    CHECK_THROWS_WITH_AS(be.matting_loss(vs, gs, ss, 1.0f, cs, nullptr), doctest::Contains("smaller than one 3x3"),
                         Error);
  }
  const Tensor g1 = be.empty(Shape{1, 1, h, w});
  CHECK_THROWS_WITH_AS(be.matting_prepare(g1, 1e-7f, stats), doctest::Contains("expected (1,3,H,W)"), Error);
  const Tensor v_other = be.empty(Shape{1, 3, h + 1, w});
  CHECK_THROWS_WITH_AS(be.matting_loss(v_other, g, stats, 1.0f, coef, nullptr),
                       doctest::Contains("differ in height or width"), Error);
  Tensor grad_bad = be.empty(Shape{1, 2, h, w});
  CHECK_THROWS_WITH_AS(be.matting_loss(v, g, stats, 1.0f, coef, &grad_bad), doctest::Contains("grad has shape"), Error);
  Tensor v_alias = v;
  CHECK_THROWS_WITH_AS(be.matting_loss(v, g, stats, 1.0f, coef, &v_alias), doctest::Contains("grad must not overlap v"),
                       Error);
  Tensor both = be.empty(Shape{1, 1, 1, 12 * h * w});  // coef and v overlapping in one buffer
  Tensor coef_over = both.slice(0, Shape{1, 12, h, w});
  CHECK_THROWS_WITH_AS(be.matting_loss(both.slice(0, Shape{1, 3, h, w}), g, stats, 1.0f, coef_over, nullptr),
                       doctest::Contains("coef must not overlap v"), Error);
  CHECK_THROWS_WITH_AS(be.matting_prepare(g.with_layout(Layout::nhwc), 1e-7f, stats), doctest::Contains("NCHW"), Error);
}
