// tests/emu/test_kernels_emulated.cpp — every custom CUDA kernel of kernels/*.cu, run on the CPU by the kernel
// emulator (tests/emu: each CUDA thread a fiber, real barriers and warp shuffles, CUDA's launch limits), against
// the CPU backend or an independent loop. This is how the kernels' indexing, grid arithmetic, tiling and
// reductions are tested on machines without a GPU; it is not a GPU run (no races, no timing, no cuDNN/cuBLAS):
// tests/gpu/ compares the real device against the CPU backend where a device is present.
//
// "Device" buffers are host arrays with guard zones on both sides; every test checks that no kernel wrote
// outside its buffer. Outputs are poisoned with NaN first, so an element a kernel forgets to write fails.
//
// Tolerances: the element-wise kernels and the CPU backend call the same shared math (kernels/*.cuh) compiled
// by the same compiler, so they must agree exactly (element-wise: atol 0); reductions sum doubles in another
// order than the CPU backend (rtol 1e-12); the bf16 conversions are compared bit for bit with an independent
// round-to-nearest-even.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <cuda_runtime.h>  // the emulator's (tests/emu/include)

#include "kernels/launchers.cuh"

#include "engine/backend.hpp"
#include "engine/backend_factory.hpp"
#include "engine/error.hpp"
#include "tests/support/compare.hpp"

namespace impasto {
namespace {

namespace k = kernels;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Emulated device memory: n floats with kGuard guard floats on each side holding a NaN payload no kernel writes.
class Buffer {
 public:
  explicit Buffer(std::int64_t n, float fill = kNaN) : n_(n), v_(std::size_t(n + 2 * kGuard)) {
    for (std::int64_t i = 0; i < kGuard; ++i) v_[std::size_t(i)] = v_[std::size_t(n + kGuard + i)] = guard();
    std::fill(v_.begin() + kGuard, v_.begin() + kGuard + n, fill);
  }
  explicit Buffer(const std::vector<float>& values) : Buffer(std::int64_t(values.size())) {
    std::copy(values.begin(), values.end(), v_.begin() + kGuard);
  }
  float* data() { return v_.data() + kGuard; }
  std::vector<float> values() const { return {v_.begin() + kGuard, v_.begin() + kGuard + n_}; }
  bool guards_intact() const {
    for (std::int64_t i = 0; i < kGuard; ++i)
      if (!same_bits(v_[std::size_t(i)], guard()) || !same_bits(v_[std::size_t(n_ + kGuard + i)], guard())) return false;
    return true;
  }

 private:
  static constexpr std::int64_t kGuard = 256;
  static float guard() {
    const std::uint32_t bits = 0x7fa5a5a5u;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  }
  static bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
  std::int64_t n_;
  std::vector<float> v_;
};

struct Env {
  std::unique_ptr<Backend> cpu = make_backend(Device::cpu);
  std::mt19937 rng{20261127};
  std::vector<float> uniform(std::int64_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = d(rng);
    return v;
  }
  Tensor tensor(const std::vector<float>& v, Shape s) { return cpu->from_host(v, s); }
  Tensor poisoned(Shape s) {
    Tensor t = cpu->empty(s);
    cpu->fill(t, kNaN);
    return t;
  }
  std::vector<float> host(const Tensor& t) { return cpu->to_host(t); }
};

// v (N,C,H,W) in NCHW order reordered to NHWC, or back (to_nhwc false): the index rule of engine/tensor.hpp.
std::vector<float> reorder(const std::vector<float>& v, Shape s, bool to_nhwc) {
  std::vector<float> out(v.size());
  for (int n = 0; n < s.n; ++n)
    for (int c = 0; c < s.c; ++c)
      for (int h = 0; h < s.h; ++h)
        for (int w = 0; w < s.w; ++w) {
          const std::size_t nchw = std::size_t(((std::int64_t(n) * s.c + c) * s.h + h) * s.w + w);
          const std::size_t nhwc = std::size_t(((std::int64_t(n) * s.h + h) * s.w + w) * s.c + c);
          if (to_nhwc) out[nhwc] = v[nchw];
          else out[nchw] = v[nhwc];
        }
  return out;
}

Env& env() {
  static Env e;
  return e;
}

// Element counts: one thread, several blocks, and more than kMaxBlocks·kThreads (the grid-stride loop wraps).
const std::int64_t kCounts[] = {1, 1000, 300007};

// Stage 1 + stage 2 of a reduction in emulated device memory: the value the CUDA backend would read back.
double finish(Buffer& partials, int blocks, bool is_max = false) {
  Buffer out(2);  // one double
  k::reduce_finish(reinterpret_cast<double*>(partials.data()), blocks, is_max,
                   reinterpret_cast<double*>(out.data()), nullptr);
  double v;
  std::memcpy(&v, out.data(), sizeof v);
  REQUIRE(out.guards_intact());
  return v;
}
// Room for kMaxBlocks doubles.
Buffer partials_buffer() { return Buffer(2 * std::int64_t(k::kMaxBlocks), 0.0f); }

// ---- the emulator itself ----------------------------------------------------------------------------------------

// A warp-level sum written the way kernels/common.cuh writes it, plus CUDA's rule for lanes whose partner is
// past the segment's end (they keep their own value).
void warp_probe(const int* in, int* sum, int* edge) {
  int v = in[threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % 32 == 0) sum[threadIdx.x / 32] = v;
  edge[threadIdx.x] = __shfl_down_sync(0xffffffffu, in[threadIdx.x], 3, 8);
}

// A warp vote: every lane gets the word of its warp's predicates (lane l's in bit l).
void ballot_probe(const int* in, unsigned* votes) {
  votes[threadIdx.x] = __ballot_sync(0xffffffffu, in[threadIdx.x] % 3 == 0);
}

// Shared memory written by one thread and read by all after a barrier; blockIdx/threadIdx in 2-D.
void barrier_probe(int* out) {
  __shared__ int stage[4];
  if (threadIdx.y == 0 && threadIdx.x < 4) stage[threadIdx.x] = int(blockIdx.x * 10 + threadIdx.x);
  __syncthreads();
  out[(blockIdx.x * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x] = stage[threadIdx.x % 4];
}

TEST_CASE("emulator: warp shuffles and votes, barriers and launch limits behave as on a device") {
  std::vector<int> in(64), sum(2, -1), edge(64, -1);
  for (int i = 0; i < 64; ++i) in[std::size_t(i)] = i * i;
  const auto before = emu::stats();
  IMPASTO_EMU_LAUNCH(warp_probe, 1, 64, nullptr)(in.data(), sum.data(), edge.data());
  CHECK(cudaGetLastError() == cudaSuccess);
  int s0 = 0, s1 = 0;
  for (int i = 0; i < 32; ++i) s0 += i * i, s1 += (i + 32) * (i + 32);
  CHECK(sum[0] == s0);
  CHECK(sum[1] == s1);
  for (int i = 0; i < 64; ++i) {
    const int lane8 = i % 8;  // width 8: segments of 8 lanes
    CHECK(edge[std::size_t(i)] == (lane8 + 3 < 8 ? in[std::size_t(i + 3)] : in[std::size_t(i)]));
  }
  CHECK(emu::stats().shuffles - before.shuffles == 2 * 6);  // 2 warps × (5 + 1) shuffle rounds
  std::vector<unsigned> votes(64, 0);
  IMPASTO_EMU_LAUNCH(ballot_probe, 1, 64, nullptr)(in.data(), votes.data());
  for (int i = 0; i < 64; ++i) {
    unsigned want = 0;
    for (int l = 0; l < 32; ++l) want |= unsigned(in[std::size_t(i / 32 * 32 + l)] % 3 == 0) << l;
    CHECK(votes[std::size_t(i)] == want);
  }

  std::vector<int> out(3 * 2 * 8, -1);
  IMPASTO_EMU_LAUNCH(barrier_probe, 3, dim3(8, 2), nullptr)(out.data());
  CHECK(cudaGetLastError() == cudaSuccess);
  for (int b = 0; b < 3; ++b)
    for (int t = 0; t < 16; ++t) CHECK(out[std::size_t(b * 16 + t)] == b * 10 + (t % 8) % 4);

  // CUDA refuses these configurations at launch; the emulator reports them the same way.
  IMPASTO_EMU_LAUNCH(barrier_probe, 1, 1025, nullptr)(out.data());
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  IMPASTO_EMU_LAUNCH(barrier_probe, dim3(1, 65536), 32, nullptr)(out.data());
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);  // read once, then cleared
}

// ---- element-wise ---------------------------------------------------------------------------------------------

TEST_CASE("emulated element-wise kernels match the CPU backend exactly") {
  Env& e = env();
  Backend& cpu = *e.cpu;
  for (const std::int64_t n : kCounts) {
    CAPTURE(n);
    const Shape s{1, 1, 1, int(n)};
    const auto x = e.uniform(n, -2, 2), y0 = e.uniform(n, -2, 2), m = e.uniform(n, 0, 1);
    const Tensor xt = e.tensor(x, s);

    SUBCASE("fill, scale, mul, clamp, relu") {
      Buffer y(n);
      k::fill(y.data(), n, 0.75f, false, nullptr);
      CHECK_CLOSE(y.values(), std::vector<float>(std::size_t(n), 0.75f), 0, 0);
      Buffer z(y0);
      k::scale(z.data(), n, -1.5f, nullptr);
      Tensor zt = e.tensor(y0, s);
      cpu.scale(zt, -1.5f);
      CHECK_CLOSE(z.values(), e.host(zt), 0, 0);
      Buffer xb(x), yb(y0), prod(n);
      k::mul(xb.data(), yb.data(), prod.data(), n, nullptr);
      Tensor pt = e.poisoned(s);
      cpu.mul(xt, e.tensor(y0, s), pt);
      CHECK_CLOSE(prod.values(), e.host(pt), 0, 0);
      Buffer cl(n);
      k::clamp(xb.data(), -0.5f, 0.25f, cl.data(), n, nullptr);
      Tensor ct = e.poisoned(s);
      cpu.clamp(xt, -0.5f, 0.25f, ct);
      CHECK_CLOSE(cl.values(), e.host(ct), 0, 0);
      Buffer r(n), dr(n);
      k::relu_forward(xb.data(), r.data(), n, /*bf16=*/false, nullptr);
      k::relu_backward(r.data(), yb.data(), dr.data(), n, /*bf16=*/false, nullptr);
      Tensor rt = e.poisoned(s), drt = e.poisoned(s);
      cpu.relu_forward(xt, rt);
      cpu.relu_backward(rt, e.tensor(y0, s), drt);
      CHECK_CLOSE(r.values(), e.host(rt), 0, 0);
      CHECK_CLOSE(dr.values(), e.host(drt), 0, 0);
      for (const Buffer* b : {&y, &z, &xb, &yb, &prod, &cl, &r, &dr}) CHECK(b->guards_intact());
    }
    SUBCASE("axpby with b = 0 (old y not read, even NaN), 1 and 0.5") {
      for (const float b : {0.0f, 1.0f, 0.5f}) {
        CAPTURE(b);
        Buffer xb(x), yb(b == 0.0f ? std::vector<float>(std::size_t(n), kNaN) : y0);
        k::axpby(1.25f, xb.data(), b, yb.data(), n, nullptr);
        Tensor yt = e.tensor(b == 0.0f ? std::vector<float>(std::size_t(n), 0.0f) : y0, s);
        cpu.axpby(1.25f, xt, b, yt);
        CHECK_CLOSE(yb.values(), e.host(yt), 0, 0);
        CHECK(yb.guards_intact());
      }
    }
    SUBCASE("Adam step") {
      Buffer xb(x), g(y0), mb(m), vb(m);
      Tensor xa = e.tensor(x, s), ma = e.tensor(m, s), va = e.tensor(m, s);
      const float lr = 0.1f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
      const int t = 3;
      // The bias corrections as CudaBackend::adam_step computes them on the host.
      const auto step = float(double(lr) / (1.0 - std::pow(double(b1), t)));
      const auto inv = float(1.0 / std::sqrt(1.0 - std::pow(double(b2), t)));
      k::adam(xb.data(), g.data(), mb.data(), vb.data(), n, b1, b2, eps, step, inv, nullptr);
      cpu.adam_step(xa, e.tensor(y0, s), ma, va, lr, b1, b2, eps, t);
      CHECK_CLOSE(xb.values(), e.host(xa), 0, 0);
      CHECK_CLOSE(mb.values(), e.host(ma), 0, 0);
      CHECK_CLOSE(vb.values(), e.host(va), 0, 0);
      for (const Buffer* b : {&xb, &g, &mb, &vb}) CHECK(b->guards_intact());
    }
  }
}

TEST_CASE("emulated mask, bias epilogue and Gram symmetrization") {
  Env& e = env();
  const Shape s{2, 5, 7, 9};  // (N,C,H,W)
  const std::int64_t n = s.numel(), plane = s.plane();
  const auto x = e.uniform(n, -1, 1), mask = e.uniform(plane, 0, 1), bias = e.uniform(s.c, -0.5f, 0.5f);

  Buffer xb(x), mb(mask), y(n);
  k::mul_mask(xb.data(), mb.data(), y.data(), n, plane, 1, /*bf16=*/false, nullptr);
  Tensor yt = e.poisoned(s);
  e.cpu->mul_mask(e.tensor(x, s), e.tensor(mask, Shape{1, 1, s.h, s.w}), yt);
  CHECK_CLOSE(y.values(), e.host(yt), 0, 0);
  // NHWC: neighbouring pixels C elements apart.
  Buffer xh(reorder(x, s, true)), yh(n);
  k::mul_mask(xh.data(), mb.data(), yh.data(), n, plane, s.c, /*bf16=*/false, nullptr);
  CHECK_CLOSE(reorder(yh.values(), s, false), e.host(yt), 0, 0);

  for (const bool relu : {false, true}) {
    Buffer yb(x), bb(bias);
    k::bias_act(yb.data(), bb.data(), n, s.c, plane, relu, nullptr);
    std::vector<float> want(x);
    for (std::int64_t i = 0; i < n; ++i) {
      const float v = x[std::size_t(i)] + bias[std::size_t(i / plane % s.c)];
      want[std::size_t(i)] = relu ? std::max(v, 0.0f) : v;
    }
    CHECK_CLOSE(yb.values(), want, 0, 0);
    Buffer ybh(reorder(x, s, true));  // NHWC: channel stride 1
    k::bias_act(ybh.data(), bb.data(), n, s.c, 1, relu, nullptr);
    CHECK_CLOSE(reorder(ybh.values(), s, false), want, 0, 0);
    CHECK(yb.guards_intact());
  }

  const int c = 37;
  const auto g = e.uniform(std::int64_t(c) * c, -1, 1);
  Buffer gb(g), sym(std::int64_t(c) * c);
  k::symmetrize(gb.data(), sym.data(), c, /*bf16=*/false, nullptr);
  std::vector<float> want(g.size());
  for (int r = 0; r < c; ++r)
    for (int col = 0; col < c; ++col) want[std::size_t(r * c + col)] = g[std::size_t(r * c + col)] + g[std::size_t(col * c + r)];
  CHECK_CLOSE(sym.values(), want, 0, 0);
  for (const Buffer* b : {&xb, &mb, &y, &gb, &sym}) CHECK(b->guards_intact());
}

// ---- reductions and fused losses ------------------------------------------------------------------------------

TEST_CASE("emulated two-stage reductions match the CPU backend") {
  Env& e = env();
  for (const std::int64_t n : kCounts) {
    CAPTURE(n);
    const Shape s{1, 1, 1, int(n)};
    const auto x = e.uniform(n, -3, 3), y = e.uniform(n, -3, 3);
    const Tensor xt = e.tensor(x, s), yt = e.tensor(y, s);
    Buffer xb(x), yb(y), partials = partials_buffer();
    const auto before = emu::stats();
    const struct {
      k::ReduceOp op;
      double want;
    } cases[] = {{k::ReduceOp::sum, e.cpu->sum(xt)},
                 {k::ReduceOp::dot, e.cpu->dot(xt, yt)},
                 {k::ReduceOp::abs_sum, e.cpu->abs_sum(xt)},
                 {k::ReduceOp::abs_max, e.cpu->abs_max(xt)}};
    for (const auto& c : cases) {
      const int blocks = k::reduce_partials(c.op, xb.data(), yb.data(), n, reinterpret_cast<double*>(partials.data()), nullptr);
      CHECK(blocks == std::min<std::int64_t>((n + 255) / 256, k::kMaxBlocks));
      const double got = finish(partials, blocks, c.op == k::ReduceOp::abs_max);
      CHECK(got == doctest::Approx(c.want).epsilon(1e-12));
    }
    CHECK(emu::stats().barriers > before.barriers);  // block_reduce really met at its barrier
    CHECK(partials.guards_intact());
  }
  SUBCASE("abs_max propagates NaN from any block") {
    std::vector<float> x(3000, 1.0f);
    x[2500] = kNaN;
    Buffer xb(x), partials = partials_buffer();
    const int blocks = k::reduce_partials(k::ReduceOp::abs_max, xb.data(), nullptr, 3000,
                                          reinterpret_cast<double*>(partials.data()), nullptr);
    CHECK(std::isnan(finish(partials, blocks, true)));
  }
}

// c (ra×rb) = a·bᵀ on kernels/blas.cu: every right-hand row count it takes, a partial last tile (rb = 13 is one
// 8-row tile and a 5-row one), one chunk (n = 7), several (n = 9001), and partial-sum scratch of exactly the
// size the kernel asks for. Against a double loop (fp32 sums of ≤ 9001 products in two orders: rtol 1e-5 of
// Σ|terms|) and the CPU backend's gemm_nt.
TEST_CASE("emulated skinny history product (gemm_nt) matches a double loop and the CPU backend") {
  Env& e = env();
  for (const int ra : {1, 2, 3, 4})
    for (const int rb : {1, 13})
      for (const std::int64_t n : {std::int64_t(7), std::int64_t(9001)}) {
        CAPTURE(ra);
        CAPTURE(rb);
        CAPTURE(n);
        const auto a = e.uniform(ra * n, -1, 1), b = e.uniform(rb * n, -1, 1);
        Buffer ab(a), bb(b), c(std::int64_t(ra) * rb), partials(k::gemm_nt_skinny_partials(ra, rb, n));
        k::gemm_nt_skinny(ab.data(), bb.data(), c.data(), ra, rb, n, partials.data(), nullptr);
        const std::vector<float> got = c.values();
        Tensor want_t = e.poisoned(Shape{1, 1, ra, rb});
        e.cpu->gemm_nt(e.tensor(a, Shape{1, 1, ra, int(n)}), e.tensor(b, Shape{1, 1, rb, int(n)}), want_t);
        const std::vector<float> cpu = e.host(want_t);
        for (int r = 0; r < ra; ++r)
          for (int j = 0; j < rb; ++j) {
            double exact = 0, mag = 0;
            for (std::int64_t i = 0; i < n; ++i) {
              const double t = double(a[std::size_t(r * n + i)]) * double(b[std::size_t(j * n + i)]);
              exact += t;
              mag += std::abs(t);
            }
            const float g = got[std::size_t(r * rb + j)];
            CHECK(std::abs(g - exact) <= 1e-5 * mag);
            CHECK(std::abs(g - cpu[std::size_t(r * rb + j)]) <= 2e-5 * mag);
          }
        CHECK(c.guards_intact());
        CHECK(partials.guards_intact());
      }
}

TEST_CASE("emulated squared-difference loss: value and gradient as the CPU backend") {
  Env& e = env();
  const Shape s{1, 6, 45, 61};  // (1,C,H,W): 16470 elements, 65 blocks
  const std::int64_t n = s.numel(), plane = s.plane();
  const auto x = e.uniform(n, -1, 1), t = e.uniform(n, -1, 1), g0 = e.uniform(n, -1, 1);
  const auto w_full = e.uniform(n, 0, 2), w_plane = e.uniform(plane, 0, 2);
  enum Weight { none, broadcast, full };
  for (const Weight wk : {none, broadcast, full}) {
    for (const bool nhwc : {false, true}) {  // NHWC: x, t, grad (and a full w) channels-last
      CAPTURE(int(wk));
      CAPTURE(nhwc);
      const std::vector<float>& w = wk == broadcast ? w_plane : w_full;
      auto in = [&](const std::vector<float>& v) { return nhwc ? reorder(v, s, true) : v; };
      Buffer xb(in(x)), tb(in(t)), wb(wk == full ? in(w) : w), grad(in(g0)), partials = partials_buffer();
      const int blocks = k::sq_diff_partials(xb.data(), tb.data(), wk == none ? nullptr : wb.data(),
                                             wk == broadcast ? plane : 0, nhwc ? s.c : 1, 0.3f, grad.data(), n,
                                             /*bf16=*/false, reinterpret_cast<double*>(partials.data()), nullptr);
      const double got = finish(partials, blocks);
      Tensor gt = e.tensor(g0, s);
      const Tensor wt = e.tensor(w, wk == broadcast ? Shape{1, 1, s.h, s.w} : s);
      const double want = e.cpu->sq_diff_loss(e.tensor(x, s), e.tensor(t, s), wk == none ? nullptr : &wt, 0.3f, &gt);
      CHECK(got == doctest::Approx(want).epsilon(1e-12));
      CHECK_CLOSE(nhwc ? reorder(grad.values(), s, false) : grad.values(), e.host(gt), 0, 0);
      for (const Buffer* b : {&xb, &tb, &wb, &grad, &partials}) CHECK(b->guards_intact());
    }
  }
}

TEST_CASE("emulated total variation: value and gradient as the CPU backend") {
  Env& e = env();
  for (const Shape s : {Shape{1, 3, 1, 1}, Shape{1, 3, 17, 23}, Shape{2, 3, 64, 33}}) {
    CAPTURE(s.str());
    const std::int64_t n = s.numel();
    const auto x = e.uniform(n, 0, 255), g0 = e.uniform(n, -1, 1);
    for (const TvMode mode : {TvMode::l1, TvMode::squared, TvMode::squared_interior}) {
      CAPTURE(int(mode));
      Buffer xb(x), grad(g0), partials = partials_buffer();
      const float scale = 0.01f;
      const int blocks = k::tv_partials(xb.data(), std::int64_t(s.n) * s.c, s.h, s.w, int(mode), scale, grad.data(),
                                        reinterpret_cast<double*>(partials.data()), nullptr);
      const double got = scale * finish(partials, blocks);  // CudaBackend::tv_loss scales on the host
      Tensor gt = e.tensor(g0, s);
      const double want = e.cpu->tv_loss(e.tensor(x, s), mode, scale, &gt);
      CHECK(got == doctest::Approx(want).epsilon(1e-12));
      CHECK_CLOSE(grad.values(), e.host(gt), 0, 0);
      CHECK(grad.guards_intact());
    }
  }
}

// The matting Laplacian (kernels/matting.cu): a single window (3×3, one plane), odd sizes, and more elements than
// kMaxBlocks·kThreads (3·300·300, the grid-stride loops wrap). Same shared math as the CPU backend: stats, coef
// and gradient exactly (atol 0), the value to 1e-12 (double partials summed in another order). stats and coef
// start as NaN, so a border entry left unwritten fails.
TEST_CASE("emulated matting Laplacian: prepare, value and gradient as the CPU backend") {
  Env& e = env();
  for (const Shape s : {Shape{1, 1, 3, 3}, Shape{1, 3, 17, 23}, Shape{1, 2, 9, 4}, Shape{1, 3, 300, 300}}) {
    CAPTURE(s.str());
    const Shape gs{1, 3, s.h, s.w}, ss{1, 15, s.h, s.w}, cs{1, 4 * s.c, s.h, s.w};
    const auto guide = e.uniform(gs.numel(), 0, 1), v = e.uniform(s.numel(), 0, 1), g0 = e.uniform(s.numel(), -1, 1);
    const Tensor gt = e.tensor(guide, gs), vt = e.tensor(v, s);
    for (const float eps : {1e-7f, 1e-3f}) {
      CAPTURE(eps);
      Buffer gb(guide), vb(v), stats(ss.numel()), coef(cs.numel()), grad(g0), partials = partials_buffer();
      k::matting_prepare(gb.data(), eps, stats.data(), s.h, s.w, nullptr);
      Tensor st = e.poisoned(ss);
      e.cpu->matting_prepare(gt, eps, st);
      CHECK_CLOSE(stats.values(), e.host(st), 0, 0);

      const float scale = 0.3f;
      const int blocks = k::matting_partials(vb.data(), gb.data(), stats.data(), coef.data(), s.c, s.h, s.w, scale,
                                             grad.data(), reinterpret_cast<double*>(partials.data()), nullptr);
      CHECK(blocks == std::min<std::int64_t>((s.numel() + 255) / 256, k::kMaxBlocks));
      const double got = scale * finish(partials, blocks);  // CudaBackend::matting_loss scales on the host
      Tensor ct = e.poisoned(cs), grad_t = e.tensor(g0, s);
      const double want = e.cpu->matting_loss(vt, gt, st, scale, ct, &grad_t);
      CHECK(got == doctest::Approx(want).epsilon(1e-12));
      CHECK_CLOSE(coef.values(), e.host(ct), 0, 0);
      CHECK_CLOSE(grad.values(), e.host(grad_t), 0, 0);

      // Without a gradient: the same value, grad untouched.
      Buffer untouched(g0), partials2 = partials_buffer();
      const int blocks2 = k::matting_partials(vb.data(), gb.data(), stats.data(), coef.data(), s.c, s.h, s.w, scale,
                                              nullptr, reinterpret_cast<double*>(partials2.data()), nullptr);
      CHECK(scale * finish(partials2, blocks2) == doctest::Approx(want).epsilon(1e-12));
      for (const Buffer* b : {&gb, &vb, &stats, &coef, &grad, &partials, &partials2}) CHECK(b->guards_intact());
    }
  }
}

// ---- pooling, color, video -------------------------------------------------------------------------------------

TEST_CASE("emulated pooling forward and backward (average; max: first maximum; fused ReLU mask) as the CPU backend") {
  Env& e = env();
  for (const auto& [s, nhwc] : {std::pair{Shape{1, 3, 7, 9}, false}, std::pair{Shape{1, 4, 16, 10}, false},
                                std::pair{Shape{2, 3, 7, 9}, true}, std::pair{Shape{1, 4, 16, 10}, true}}) {
    for (const PoolMode mode : {PoolMode::average, PoolMode::max}) {
      for (const bool relu_mask : {false, true}) {
        CAPTURE(s.str());
        CAPTURE(nhwc);
        CAPTURE(int(mode));
        CAPTURE(relu_mask);
        // Values from {0,1,2,3}: many windows hold ties, where the first-maximum rule decides, and zeros, where
        // the ReLU mask does.
        std::uniform_int_distribution<int> d(0, 3);
        std::vector<float> x(std::size_t(s.numel()));
        for (float& v : x) v = float(d(e.rng));
        const Shape ys{s.n, s.c, s.h / 2, s.w / 2};
        const auto dy = e.uniform(ys.numel(), -1, 1);
        // dx poisoned: the dropped odd row/column must stay untouched.
        Buffer xb(nhwc ? reorder(x, s, true) : x), dyb(nhwc ? reorder(dy, ys, true) : dy), dx(s.numel());
        k::pool_backward(xb.data(), dyb.data(), dx.data(), s.n, s.c, s.h, s.w, nhwc, mode == PoolMode::average,
                         relu_mask, /*bf16=*/false, nullptr);
        Buffer y(ys.numel());
        k::pool_forward(xb.data(), y.data(), s.n, s.c, s.h, s.w, nhwc, mode == PoolMode::average, /*bf16=*/false,
                        nullptr);
        const Tensor xt = e.tensor(x, s);
        Tensor yt = e.poisoned(ys), dxt = e.poisoned(s);
        e.cpu->pool2d_forward(xt, yt, mode);
        CHECK_CLOSE(nhwc ? reorder(y.values(), ys, false) : y.values(), e.host(yt), 0, 0);
        CHECK(y.guards_intact());
        e.cpu->pool2d_backward(xt, yt, e.tensor(dy, ys), dxt, mode, relu_mask);
        const auto got = nhwc ? reorder(dx.values(), s, false) : dx.values(), want = e.host(dxt);
        int covered_mismatch = 0, dropped_written = 0, masked = 0;
        for (std::int64_t i = 0; i < s.numel(); ++i) {
          const int r = int(i / s.w % s.h), c = int(i % s.w);
          const bool dropped = r >= 2 * (s.h / 2) || c >= 2 * (s.w / 2);
          if (dropped) dropped_written += !std::isnan(got[std::size_t(i)]);
          else covered_mismatch += got[std::size_t(i)] != want[std::size_t(i)];
          masked += !dropped && relu_mask && x[std::size_t(i)] == 0.0f && got[std::size_t(i)] == 0.0f;
        }
        CHECK(covered_mismatch == 0);
        CHECK(dropped_written == 0);
        if (relu_mask) CHECK(masked > 0);  // the mask had zeros to act on
        CHECK(dx.guards_intact());
      }
    }
  }
}

TEST_CASE("emulated color conversion matches the CPU backend in every space, both ways, aliased") {
  Env& e = env();
  const Shape s{1, 3, 13, 29};
  const auto rgb = e.uniform(s.numel(), 0, 255);
  for (const ColorSpace space : {ColorSpace::yuv, ColorSpace::ycrcb, ColorSpace::lab, ColorSpace::luv}) {
    CAPTURE(int(space));
    Buffer x(rgb), y(s.numel());
    k::color_convert(x.data(), y.data(), s.plane(), int(space), false, nullptr);
    Tensor yt = e.poisoned(s);
    e.cpu->color_convert(e.tensor(rgb, s), yt, space, false);
    CHECK_CLOSE(y.values(), e.host(yt), 0, 0);
    k::color_convert(y.data(), y.data(), s.plane(), int(space), true, nullptr);  // back, in place
    e.cpu->color_convert(yt, yt, space, true);
    CHECK_CLOSE(y.values(), e.host(yt), 0, 0);
    CHECK(y.guards_intact());
  }
}

TEST_CASE("emulated warp, consistency and Gaussian blur match the CPU backend") {
  Env& e = env();
  const int c = 3, h = 19, w = 27;
  const Shape img{1, c, h, w}, fs{1, 2, h, w}, cs{1, 1, h, w};
  const auto x = e.uniform(img.numel(), 0, 255), fill = e.uniform(c, 0, 255);
  const auto fwd = e.uniform(fs.numel(), -3, 3), bwd = e.uniform(fs.numel(), -3, 3);

  Buffer xb(x), fb(fwd), bb(bwd), fillb(fill), y(img.numel());
  k::warp(xb.data(), fb.data(), fillb.data(), y.data(), c, h, w, nullptr);
  Tensor yt = e.poisoned(img);
  e.cpu->warp(e.tensor(x, img), e.tensor(fwd, fs), e.tensor(fill, Shape{1, c, 1, 1}), yt);
  CHECK_CLOSE(y.values(), e.host(yt), 0, 0);

  Buffer cons(cs.numel());
  k::consistency(fb.data(), bb.data(), cons.data(), h, w, nullptr);
  Tensor ct = e.poisoned(cs);
  e.cpu->consistency(e.tensor(fwd, fs), e.tensor(bwd, fs), ct);
  CHECK_CLOSE(cons.values(), e.host(ct), 0, 0);

  for (const float sigma : {0.8f, 3.0f}) {
    CAPTURE(sigma);
    Buffer tmp(img.numel()), blurred(img.numel());
    k::gaussian_blur(xb.data(), tmp.data(), blurred.data(), c, h, w, sigma, nullptr);
    Tensor bt = e.poisoned(img), tt = e.poisoned(img);
    e.cpu->gaussian_blur(e.tensor(x, img), sigma, tt, bt);
    CHECK_CLOSE(blurred.values(), e.host(bt), 0, 0);
    CHECK(blurred.guards_intact());
    CHECK(tmp.guards_intact());
  }
  for (const Buffer* b : {&xb, &fb, &bb, &fillb, &y, &cons}) CHECK(b->guards_intact());
}

// ---- bf16 staging of the experimental bf16 convolutions ------------------------------------------------------

// float → bf16 → float, round to nearest even, written independently of the kernels' conversion: the float's
// significand scaled to 8 bits and rounded by nearbyint (the default rounding mode is to nearest, ties even).
float bf16_round(float f) {
  if (f == 0.0f || !std::isfinite(f)) return f;
  int exponent;
  const double m = std::frexp(double(f), &exponent);  // f = m·2^exponent, 0.5 <= |m| < 1
  return float(std::ldexp(std::nearbyint(std::ldexp(m, 8)), exponent - 8));
}

TEST_CASE("emulated bf16 channels-last staging: transposes, rounding, bias and ReLU") {
  Env& e = env();
  CHECK(bf16_round(1.0f + 1.0f / 256) == 1.0f);              // a tie: to even (down)
  CHECK(bf16_round(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256);  // a tie: to even (up)
  CHECK(bf16_round(1.0f + 1.5f / 256) == 1.0f + 2.0f / 256);  // above the tie

  // (N, C, plane) with C and plane not multiples of the 32×32 tile, so partial tiles are exercised on both axes;
  // planes under 32 (weights: 9) take the one-element-per-thread path on the way in.
  for (const auto& [n, c, plane] : {std::tuple{1, 40, std::int64_t(37)}, std::tuple{2, 24, std::int64_t(45)},
                                     std::tuple{3, 8, std::int64_t(9)}, std::tuple{2, 5, std::int64_t(31)}}) {
    CAPTURE(n);
    CAPTURE(c);
    CAPTURE(plane);
    const std::int64_t count = std::int64_t(n) * c * plane;
    auto x = e.uniform(count, -4, 4);
    x[0] = 1.0f + 1.0f / 256;  // a tie
    Buffer xb(x), staged((count + 1) / 2);  // bf16: two per float slot
    k::to_bf16_channels_last(xb.data(), staged.data(), n, c, plane, nullptr);
    std::vector<std::uint16_t> bits(static_cast<std::size_t>(count));
    std::memcpy(bits.data(), staged.data(), bits.size() * sizeof(std::uint16_t));
    int wrong = 0;
    for (int b = 0; b < n; ++b)
      for (int ch = 0; ch < c; ++ch)
        for (std::int64_t p = 0; p < plane; ++p) {
          const std::uint32_t u = std::uint32_t(bits[std::size_t((std::int64_t(b) * plane + p) * c + ch)]) << 16;
          float got;
          std::memcpy(&got, &u, sizeof got);
          wrong += got != bf16_round(x[std::size_t((std::int64_t(b) * c + ch) * plane + p)]);
        }
    CHECK(wrong == 0);
    CHECK(staged.guards_intact());

    const auto bias = e.uniform(c, -1, 1);
    Buffer bb(bias);
    for (const bool relu : {false, true}) {
      Buffer out(count);
      k::from_bf16_channels_last(staged.data(), out.data(), relu ? bb.data() : nullptr, relu, n, c, plane, nullptr);
      std::vector<float> want(static_cast<std::size_t>(count));
      for (std::int64_t i = 0; i < count; ++i) {
        const int ch = int(i / plane % c);
        const float v = bf16_round(x[std::size_t(i)]) + (relu ? bias[std::size_t(ch)] : 0.0f);
        want[std::size_t(i)] = relu ? std::max(v, 0.0f) : v;
      }
      CHECK_CLOSE(out.values(), want, 0, 0);
      CHECK(out.guards_intact());
    }
  }
}

TEST_CASE("emulated NCHW <-> NHWC transposes and channels-last bf16 casts") {
  Env& e = env();
  // Partial 32x32 tiles on both axes; 3 channels (the image); a plane narrower than a tile.
  for (const Shape s : {Shape{1, 3, 37, 41}, Shape{2, 40, 5, 7}, Shape{3, 8, 3, 3}}) {
    CAPTURE(s.str());
    const std::int64_t n = s.numel();
    const auto x = e.uniform(n, -4, 4);
    Buffer xb(x), yb(n), back(n);
    k::transpose(xb.data(), yb.data(), s.n, s.c, s.plane(), nullptr);  // NCHW → NHWC
    CHECK_CLOSE(yb.values(), reorder(x, s, true), 0, 0);
    k::transpose(yb.data(), back.data(), s.n, s.plane(), s.c, nullptr);  // NHWC → NCHW
    CHECK_CLOSE(back.values(), x, 0, 0);
    for (const Buffer* b : {&xb, &yb, &back}) CHECK(b->guards_intact());

    // The casts of channels-last tensors: element by element, bias by i mod C.
    Buffer staged((n + 1) / 2), out(n), bb(e.uniform(s.c, -1, 1));
    k::to_bf16(yb.data(), staged.data(), n, nullptr);
    k::from_bf16(staged.data(), out.data(), bb.data(), true, n, s.c, nullptr);
    const auto xh = reorder(x, s, true), bias = bb.values();
    std::vector<float> want(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i)
      want[std::size_t(i)] = std::max(bf16_round(xh[std::size_t(i)]) + bias[std::size_t(i % s.c)], 0.0f);
    CHECK_CLOSE(out.values(), want, 0, 0);
    for (const Buffer* b : {&staged, &out}) CHECK(b->guards_intact());
  }
}

TEST_CASE("a launch the device would refuse becomes a one-line error naming CUDA's reason") {
  // 70000 samples put 70000 tiles on the grid's z axis, past CUDA's 65535.
  Buffer x(35000), y(70000);  // 70000 bf16 in, 70000 floats out
  try {
    k::from_bf16_channels_last(x.data(), y.data(), nullptr, false, 70000, 1, 1, nullptr);
    FAIL("the launch was not refused");
  } catch (const Error& err) {
    CHECK(std::string(err.what()).find("invalid configuration argument") != std::string::npos);
  }
}

}  // namespace
}  // namespace impasto
