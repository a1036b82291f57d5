// tests/gpu/test_gpu_parity.cpp — every Backend op on the CUDA backend against the CPU backend (the answer
// key), on fresh seeded random inputs: odd sizes (floor-mode pooling, ragged tiles) and real VGG-19 layer
// sizes. Outputs that an op overwrites are poisoned with NaN first, so an element the GPU forgets to write
// fails the comparison (non-finite). Ops that accumulate start from random values. Each op runs under every
// precision (fp32, TF32, bf16); only convolutions and Gram matrices differ between them. The layout-dependent
// ops (convolution, pooling, Gram, masks, weighted squared differences) also run on NHWC copies of their
// inputs (convert_layout, itself checked against the CPU's), their results converted back for the comparison.
//
// Tolerances (an element passes when |gpu − cpu| <= atol + rtol·|cpu|; "max" = max |cpu| of that output):
//   element-wise, ReLU, pooling, Adam, loss gradients: rtol 1e-6 (Adam 1e-5), atol 1e-6·max — the same
//     float math (kernels/*.cuh), differing only in FMA contraction / sqrtf rounding by an ulp or two;
//   reductions and losses (double accumulation in a different order): relative 1e-6 of Σ|terms|;
//   convolution fp32: rtol 1e-4, atol 2e-4·max — FMA-only cuDNN kernels still sum in another order, and
//     Winograd/FFT algorithms transform inputs (cuDNN's own tests allow ~1e-4 relative to the output range);
//   Gram fp32: rtol 1e-5, atol 3e-5·max — sums of M = H·W products in another order (√M·2⁻²⁴ growth);
//   convolution and Gram TF32: rtol 1e-2, atol 1e-2·max — inputs rounded to 10-bit mantissas (2⁻¹¹ each),
//     errors grow with √(reduction length) but stay well under 1% of the output range;
//   convolution bf16 (channel counts multiples of 8; others run as TF32): rtol 2e-2, atol 2e-2·max — inputs
//     and weights rounded to 8-bit mantissas (2⁻⁹ each), fp32 accumulation, the result rounded to bf16 once
//     more (2⁻⁹) before it returns to float32; Gram matrices on bf16 tensor cores (operands rounded to bf16,
//     fp32 accumulation and output: the same bound applies);
//   color: rtol 1e-5, atol 2e-3 absolute — device cbrtf/powf differ from the host's by a few ulps, and
//     Lab/Luv chroma scale differences of them by 500 (a*) or 13·L (u*).
//   matting Laplacian: stats as element-wise; coef rtol 1e-5, atol 1e-6·max; its gradient rtol 1e-5, atol
//     1e-5·max — double sums rounded once, an ulp of a window's affine fit amplified by |I − μ| (see the case).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/backend_factory.hpp"
#include "engine/error.hpp"
#include "tests/support/compare.hpp"

namespace impasto {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr Precision kPrecisions[] = {Precision::fp32, Precision::tf32, Precision::bf16};

// The same tensor on both backends.
struct Pair {
  Tensor cpu, gpu;
};

// Tolerance: rtol, atol as a fraction of the reference's largest magnitude, plus an absolute floor.
struct Tol {
  double rtol, atol_of_max, atol_abs = 0.0;
};
constexpr Tol kExact{1e-6, 1e-6};
constexpr Tol kConvFp32{1e-4, 2e-4};
constexpr Tol kGramFp32{1e-5, 3e-5};
constexpr Tol kTf32{1e-2, 1e-2};
constexpr Tol kBf16{2e-2, 2e-2};
constexpr Tol kMattingCoef{1e-5, 1e-6};  // see "matting_prepare and matting_loss match the CPU"
constexpr Tol kMattingGrad{1e-5, 1e-5};
Tol heavy_tol(Precision p, Tol fp32) { return p == Precision::fp32 ? fp32 : p == Precision::tf32 ? kTf32 : kBf16; }

class Env {
 public:
  Env() : cpu_(make_backend(Device::cpu)), gpu_(make_backend(Device::cuda)) {}
  Backend& cpu() { return *cpu_; }
  Backend& gpu() { return *gpu_; }
  std::mt19937& rng() { return rng_; }
  void seed(std::uint32_t s) { rng_.seed(s); }

  std::vector<float> uniform(std::int64_t n, float lo, float hi) {
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = d(rng_);
    return v;
  }
  std::vector<float> normal(std::int64_t n, float stddev) {
    std::normal_distribution<float> d(0.0f, stddev);
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = d(rng_);
    return v;
  }
  Pair upload(const std::vector<float>& v, Shape s) { return {cpu_->from_host(v, s), gpu_->from_host(v, s)}; }
  Pair random(Shape s, float lo = -1.0f, float hi = 1.0f) { return upload(uniform(s.numel(), lo, hi), s); }
  // Outputs: NaN everywhere, so anything left unwritten shows.
  Pair poisoned(Shape s) {
    Pair p{cpu_->empty(s), gpu_->empty(s)};
    cpu_->fill(p.cpu, kNaN);
    gpu_->fill(p.gpu, kNaN);
    return p;
  }
  Tensor poisoned_gpu(Shape s) {
    Tensor t = gpu_->empty(s);
    gpu_->fill(t, kNaN);
    return t;
  }
  // A GPU tensor reordered into `layout` (the same handle when it is there already).
  Tensor in_layout(const Tensor& t, Layout layout) {
    if (t.layout() == layout) return t;
    Tensor out = gpu_->empty(t.shape()).with_layout(layout);
    gpu_->convert_layout(t, out);
    return out;
  }
  // A NaN-poisoned GPU output in `layout`.
  Tensor poisoned_gpu(Shape s, Layout layout) { return poisoned_gpu(s).with_layout(layout); }
  // bf16 activations (NHWC) holding host NCHW values (bf16 already: the conversion then rounds nothing), and
  // back to host NCHW floats.
  Tensor to_bf16(const std::vector<float>& host, Shape s) {
    Tensor t = gpu_->empty_typed(s, DType::bf16, Layout::nhwc);
    gpu_->convert_layout(gpu_->from_host(host, s), t);
    return t;
  }
  std::vector<float> widened(const Tensor& t16) {
    Tensor f = poisoned_gpu(t16.shape());
    gpu_->convert_layout(t16, f);
    return gpu_->to_host(f);
  }

 private:
  std::unique_ptr<Backend> cpu_, gpu_;
  std::mt19937 rng_{1};
};

Env& env() {
  static Env e;
  return e;
}

// GPU tensor vs CPU reference with the given tolerance.
void check_close(const std::string& what, const Tensor& gpu, const Tensor& cpu, Tol tol) {
  const std::vector<float> a = env().gpu().to_host(gpu);
  const std::vector<float> b = env().cpu().to_host(cpu);
  double max_ref = 0.0;
  for (float v : b) max_ref = std::max(max_ref, std::fabs(double(v)));
  INFO(what);
  CHECK_CLOSE(a, b, tol.rtol, tol.atol_of_max * max_ref + tol.atol_abs + 1e-30);
}
void check_close(const std::string& what, const Pair& p, Tol tol) { check_close(what, p.gpu, p.cpu, tol); }
// The same for a GPU result in either layout (compared in NCHW).
void check_close_any(const std::string& what, const Tensor& gpu, const Tensor& cpu, Tol tol) {
  check_close(what + " " + enum_name(gpu.layout()), env().in_layout(gpu, Layout::nchw), cpu, tol);
}
constexpr Layout kLayouts[] = {Layout::nchw, Layout::nhwc};

// Scalars (losses, reductions): |gpu − cpu| <= rel·scale, scale a magnitude of the sum (e.g. Σ|terms|).
void check_scalar(const std::string& what, double gpu, double cpu, double scale, double rel = 1e-6) {
  INFO(what << ": gpu " << gpu << " cpu " << cpu);
  CHECK(std::isfinite(gpu));
  CHECK(std::fabs(gpu - cpu) <= rel * std::max(scale, 1e-30));
}

std::string shape_name(const char* op, Shape s, const char* extra = "") {
  return std::string(op) + " " + s.str() + extra;
}

// Shapes: odd sizes first, then real VGG-19 layers.
struct ConvCase {
  Shape x;
  int cout, k;
};
const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {{1, 3, 7, 5}, 4, 3},     {{1, 5, 9, 11}, 6, 3},     {{1, 3, 7, 5}, 2, 1},       {{1, 4, 9, 11}, 3, 5},
      {{2, 3, 6, 5}, 4, 3},     {{1, 3, 33, 31}, 64, 3},   {{1, 64, 128, 128}, 64, 3}, {{1, 256, 64, 64}, 256, 3},
      {{1, 512, 32, 32}, 512, 3},
      // bf16 layers (channels multiples of 8) with ragged 32×32 transpose tiles and a batch of 2.
      {{2, 8, 6, 5}, 16, 3},    {{1, 40, 9, 11}, 24, 3},
  };
  return cases;
}
const std::vector<Shape>& feature_shapes() {
  static const std::vector<Shape> shapes = {{1, 3, 7, 5},      {1, 5, 9, 11},    {1, 1, 1, 1},
                                            {1, 64, 128, 128}, {1, 256, 64, 64}, {1, 512, 32, 32}};
  return shapes;
}
const std::vector<Shape>& pool_shapes() {
  static const std::vector<Shape> shapes = {{1, 3, 7, 5}, {1, 5, 9, 11}, {2, 3, 6, 8}, {1, 2, 1, 3}, {1, 64, 128, 128},
                                            {1, 512, 31, 33}, {2, 32, 5, 7}};
  return shapes;
}

// ---- convolution ------------------------------------------------------------------------------------------

TEST_CASE("conv2d_forward matches the CPU (bias, fused and unfused ReLU)") {
  Env& e = env();
  e.seed(101);
  for (const ConvCase& c : conv_cases()) {
    const Shape ws{c.cout, c.x.c, c.k, c.k}, ys{c.x.n, c.cout, c.x.h, c.x.w};
    const Pair x = e.random(c.x);                                                         // (N,Cin,H,W)
    const Pair w = e.upload(e.normal(ws.numel(), std::sqrt(2.0f / float(c.x.c * c.k * c.k))), ws);  // He
    const Pair b = e.random(Shape{1, 1, 1, c.cout}, -0.1f, 0.1f);                        // (1,1,1,Cout)
    for (bool relu : {false, true}) {
      Pair y = e.poisoned(ys);  // (N,Cout,H,W)
      e.cpu().conv2d_forward(x.cpu, w.cpu, b.cpu, y.cpu, relu);
      for (Layout l : kLayouts) {
        const Tensor xl = e.in_layout(x.gpu, l), wl = e.in_layout(w.gpu, l);  // NHWC: w is KRSC
        for (Precision p : kPrecisions) {
          e.gpu().set_precision(p);
          Tensor yl = e.poisoned_gpu(ys, l);
          e.gpu().conv2d_forward(xl, wl, b.gpu, yl, relu);
          check_close_any(shape_name("conv2d_forward", c.x, relu ? " relu " : " ") + enum_name(p), yl, y.cpu,
                          heavy_tol(p, kConvFp32));
        }
      }
    }
  }
}

TEST_CASE("conv2d_backward_data matches the CPU") {
  Env& e = env();
  e.seed(102);
  for (const ConvCase& c : conv_cases()) {
    const Shape ws{c.cout, c.x.c, c.k, c.k}, ys{c.x.n, c.cout, c.x.h, c.x.w};
    const Pair dy = e.random(ys);                                                          // (N,Cout,H,W)
    const Pair w = e.upload(e.normal(ws.numel(), std::sqrt(2.0f / float(c.x.c * c.k * c.k))), ws);
    Pair dx = e.poisoned(c.x);                                                             // (N,Cin,H,W)
    e.cpu().conv2d_backward_data(dy.cpu, w.cpu, dx.cpu);
    for (Layout l : kLayouts) {
      const Tensor dyl = e.in_layout(dy.gpu, l), wl = e.in_layout(w.gpu, l);
      for (Precision p : kPrecisions) {
        e.gpu().set_precision(p);
        Tensor dxl = e.poisoned_gpu(c.x, l);
        e.gpu().conv2d_backward_data(dyl, wl, dxl);
        check_close_any(shape_name("conv2d_backward_data", c.x, " ") + enum_name(p), dxl, dx.cpu,
                        heavy_tol(p, kConvFp32));
      }
    }
  }
}

TEST_CASE("conv2d workspace: sized per shape, reserved once, counted in bytes_in_use") {
  Env& e = env();
  Backend& g = e.gpu();
  for (Precision p : kPrecisions) {
    g.set_precision(p);
    const std::size_t bytes = g.conv2d_workspace_bytes(Shape{1, 256, 64, 64}, Shape{256, 256, 3, 3});
    CHECK(bytes >= std::size_t(256) * 256 * sizeof(float));  // covers the Gram-gradient scratch too
    g.reserve_workspace(bytes);
    CHECK(g.bytes_in_use() >= bytes);
  }
  const std::size_t before = g.bytes_in_use();
  {
    Tensor t = g.empty(Shape{1, 1, 1000, 1000});
    CHECK(g.bytes_in_use() >= before + 4000000);
  }
  CHECK(g.bytes_in_use() == before);
}

TEST_CASE("conv_filter: a bf16 filter made once serves both convolutions as the per-call copy does") {
  Env& e = env();
  e.seed(103);
  Backend& g = e.gpu();
  const Shape xs{1, 40, 9, 11}, ws{24, 40, 3, 3}, ys{1, 24, 9, 11};  // bf16 channel counts, ragged tiles
  const Tensor x = e.random(xs).gpu, dy = e.random(ys).gpu, b = e.random(Shape{1, 1, 1, 24}, -0.1f, 0.1f).gpu;
  const Tensor w = e.upload(e.normal(ws.numel(), 0.07f), ws).gpu;
  for (Layout l : kLayouts) {
    CAPTURE(enum_name(l));
    const Tensor xl = e.in_layout(x, l), dyl = e.in_layout(dy, l);
    Tensor wl = g.empty(ws).with_layout(l);  // a filter of its own, overwritten below
    if (l == Layout::nchw)
      g.copy(w, wl);
    else
      g.convert_layout(w, wl);  // KRSC
    g.set_precision(Precision::bf16);
    Tensor y_staged = e.poisoned_gpu(ys, l), dx_staged = e.poisoned_gpu(xs, l);
    g.conv2d_forward(xl, wl, b, y_staged, true);
    g.conv2d_backward_data(dyl, wl, dx_staged);

    const std::size_t before = g.bytes_in_use();
    const Tensor wc = g.conv_filter(wl);
    CHECK(wc.dtype() == DType::bf16);
    CHECK(g.conv_filter_bytes(ws) == std::size_t((ws.numel() + 1) / 2) * sizeof(float));
    CHECK(g.bytes_in_use() - before == g.conv_filter_bytes(ws));
    g.fill(wl, kNaN);  // from here only the copy holds the filter
    Tensor y = e.poisoned_gpu(ys, l), dx = e.poisoned_gpu(xs, l);
    g.conv2d_forward(xl, wc, b, y, true);
    g.conv2d_backward_data(dyl, wc, dx);
    CHECK(g.to_host(y) == g.to_host(y_staged));  // the same bits: the same rounding, made once
    CHECK(g.to_host(dx) == g.to_host(dx_staged));

    // conv1_1's 3 input channels run as under tf32: no copy. Under tf32 none at all, and a bf16 copy is refused.
    CHECK(g.conv_filter_bytes(Shape{64, 3, 3, 3}) == 0);
    g.set_precision(Precision::tf32);
    CHECK(g.conv_filter(wl).raw() == wl.raw());
    CHECK(g.conv_filter_bytes(ws) == 0);
    CHECK_THROWS_WITH_AS(g.conv2d_forward(xl, wc, b, y, true), doctest::Contains("make the copy again"), Error);
    CHECK_THROWS_WITH_AS(g.conv2d_backward_data(dyl, wc, dx), doctest::Contains("make the copy again"), Error);
    Tensor wc_alias = wc;
    CHECK_THROWS_WITH_AS(g.clamp(wc, 0.0f, 1.0f, wc_alias), doctest::Contains("x holds bf16 values"), Error);
  }
}

// f rounded to bf16 (to nearest, ties to even), as the device's conversion does (finite values).
float bf16_rounded(float f) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof bits);
  bits = (bits + 0x7fffu + ((bits >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
std::vector<float> bf16_rounded(std::vector<float> v) {
  for (float& f : v) f = bf16_rounded(f);
  return v;
}

// bf16 activations (DType::bf16, NHWC): convert_layout makes them from float32 in either layout and back (the
// values rounded once); both convolutions read and write them without staging copies and give what the
// float32 path gives through its bf16 copies, rounded to bf16 once more: the same bits (one plan, one algorithm).
TEST_CASE("bf16 activations: convert_layout both ways; both convolutions on them as on the staged copies") {
  Env& e = env();
  e.seed(109);
  Backend& g = e.gpu();
  const Shape xs{1, 40, 9, 11}, ws{24, 40, 3, 3}, ys{1, 24, 9, 11};  // bf16 channel counts, ragged tiles
  const Pair x = e.random(xs);
  const Tensor dy = e.random(ys).gpu, b = e.random(Shape{1, 1, 1, 24}, -0.1f, 0.1f).gpu;
  const Tensor w = e.upload(e.normal(ws.numel(), 0.07f), ws).gpu;
  g.set_precision(Precision::bf16);
  const std::vector<float> x_rounded = bf16_rounded(e.cpu().to_host(x.cpu));  // NCHW
  for (Layout l : kLayouts) {
    CAPTURE(enum_name(l));
    Tensor x16 = g.empty_typed(xs, DType::bf16, Layout::nhwc);
    g.convert_layout(e.in_layout(x.gpu, l), x16);
    Tensor back = e.poisoned_gpu(xs, l);
    g.convert_layout(x16, back);
    CHECK(g.to_host(e.in_layout(back, Layout::nchw)) == x_rounded);
  }

  Tensor wl = g.empty(ws).with_layout(Layout::nhwc);
  g.convert_layout(w, wl);  // KRSC
  const Tensor wc = g.conv_filter(wl);
  const Tensor xl = e.in_layout(x.gpu, Layout::nhwc), dyl = e.in_layout(dy, Layout::nhwc);
  Tensor x16 = g.empty_typed(xs, DType::bf16, Layout::nhwc), dy16 = g.empty_typed(ys, DType::bf16, Layout::nhwc);
  g.convert_layout(xl, x16);
  g.convert_layout(dyl, dy16);
  auto as_float = [&](const Tensor& t16, Shape s) {
    Tensor f = e.poisoned_gpu(s, Layout::nhwc);
    g.convert_layout(t16, f);
    return g.to_host(f);
  };
  for (bool relu : {true, false}) {
    CAPTURE(relu);
    Tensor y_staged = e.poisoned_gpu(ys, Layout::nhwc);
    g.conv2d_forward(xl, wc, b, y_staged, relu);
    Tensor y16 = g.empty_typed(ys, DType::bf16, Layout::nhwc);
    g.conv2d_forward(x16, wc, b, y16, relu);
    CHECK(as_float(y16, ys) == bf16_rounded(g.to_host(y_staged)));
  }
  Tensor dx_staged = e.poisoned_gpu(xs, Layout::nhwc);
  g.conv2d_backward_data(dyl, wc, dx_staged);
  Tensor dx16 = g.empty_typed(xs, DType::bf16, Layout::nhwc);
  g.conv2d_backward_data(dy16, wc, dx16);
  CHECK(as_float(dx16, xs) == g.to_host(dx_staged));  // the staged dx is the bf16 result, widened

  // No staging copies of the activations: less workspace, and the calls stay within it.
  const std::size_t stored = g.conv2d_workspace_bytes(xs, ws, Layout::nhwc, DType::bf16);
  CHECK(stored < g.conv2d_workspace_bytes(xs, ws, Layout::nhwc));
  g.trim_workspace(stored);
  const std::size_t before = g.bytes_in_use();
  Tensor y16 = g.empty_typed(ys, DType::bf16, Layout::nhwc);
  g.conv2d_forward(x16, wc, b, y16, true);
  g.conv2d_backward_data(dy16, wc, dx16);
  CHECK(g.bytes_in_use() - before == std::size_t((ys.numel() + 1) / 2) * sizeof(float));  // y16 alone

  // Refused: bf16 beside float32, bf16 NCHW, bf16 where the convolution runs on float32 (3 input channels;
  // precision tf32), bf16 into an op that takes float32, and bf16 on the CPU.
  Tensor y32 = e.poisoned_gpu(ys, Layout::nhwc);
  CHECK_THROWS_WITH_AS(g.conv2d_forward(x16, wc, b, y32, true),
                       doctest::Contains("x holds bf16 values but y float32"), Error);
  Tensor nchw16 = g.empty_typed(xs, DType::bf16, Layout::nchw);
  CHECK_THROWS_WITH_AS(g.convert_layout(x.gpu, nchw16), doctest::Contains("bf16 activations are NHWC"), Error);
  const Shape xs3{1, 3, 9, 11}, ws3{24, 3, 3, 3};
  Tensor x3 = g.empty_typed(xs3, DType::bf16, Layout::nhwc);
  const Tensor w3 = g.zeros(ws3).with_layout(Layout::nhwc);
  CHECK_THROWS_WITH_AS(g.conv2d_forward(x3, w3, b, y16, true), doctest::Contains("bf16 needs multiples of 8"), Error);
  g.set_precision(Precision::tf32);
  CHECK_THROWS_WITH_AS(g.conv2d_backward_data(dy16, wl, dx16),
                       doctest::Contains("the activations hold bf16 values but this convolution runs on float32"),
                       Error);
  CHECK_THROWS_WITH_AS(g.clamp(x16, 0.0f, 1.0f, x16), doctest::Contains("x holds bf16 values; this op takes float32"), Error);
  Tensor cpu16 = e.cpu().empty_typed(xs, DType::bf16, Layout::nhwc);
  CHECK_THROWS_WITH_AS(e.cpu().convert_layout(x.cpu, cpu16), doctest::Contains("the cpu backend computes in float32"),
                       Error);
}

// ---- activation and pooling -------------------------------------------------------------------------------

TEST_CASE("convert_layout matches the CPU both ways (tiles past the grid's 65535 rows)") {
  Env& e = env();
  e.seed(107);
  // The last is an image of 1500x1400: 2.1e6 pixels, more row tiles than a grid's y extent.
  for (const Shape& s : {Shape{1, 3, 7, 5}, Shape{2, 40, 9, 11}, Shape{1, 64, 33, 31}, Shape{1, 3, 1400, 1500}}) {
    const Pair x = e.random(s);
    for (Layout to : {Layout::nhwc, Layout::nchw}) {
      // to NHWC from the NCHW x; to NCHW from the NHWC copies of x on each backend.
      const Tensor xc = to == Layout::nhwc ? x.cpu : x.cpu.with_layout(Layout::nhwc);
      const Tensor xg = to == Layout::nhwc ? x.gpu : x.gpu.with_layout(Layout::nhwc);
      Tensor yc = e.cpu().empty(s).with_layout(to), yg = e.poisoned_gpu(s, to);
      e.cpu().convert_layout(xc, yc);
      e.gpu().convert_layout(xg, yg);
      check_close(shape_name("convert_layout to", s, to == Layout::nhwc ? " NHWC" : " NCHW"), yg, yc, kExact);
    }
  }
}

TEST_CASE("relu forward and backward match the CPU, also in place") {
  Env& e = env();
  e.seed(103);
  for (const Shape& s : feature_shapes()) {
    const Pair x = e.random(s), dy = e.random(s);
    Pair y = e.poisoned(s), dx = e.poisoned(s);
    e.cpu().relu_forward(x.cpu, y.cpu);
    e.gpu().relu_forward(x.gpu, y.gpu);
    check_close(shape_name("relu_forward", s), y, kExact);
    e.cpu().relu_backward(y.cpu, dy.cpu, dx.cpu);
    e.gpu().relu_backward(y.gpu, dy.gpu, dx.gpu);
    check_close(shape_name("relu_backward", s), dx, kExact);
    // In place: y = relu(y), dx = relu'(y)·dx.
    Pair xi = e.random(s);
    e.cpu().relu_forward(xi.cpu, xi.cpu);
    e.gpu().relu_forward(xi.gpu, xi.gpu);
    check_close(shape_name("relu_forward in place", s), xi, kExact);
  }
}

// Mask words (Backend::relu_mask, pool2d_mask) read back as floats, as the 32-bit words they are.
std::vector<unsigned> mask_words(const std::vector<float>& host) {
  std::vector<unsigned> words(host.size());
  std::memcpy(words.data(), host.data(), host.size() * sizeof(unsigned));
  return words;
}
bool mask_bit(const std::vector<unsigned>& words, std::int64_t e) { return (words[std::size_t(e / 32)] >> (e % 32)) & 1u; }

// Where element i of an NCHW tensor of shape s lies in memory in layout l.
std::int64_t element_index(const Shape& s, std::int64_t i, Layout l) {
  if (l == Layout::nchw) return i;
  const std::int64_t x = i % s.w, y = i / s.w % s.h, c = i / s.plane() % s.c, n = i / (s.plane() * s.c);
  return ((n * s.h + y) * s.w + x) * s.c + c;
}

TEST_CASE("relu and pooling masks, and the backwards through them, match the CPU bit for bit") {
  Env& e = env();
  e.seed(113);
  for (const Shape& s : pool_shapes()) {  // odd sizes, batches, and element counts that end mid-word
    const Shape ps{s.n, s.c, s.h / 2, s.w / 2};
    const Shape bs{1, 1, 1, int(relu_mask_words(s.numel()))};  // (1,1,1,⌈n/32⌉)
    for (Layout l : kLayouts) {
      const std::string name = shape_name("relu masks", s, " ") + enum_name(l);
      CAPTURE(name);
      Pair y = e.random(s);  // a ReLU output: exact zeros in about half the elements
      e.cpu().relu_forward(y.cpu, y.cpu);
      e.gpu().relu_forward(y.gpu, y.gpu);
      const Tensor yc = y.cpu, yg = e.in_layout(y.gpu, l);
      // The CPU's mask of the NCHW y, and of the NHWC order where the GPU's is NHWC: bits follow memory order.
      Tensor yc_l = yc;
      if (l == Layout::nhwc) {
        yc_l = e.cpu().from_host(e.gpu().to_host(yg), s);  // the NHWC elements, as a plain sequence
      }
      Tensor bits_c = e.cpu().empty(bs), bits_g = e.gpu().empty(bs);
      e.cpu().relu_mask(yc_l, bits_c);
      e.gpu().relu_mask(yg, bits_g);
      const std::vector<float> words_g = e.gpu().to_host(bits_g), words_c = e.cpu().to_host(bits_c);
      // Words of bits compared as bits (as floats, some are NaN patterns).
      CHECK(std::memcmp(words_g.data(), words_c.data(), words_c.size() * sizeof(float)) == 0);

      const Pair dy = e.random(s);
      Pair dx = e.poisoned(s);
      e.cpu().relu_backward(yc, dy.cpu, dx.cpu);
      const Tensor dyg = e.in_layout(dy.gpu, l);
      Tensor dxg = e.poisoned_gpu(s, l);
      e.gpu().relu_backward_mask(bits_g, dyg, dxg);
      check_close_any("relu_backward_mask", dxg, dx.cpu, Tol{0, 0});
      if (ps.numel() == 0) continue;
      const Pair dp = e.random(ps);
      const Tensor pooled = e.cpu().empty(ps);
      for (PoolMode mode : {PoolMode::average, PoolMode::max}) {
        const std::string op = std::string("pool2d_backward_mask ") + enum_name(mode);
        CAPTURE(op);
        // The pooling mask (max: where each window's gradient lands) against the CPU's of the NCHW y, bit for
        // bit with each bit looked up at its element's place in the GPU's layout; then the backward through it
        // against the CPU's backward through y itself.
        e.cpu().pool2d_mask(yc, bits_c, mode);
        e.gpu().pool2d_mask(yg, bits_g, mode);
        const std::vector<unsigned> pool_g = mask_words(e.gpu().to_host(bits_g));
        const std::vector<unsigned> pool_c = mask_words(e.cpu().to_host(bits_c));
        int differ = 0;
        for (std::int64_t i = 0; i < s.numel(); ++i)
          differ += mask_bit(pool_c, i) != mask_bit(pool_g, element_index(s, i, l));
        CHECK(differ == 0);
        Pair through = e.poisoned(s);
        e.cpu().pool2d_backward(yc, pooled, dp.cpu, through.cpu, mode, true);
        Tensor through_g = e.poisoned_gpu(s, l);
        e.gpu().pool2d_backward_mask(bits_g, e.in_layout(dp.gpu, l), through_g, mode);
        check_close_any(op, through_g, through.cpu, Tol{0, 0});
      }
    }
  }
}

// The ops between the convolutions on bf16 activations (NHWC): each computes in float from the stored values
// and rounds once where it stores, so on values that are bf16 already they give the CPU's float32 results
// rounded to bf16, bit for bit; their masks are the CPU's bits (each looked up at its element's NHWC place).
TEST_CASE("relu, pooling and their masks on bf16 activations: the CPU's results rounded, the CPU's bits") {
  Env& e = env();
  e.seed(127);
  Backend& g = e.gpu();
  g.set_precision(Precision::bf16);
  auto bits_agree = [&](const Tensor& cpu_bits, const Tensor& gpu_bits, Shape s) {
    const std::vector<unsigned> c = mask_words(e.cpu().to_host(cpu_bits)), w = mask_words(g.to_host(gpu_bits));
    int differ = 0;
    for (std::int64_t i = 0; i < s.numel(); ++i) differ += mask_bit(c, i) != mask_bit(w, element_index(s, i, Layout::nhwc));
    return differ == 0;
  };
  for (const Shape& s : pool_shapes()) {
    const Shape ps{s.n, s.c, s.h / 2, s.w / 2};
    const std::string name = shape_name("bf16", s);
    CAPTURE(name);
    const std::vector<float> xh = bf16_rounded(e.uniform(s.numel(), -1.0f, 1.0f));
    const std::vector<float> dyh = bf16_rounded(e.uniform(s.numel(), -1.0f, 1.0f));
    const Tensor xc = e.cpu().from_host(xh, s), dyc = e.cpu().from_host(dyh, s);
    Tensor yc = e.cpu().empty(s), dxc = e.cpu().empty(s);
    e.cpu().relu_forward(xc, yc);
    Tensor y16 = g.empty_typed(s, DType::bf16, Layout::nhwc);
    g.relu_forward(e.to_bf16(xh, s), y16);
    CHECK(e.widened(y16) == e.cpu().to_host(yc));

    const Shape bs{1, 1, 1, int(relu_mask_words(s.numel()))};
    Tensor bits_c = e.cpu().empty(bs), bits_g = g.empty(bs);
    e.cpu().relu_mask(yc, bits_c);
    g.relu_mask(y16, bits_g);
    CHECK(bits_agree(bits_c, bits_g, s));
    e.cpu().relu_backward(yc, dyc, dxc);
    const std::vector<float> relu_grad = e.cpu().to_host(dxc);
    Tensor dy16 = e.to_bf16(dyh, s), dx16 = g.empty_typed(s, DType::bf16, Layout::nhwc);
    g.relu_backward_mask(bits_g, dy16, dx16);
    CHECK(e.widened(dx16) == relu_grad);
    g.relu_backward(y16, dy16, dx16);
    CHECK(e.widened(dx16) == relu_grad);
    if (ps.numel() == 0) continue;

    const std::vector<float> dph = bf16_rounded(e.uniform(ps.numel(), -1.0f, 1.0f));
    const Tensor dpc = e.cpu().from_host(dph, ps), dp16 = e.to_bf16(dph, ps);
    for (PoolMode mode : {PoolMode::average, PoolMode::max}) {
      CAPTURE(enum_name(mode));
      Tensor pc = e.cpu().empty(ps), p16 = g.empty_typed(ps, DType::bf16, Layout::nhwc);
      e.cpu().pool2d_forward(yc, pc, mode);
      g.pool2d_forward(y16, p16, mode);
      CHECK(e.widened(p16) == bf16_rounded(e.cpu().to_host(pc)));
      e.cpu().pool2d_mask(yc, bits_c, mode);
      g.pool2d_mask(y16, bits_g, mode);
      CHECK(bits_agree(bits_c, bits_g, s));
      for (bool through_relu : {true, false}) {
        CAPTURE(through_relu);
        e.cpu().pool2d_backward(yc, pc, dpc, dxc, mode, through_relu);
        if (through_relu)
          g.pool2d_backward_mask(bits_g, dp16, dx16, mode);
        else
          g.pool2d_backward(y16, p16, dp16, dx16, mode, false);
        CHECK(e.widened(dx16) == bf16_rounded(e.cpu().to_host(dxc)));
      }
    }
  }
  // One element type per call.
  Tensor y16 = g.empty_typed(Shape{1, 8, 4, 4}, DType::bf16, Layout::nhwc);
  Tensor p32 = e.poisoned_gpu(Shape{1, 8, 2, 2}, Layout::nhwc);
  CHECK_THROWS_WITH_AS(g.pool2d_forward(y16, p32, PoolMode::max), doctest::Contains("y holds float32 values but x bf16"),
                       Error);
  g.set_precision(Precision::tf32);
}

// The fused forms write what the ops they stand for write, bit for bit, in every word (outputs poisoned with
// two patterns first): pool2d_forward_mask in both layouts and both element types (its one-pass kernel where x
// is NHWC with channels a multiple of 32: 64, 512 and 32 channels, odd rows and columns, a batch of two; the
// two ops elsewhere), conv2d_forward_relu_mask with bf16 activations (the mask voted in the bias + ReLU pass;
// 24 channels, so the last word is partial) and on float32 (the mask pass after the convolution), and
// conv2d_forward_pool_mask (bias, ReLU, pooling and mask in one pass over bf16 with 32 channels).
TEST_CASE("pool2d_forward_mask, conv2d_forward_relu_mask and conv2d_forward_pool_mask write what the ops they fuse write") {
  Env& e = env();
  e.seed(131);
  Backend& g = e.gpu();
  auto same_words = [&](const Tensor& a, const Tensor& b) {
    const std::vector<float> x = g.to_host(a), y = g.to_host(b);
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
  };
  const float poisons[] = {kNaN, -1.0f};
  for (const Shape& s : pool_shapes()) {
    const Shape ps{s.n, s.c, s.h / 2, s.w / 2}, bs{1, 1, 1, int(relu_mask_words(s.numel()))};
    const std::vector<float> xh = bf16_rounded(e.uniform(s.numel(), -1.0f, 1.0f));
    Tensor y = g.from_host(xh, s);
    g.relu_forward(y, y);  // a ReLU output: exact zeros and ties in the windows
    for (const bool bf16 : {false, true}) {
      for (Layout l : kLayouts) {
        if (bf16 && l == Layout::nchw) continue;  // bf16 activations are NHWC
        const std::string name = shape_name("pool2d_forward_mask", s, " ") + enum_name(l) + (bf16 ? " bf16" : "");
        CAPTURE(name);
        g.set_precision(bf16 ? Precision::bf16 : Precision::tf32);
        Tensor x = bf16 ? g.empty_typed(s, DType::bf16, Layout::nhwc) : e.in_layout(y, l);
        if (bf16) g.convert_layout(y, x);
        const DType t = bf16 ? DType::bf16 : DType::f32;
        for (PoolMode mode : {PoolMode::average, PoolMode::max}) {
          CAPTURE(enum_name(mode));
          Tensor p_two = g.empty_typed(ps, t, l), bits_two = g.empty(bs);
          g.pool2d_forward(x, p_two, mode);
          g.pool2d_mask(x, bits_two, mode);
          for (float poison : poisons) {
            Tensor p_one = g.empty_typed(ps, t, l), bits_one = g.empty(bs);
            g.fill(p_one, poison);
            g.fill(bits_one, poison);
            g.pool2d_forward_mask(x, p_one, bits_one, mode);
            CHECK(same_words(bits_one, bits_two));
            if (ps.numel() > 0) CHECK((bf16 ? e.widened(p_one) == e.widened(p_two) : same_words(p_one, p_two)));
          }
        }
      }
    }
  }

  const Shape xs{1, 40, 9, 11}, ws{24, 40, 3, 3}, ys{1, 24, 9, 11};  // y: 2376 elements, the last word partial
  const Shape bs{1, 1, 1, int(relu_mask_words(ys.numel()))};
  const Tensor x = e.random(xs).gpu, b = e.random(Shape{1, 1, 1, 24}, -0.1f, 0.1f).gpu;
  const Tensor w = e.upload(e.normal(ws.numel(), 0.07f), ws).gpu;
  for (const Precision p : {Precision::bf16, Precision::tf32}) {
    for (Layout l : kLayouts) {
      const bool bf16 = p == Precision::bf16;
      if (bf16 && l == Layout::nchw) continue;
      CAPTURE(enum_name(p));
      CAPTURE(enum_name(l));
      g.set_precision(p);
      Tensor xl = bf16 ? g.empty_typed(xs, DType::bf16, Layout::nhwc) : e.in_layout(x, l);
      if (bf16) g.convert_layout(x, xl);
      Tensor wl = e.in_layout(w, l);
      const Tensor wc = g.conv_filter(wl);
      const DType t = bf16 ? DType::bf16 : DType::f32;
      Tensor y_two = g.empty_typed(ys, t, l), bits_two = g.empty(bs);
      g.conv2d_forward(xl, wc, b, y_two, true);
      g.relu_mask(y_two, bits_two);
      for (float poison : poisons) {
        Tensor y_one = g.empty_typed(ys, t, l), bits_one = g.empty(bs);
        g.fill(y_one, poison);
        g.fill(bits_one, poison);
        g.conv2d_forward_relu_mask(xl, wc, b, y_one, bits_one);
        CHECK(same_words(bits_one, bits_two));
        CHECK((bf16 ? e.widened(y_one) == e.widened(y_two) : same_words(y_one, y_two)));
      }
      Tensor small = g.empty(Shape{1, 1, 1, int(bs.w - 1)});
      CHECK_THROWS_WITH_AS(g.conv2d_forward_relu_mask(xl, wc, b, y_two, small),
                           doctest::Contains("conv2d_forward_relu_mask: bits"), Error);
    }
  }

  // conv2d_forward_pool_mask: the pooled output and its mask as conv2d_forward + pool2d_forward_mask give them
  // (y itself is the raw convolution in the one-pass case, so not compared). bf16 with 32 output channels takes
  // the one pass (a batch of two, an odd row and column: the dropped words too), 24 channels and tf32 the two ops.
  const Shape xs2{2, 40, 9, 11};
  const Tensor x2 = e.random(xs2).gpu;
  for (const int cout : {32, 24}) {
    const Shape ws2{cout, 40, 3, 3}, ys2{2, cout, 9, 11}, ps2{2, cout, 4, 5};
    const Shape bs2{1, 1, 1, int(relu_mask_words(ys2.numel()))};
    const Tensor w2 = e.upload(e.normal(ws2.numel(), 0.07f), ws2).gpu;
    const Tensor b2 = e.random(Shape{1, 1, 1, cout}, -0.1f, 0.1f).gpu;
    for (const Precision p : {Precision::bf16, Precision::tf32}) {
      const bool bf16 = p == Precision::bf16;
      CAPTURE(cout);
      CAPTURE(enum_name(p));
      g.set_precision(p);
      Tensor xl = g.empty_typed(xs2, bf16 ? DType::bf16 : DType::f32, Layout::nhwc);
      g.convert_layout(x2, xl);
      const Tensor wc = g.conv_filter(e.in_layout(w2, Layout::nhwc));
      const DType t = bf16 ? DType::bf16 : DType::f32;
      for (PoolMode mode : {PoolMode::average, PoolMode::max}) {
        CAPTURE(enum_name(mode));
        Tensor y_two = g.empty_typed(ys2, t, Layout::nhwc), p_two = g.empty_typed(ps2, t, Layout::nhwc);
        Tensor bits_two = g.empty(bs2);
        g.conv2d_forward(xl, wc, b2, y_two, true);
        g.pool2d_forward_mask(y_two, p_two, bits_two, mode);
        for (float poison : poisons) {
          Tensor y_one = g.empty_typed(ys2, t, Layout::nhwc), p_one = g.empty_typed(ps2, t, Layout::nhwc);
          Tensor bits_one = g.empty(bs2);
          g.fill(p_one, poison);
          g.fill(bits_one, poison);
          g.conv2d_forward_pool_mask(xl, wc, b2, y_one, p_one, bits_one, mode);
          CHECK(same_words(bits_one, bits_two));
          CHECK((bf16 ? e.widened(p_one) == e.widened(p_two) : same_words(p_one, p_two)));
        }
      }
    }
  }
  g.set_precision(Precision::tf32);
}

// The objective's ops on bf16 features: a mask multiplied in (masked styles) and the squared difference with its
// gradient added in place (content loss): the CPU's float32 results on the same values, rounded; the loss, summed
// in double from the same float terms, to summation order.
TEST_CASE("mul_mask and sq_diff_loss on bf16 activations: the CPU's results rounded") {
  Env& e = env();
  e.seed(137);
  Backend& g = e.gpu();
  g.set_precision(Precision::bf16);
  const Shape s{1, 24, 13, 9}, ms{1, 1, 13, 9};
  const std::vector<float> xh = bf16_rounded(e.uniform(s.numel(), -1.0f, 1.0f));
  const std::vector<float> th = bf16_rounded(e.uniform(s.numel(), -1.0f, 1.0f));
  const std::vector<float> gh = bf16_rounded(e.uniform(s.numel(), -1.0f, 1.0f));
  const Pair mask = e.random(ms, 0.0f, 1.0f);
  const Tensor xc = e.cpu().from_host(xh, s), tc = e.cpu().from_host(th, s);
  const Tensor x16 = e.to_bf16(xh, s), t16 = e.to_bf16(th, s);

  Tensor yc = e.cpu().empty(s), y16 = g.empty_typed(s, DType::bf16, Layout::nhwc);
  e.cpu().mul_mask(xc, mask.cpu, yc);
  g.mul_mask(x16, mask.gpu, y16);
  CHECK(e.widened(y16) == bf16_rounded(e.cpu().to_host(yc)));

  for (const bool weighted : {false, true}) {
    CAPTURE(weighted);
    Tensor gc = e.cpu().from_host(gh, s), g16 = e.to_bf16(gh, s);
    const double lc = e.cpu().sq_diff_loss(xc, tc, weighted ? &mask.cpu : nullptr, 0.3f, &gc);
    const double l16 = g.sq_diff_loss(x16, t16, weighted ? &mask.gpu : nullptr, 0.3f, &g16);
    CHECK(l16 == doctest::Approx(lc).epsilon(1e-9));
    CHECK(e.widened(g16) == bf16_rounded(e.cpu().to_host(gc)));
  }
  Tensor t32 = e.poisoned_gpu(s, Layout::nhwc);
  CHECK_THROWS_WITH_AS(g.sq_diff_loss(x16, t32, nullptr, 1.0f, nullptr),
                       doctest::Contains("target holds float32 values but x bf16"), Error);
  g.set_precision(Precision::tf32);
}

TEST_CASE("fill, copy and axpy on bf16 activations; convert_layout pads and crops channels as the CPU does; split_bf16") {
  Env& e = env();
  e.seed(139);
  Backend& g = e.gpu();
  g.set_precision(Precision::bf16);
  const Shape s{1, 16, 7, 5};
  const std::vector<float> xh = bf16_rounded(e.uniform(s.numel(), -1.0f, 1.0f));
  const std::vector<float> yh = bf16_rounded(e.uniform(s.numel(), -1.0f, 1.0f));
  const Tensor x16 = e.to_bf16(xh, s);

  Tensor y16 = e.to_bf16(yh, s);
  g.fill(y16, 0.3f);
  CHECK(e.widened(y16) == bf16_rounded(std::vector<float>(std::size_t(s.numel()), 0.3f)));
  g.fill(y16, 0.0f);
  CHECK(e.widened(y16) == std::vector<float>(std::size_t(s.numel()), 0.0f));
  g.copy(x16, y16);
  CHECK(e.widened(y16) == xh);
  Tensor a16 = e.to_bf16(yh, s), yc = e.cpu().from_host(yh, s);
  g.axpy(-0.7f, x16, a16);
  e.cpu().axpy(-0.7f, e.cpu().from_host(xh, s), yc);
  CHECK(e.widened(a16) == bf16_rounded(e.cpu().to_host(yc)));  // computed in float, rounded once
  Tensor f32 = e.poisoned_gpu(s, Layout::nhwc);
  CHECK_THROWS_WITH_AS(g.axpy(1.0f, x16, f32), doctest::Contains("axpy: y holds float32 values but x bf16"), Error);
  CHECK_THROWS_WITH_AS(g.copy(f32, y16), doctest::Contains("copy: y holds bf16 values but x float32"), Error);

  // The image into a bf16 network's 8-channel input and its gradient back: padded with zeros, cropped.
  const Shape img{2, 3, 6, 5}, padded{2, 8, 6, 5};
  const Pair im = e.random(img, -2.0f, 2.0f);
  const std::vector<float> imh = e.cpu().to_host(im.cpu);
  for (const Layout from : kLayouts) {
    CAPTURE(from);
    Tensor pc = e.cpu().empty(padded);  // the CPU's padding, NCHW
    e.cpu().convert_layout(im.cpu, pc);
    const std::vector<float> want = e.cpu().to_host(pc);
    for (int c = 0; c < 8; ++c)  // sample 1, pixel 7 (planes of 30)
      CHECK(want[std::size_t((8 + c) * 30 + 7)] == (c < 3 ? imh[std::size_t((3 + c) * 30 + 7)] : 0.0f));
    Tensor p16 = g.empty_typed(padded, DType::bf16, Layout::nhwc);
    g.convert_layout(e.in_layout(im.gpu, from), p16);
    CHECK(e.widened(p16) == bf16_rounded(want));
    Tensor pf = e.poisoned_gpu(padded, Layout::nhwc);  // float32, channels-last, padded
    g.convert_layout(e.in_layout(im.gpu, from), pf);
    CHECK(e.gpu().to_host(e.in_layout(pf, Layout::nchw)) == want);
    Tensor back = e.poisoned_gpu(img, from);  // cropped back from bf16
    g.convert_layout(p16, back);
    CHECK(g.to_host(e.in_layout(back, Layout::nchw)) == bf16_rounded(imh));
  }
  Tensor wrong = g.empty_typed(Shape{2, 8, 6, 4}, DType::bf16, Layout::nhwc);
  CHECK_THROWS_WITH_AS(g.convert_layout(im.gpu, wrong), doctest::Contains("convert_layout: y has shape"), Error);

  // The image as two bf16 parts: its rounding, what the rounding missed (rounded), zeros; together ~16 bits.
  const Pair pixels = e.random(img, -130.0f, 130.0f);  // the preprocessed image's range
  const std::vector<float> ph = e.cpu().to_host(pixels.cpu);
  for (const Layout from : kLayouts) {
    CAPTURE(from);
    Tensor parts = g.empty_typed(padded, DType::bf16, Layout::nhwc);
    g.split_bf16(e.in_layout(pixels.gpu, from), parts);
    const std::vector<float> got = e.widened(parts);  // (2,8,6,5) NCHW
    const std::vector<float> hi = bf16_rounded(ph);
    int wrong_parts = 0, loose = 0;
    for (int n = 0; n < 2; ++n)
      for (int c = 0; c < 3; ++c)
        for (int i = 0; i < 30; ++i) {
          const std::size_t at = std::size_t((n * 3 + c) * 30 + i);
          const float h = got[std::size_t((n * 8 + c) * 30 + i)], l = got[std::size_t((n * 8 + 3 + c) * 30 + i)];
          wrong_parts += h != hi[at] || l != bf16_rounded(ph[at] - hi[at]);
          loose += std::fabs(double(h) + l - ph[at]) > std::fabs(ph[at]) * std::ldexp(1.0, -16);
          for (int z = 6; z < 8; ++z) wrong_parts += got[std::size_t((n * 8 + z) * 30 + i)] != 0.0f;
        }
    CHECK(wrong_parts == 0);
    CHECK(loose == 0);
  }
  Tensor narrow = g.empty_typed(Shape{2, 5, 6, 5}, DType::bf16, Layout::nhwc);
  CHECK_THROWS_WITH_AS(g.split_bf16(pixels.gpu, narrow), doctest::Contains("with C' >= 6"), Error);
  Tensor cpu_y = e.cpu().empty(padded);
  CHECK_THROWS_WITH_AS(e.cpu().split_bf16(pixels.cpu, cpu_y), doctest::Contains("split_bf16: y holds float32"), Error);
  g.set_precision(Precision::tf32);
}

TEST_CASE("pool2d forward and backward match the CPU (average and max, odd sizes)") {
  Env& e = env();
  e.seed(104);
  for (PoolMode mode : {PoolMode::average, PoolMode::max}) {
    const char* m = mode == PoolMode::max ? " max" : " avg";
    for (const Shape& s : pool_shapes()) {
      const Shape ys{s.n, s.c, s.h / 2, s.w / 2};
      const Pair x = e.random(s);  // (N,C,H,W), continuous values: no ties in a window
      Pair y = e.poisoned(ys);     // (N,C,H/2,W/2)
      e.cpu().pool2d_forward(x.cpu, y.cpu, mode);
      const Pair dy = e.random(ys);
      Pair dx = e.poisoned(s);     // dropped rows/columns must come back 0, not NaN
      e.cpu().pool2d_backward(x.cpu, y.cpu, dy.cpu, dx.cpu, mode);
      Pair dxm = e.poisoned(s);    // relu_mask: x taken as a ReLU output (negative half masked)
      e.cpu().pool2d_backward(x.cpu, y.cpu, dy.cpu, dxm.cpu, mode, true);
      for (Layout l : kLayouts) {
        const Tensor xl = e.in_layout(x.gpu, l), dyl = e.in_layout(dy.gpu, l);
        Tensor yl = e.poisoned_gpu(ys, l), dxl = e.poisoned_gpu(s, l), dxml = e.poisoned_gpu(s, l);
        e.gpu().pool2d_forward(xl, yl, mode);
        check_close_any(shape_name("pool2d_forward", s, m), yl, y.cpu, kExact);
        e.gpu().pool2d_backward(xl, yl, dyl, dxl, mode);
        check_close_any(shape_name("pool2d_backward", s, m), dxl, dx.cpu, kExact);
        e.gpu().pool2d_backward(xl, yl, dyl, dxml, mode, true);
        check_close_any(shape_name("pool2d_backward relu_mask", s, m), dxml, dxm.cpu, kExact);
      }
    }
  }
}

TEST_CASE("max pool backward sends a tied window's gradient to its first maximum") {
  // ReLU outputs have whole windows of zeros; backend.hpp fixes the first maximum in row-major order.
  Env& e = env();
  e.seed(105);
  const Shape s{1, 8, 10, 12}, ys{1, 8, 5, 6};
  std::vector<float> v = e.uniform(s.numel(), -1.0f, 1.0f);
  for (float& x : v) x = std::max(x, 0.0f);  // about 1 window in 16 is all zeros, many have 2–3 zeros
  const Pair x = e.upload(v, s);
  Pair y = e.poisoned(ys), dx = e.poisoned(s);
  const Pair dy = e.random(ys);
  e.cpu().pool2d_forward(x.cpu, y.cpu, PoolMode::max);
  e.gpu().pool2d_forward(x.gpu, y.gpu, PoolMode::max);
  e.cpu().pool2d_backward(x.cpu, y.cpu, dy.cpu, dx.cpu, PoolMode::max);
  e.gpu().pool2d_backward(x.gpu, y.gpu, dy.gpu, dx.gpu, PoolMode::max);
  check_close("pool2d_backward max with ties", dx, kExact);
  const Tensor xh = e.in_layout(x.gpu, Layout::nhwc), yh = e.in_layout(y.gpu, Layout::nhwc);
  Tensor dxh = e.poisoned_gpu(s, Layout::nhwc);
  e.gpu().pool2d_backward(xh, yh, e.in_layout(dy.gpu, Layout::nhwc), dxh, PoolMode::max);
  check_close_any("pool2d_backward max with ties", dxh, dx.cpu, kExact);
}

// ---- Gram matrices ----------------------------------------------------------------------------------------

TEST_CASE("gram and gram_backward round their operands as each precision's tensor cores do") {
  // Every feature is v = 1 + 3·2⁻¹⁰: exact in TF32 (10-bit significands), 1 in bf16 (7 bits). Over M = 1024
  // positions G = M·v² (1030.01) in fp32 and TF32 and M (1024) in bf16, 0.6 % apart; with dG = ½ everywhere,
  // S = dG + dGᵀ = 1 and dF = S·F = C·v (16.05) against C (16). A Gram that skipped bf16's rounding (or
  // rounded under fp32) misses by 0.6 %, 60× the 1e-4 allowed for the sums' order. On a GPU this fails if
  // cuBLAS ran CUBLAS_COMPUTE_32F_FAST_16BF without bf16 tensor cores.
  Env& e = env();
  const Shape s{1, 16, 32, 32};
  const float v = 1.0f + 3.0f / 1024.0f;
  const Tensor f = e.gpu().from_host(std::vector<float>(std::size_t(s.numel()), v), s);  // (1,C,H,W)
  const Shape gs{1, 1, s.c, s.c};
  const Tensor dg = e.gpu().from_host(std::vector<float>(std::size_t(gs.numel()), 0.5f), gs);  // (1,1,C,C)
  const Precision before = e.gpu().precision();
  for (Layout l : kLayouts)
    for (Precision p : kPrecisions) {
      e.gpu().set_precision(p);
      INFO(enum_name(p) << " " << enum_name(l));
      const double r = p == Precision::bf16 ? 1.0 : double(v);  // the operand the tensor cores see
      const Tensor fl = e.in_layout(f, l);
      Tensor g = e.poisoned_gpu(gs);
      e.gpu().gram(fl, g);
      for (float x : e.gpu().to_host(g)) CHECK(std::fabs(x - 1024.0 * r * r) <= 1e-4 * 1024.0 * r * r);
      Tensor df = e.poisoned_gpu(s, l);
      e.gpu().gram_backward(dg, fl, df, 0.0f);
      for (float x : e.gpu().to_host(df)) CHECK(std::fabs(x - 16.0 * r) <= 1e-4 * 16.0 * r);
    }
  e.gpu().set_precision(before);
}

TEST_CASE("gram and gram_backward match the CPU") {
  Env& e = env();
  e.seed(106);
  for (const Shape& s : feature_shapes()) {
    const Shape gs{1, 1, s.c, s.c};
    const Pair f = e.random(s, 0.0f, 1.0f);  // (1,C,H,W), non-negative like ReLU features
    Pair g = e.poisoned(gs);                 // (1,1,C,C)
    e.cpu().gram(f.cpu, g.cpu);
    const Pair dg = e.random(gs);  // not symmetric: gram_backward must use dG + dGᵀ
    Pair df0 = e.poisoned(s);      // beta = 0 overwrites
    e.cpu().gram_backward(dg.cpu, f.cpu, df0.cpu, 0.0f);
    const std::vector<float> start = e.uniform(s.numel(), -1.0f, 1.0f);
    Pair df1 = e.upload(start, s);  // beta = 1 accumulates
    e.cpu().gram_backward(dg.cpu, f.cpu, df1.cpu, 1.0f);
    for (Layout l : kLayouts) {
      const Tensor fl = e.in_layout(f.gpu, l);
      const Tensor start_l = e.in_layout(e.gpu().from_host(start, s), l);
      for (Precision p : kPrecisions) {
        e.gpu().set_precision(p);
        const std::string tag = std::string(" ") + enum_name(p);
        e.gpu().fill(g.gpu, kNaN);
        e.gpu().gram(fl, g.gpu);
        check_close(shape_name("gram", s) + tag + " " + enum_name(l), g, heavy_tol(p, kGramFp32));
        Tensor df0l = e.poisoned_gpu(s, l);
        e.gpu().gram_backward(dg.gpu, fl, df0l, 0.0f);
        check_close_any(shape_name("gram_backward beta=0", s) + tag, df0l, df0.cpu, heavy_tol(p, kGramFp32));
        Tensor df1l = e.poisoned_gpu(s, l);
        e.gpu().copy(start_l, df1l);
        e.gpu().gram_backward(dg.gpu, fl, df1l, 1.0f);
        check_close_any(shape_name("gram_backward beta=1", s) + tag, df1l, df1.cpu, heavy_tol(p, kGramFp32));
      }
    }
  }
}

// Features stored in bf16 (DType::bf16 activations): Gram matrices from them with fp32 accumulation, as the CPU
// computes from the same values (a product of two bf16 values is exact in fp32: only the summation order
// differs); the gradient's S = dG + dGᵀ is rounded to bf16 (here bf16 already: dG = S/2 with S of bf16 values)
// and dF = S·F (+ dF) accumulates in fp32, then is rounded once: the CPU's fp32 result within one bf16 step.
TEST_CASE("gram and gram_backward on bf16 features: fp32 accumulation, the gradient rounded once") {
  Env& e = env();
  e.seed(131);
  Backend& g = e.gpu();
  g.set_precision(Precision::bf16);
  constexpr Tol kOneBf16Step{4e-3, 1e-5};  // 2^-8 relative, and fp32 summation order
  for (const Shape& s : {Shape{1, 64, 9, 11}, Shape{1, 40, 33, 31}, Shape{1, 8, 1, 1}}) {
    CAPTURE(s.str());
    const Shape gs{1, 1, s.c, s.c};
    const std::vector<float> fh = bf16_rounded(e.uniform(s.numel(), 0.0f, 1.0f));
    std::vector<float> sh = bf16_rounded(e.uniform(gs.numel(), -1.0f, 1.0f)), dgh(sh.size());
    for (int i = 0; i < s.c; ++i)
      for (int j = 0; j < s.c; ++j) {
        const std::size_t ij = std::size_t(i) * s.c + j, ji = std::size_t(j) * s.c + i;
        dgh[ij] = 0.5f * (i <= j ? sh[ij] : sh[ji]);  // S = dG + dGᵀ = sh's upper triangle mirrored, exactly
      }
    const Pair f = e.upload(fh, s), dg = e.upload(dgh, gs);
    Tensor f16 = g.empty_typed(s, DType::bf16, Layout::nhwc);
    g.convert_layout(f.gpu, f16);
    Pair gram = e.poisoned(gs);
    e.cpu().gram(f.cpu, gram.cpu);
    g.gram(f16, gram.gpu);
    check_close("gram of bf16 features " + s.str(), gram, kGramFp32);

    const std::vector<float> start = bf16_rounded(e.uniform(s.numel(), -1.0f, 1.0f));
    for (float beta : {0.0f, 1.0f}) {
      CAPTURE(beta);
      Tensor dfc = e.cpu().from_host(start, s), df16 = g.empty_typed(s, DType::bf16, Layout::nhwc);
      g.convert_layout(g.from_host(start, s), df16);
      e.cpu().gram_backward(dg.cpu, f.cpu, dfc, beta);
      g.gram_backward(dg.gpu, f16, df16, beta);
      Tensor df = e.poisoned_gpu(s);
      g.convert_layout(df16, df);
      check_close("gram_backward on bf16 features " + s.str(), df, dfc, kOneBf16Step);
      CHECK(g.to_host(df) == bf16_rounded(g.to_host(df)));  // stored in bf16
    }
  }
  Tensor f16 = g.empty_typed(Shape{1, 8, 2, 2}, DType::bf16, Layout::nhwc);
  Tensor df32 = e.poisoned_gpu(Shape{1, 8, 2, 2}, Layout::nhwc), dg8 = g.zeros(Shape{1, 1, 8, 8});
  CHECK_THROWS_WITH_AS(g.gram_backward(dg8, f16, df32, 0.0f), doctest::Contains("df holds float32 values but f bf16"),
                       Error);
  g.set_precision(Precision::tf32);
}

// ---- element-wise -----------------------------------------------------------------------------------------

TEST_CASE("element-wise ops match the CPU") {
  Env& e = env();
  e.seed(107);
  for (Precision p : kPrecisions) {  // precision must not matter here
    e.gpu().set_precision(p);
    for (const Shape& s : {Shape{1, 3, 7, 5}, Shape{2, 5, 9, 11}, Shape{1, 64, 128, 128}}) {
      const Pair x = e.random(s), z = e.random(s);
      const std::vector<float> yv = e.uniform(s.numel(), -1.0f, 1.0f);
      Pair out = e.poisoned(s);

      e.cpu().fill(out.cpu, 0.75f);
      e.gpu().fill(out.gpu, 0.75f);
      check_close(shape_name("fill", s), out, kExact);
      e.cpu().fill(out.cpu, 0.0f);
      e.gpu().fill(out.gpu, 0.0f);
      check_close(shape_name("fill 0", s), out, kExact);

      out = e.poisoned(s);
      e.cpu().copy(x.cpu, out.cpu);
      e.gpu().copy(x.gpu, out.gpu);
      check_close(shape_name("copy", s), out, kExact);

      Pair y = e.upload(yv, s);
      e.cpu().axpy(0.3f, x.cpu, y.cpu);
      e.gpu().axpy(0.3f, x.gpu, y.gpu);
      check_close(shape_name("axpy", s), y, kExact);
      for (float b : {0.0f, 1.0f, -0.7f}) {
        y = e.upload(yv, s);
        e.cpu().axpby(1.5f, x.cpu, b, y.cpu);
        e.gpu().axpby(1.5f, x.gpu, b, y.gpu);
        check_close(shape_name("axpby", s, (" b=" + std::to_string(b)).c_str()), y, kExact);
      }
      y = e.upload(yv, s);
      e.cpu().scale(y.cpu, -2.5f);
      e.gpu().scale(y.gpu, -2.5f);
      check_close(shape_name("scale", s), y, kExact);

      out = e.poisoned(s);
      e.cpu().mul(x.cpu, z.cpu, out.cpu);
      e.gpu().mul(x.gpu, z.gpu, out.gpu);
      check_close(shape_name("mul", s), out, kExact);
      y = e.upload(yv, s);  // alias: y = x ⊙ y
      e.cpu().mul(x.cpu, y.cpu, y.cpu);
      e.gpu().mul(x.gpu, y.gpu, y.gpu);
      check_close(shape_name("mul in place", s), y, kExact);

      const Pair mask = e.random(Shape{1, 1, s.h, s.w}, 0.0f, 1.0f);  // (1,1,H,W)
      out = e.poisoned(s);
      e.cpu().mul_mask(x.cpu, mask.cpu, out.cpu);
      e.gpu().mul_mask(x.gpu, mask.gpu, out.gpu);
      check_close(shape_name("mul_mask", s), out, kExact);
      Tensor outh = e.poisoned_gpu(s, Layout::nhwc);  // NHWC features, the one-channel mask as it is
      e.gpu().mul_mask(e.in_layout(x.gpu, Layout::nhwc), mask.gpu, outh);
      check_close_any(shape_name("mul_mask", s), outh, out.cpu, kExact);
      y = e.upload(yv, s);
      e.cpu().mul_mask(y.cpu, mask.cpu, y.cpu);
      e.gpu().mul_mask(y.gpu, mask.gpu, y.gpu);
      check_close(shape_name("mul_mask in place", s), y, kExact);

      out = e.poisoned(s);
      e.cpu().clamp(x.cpu, -0.5f, 0.25f, out.cpu);
      e.gpu().clamp(x.gpu, -0.5f, 0.25f, out.gpu);
      check_close(shape_name("clamp", s), out, kExact);
      y = e.upload(yv, s);
      e.cpu().clamp(y.cpu, -0.5f, 0.25f, y.cpu);
      e.gpu().clamp(y.gpu, -0.5f, 0.25f, y.gpu);
      check_close(shape_name("clamp in place", s), y, kExact);
    }
  }
}

// ---- reductions -------------------------------------------------------------------------------------------

TEST_CASE("reductions match the CPU") {
  Env& e = env();
  e.seed(108);
  for (const Shape& s : {Shape{1, 1, 1, 1}, Shape{1, 3, 7, 5}, Shape{1, 1, 1, (1 << 20) + 3}, Shape{1, 64, 128, 128},
                         Shape{1, 1, 1, 300000000 / 64}}) {
    const Pair x = e.random(s), y = e.random(s);
    Backend& c = e.cpu();
    Backend& g = e.gpu();
    const double l1 = c.abs_sum(x.cpu);
    check_scalar(shape_name("dot", s), g.dot(x.gpu, y.gpu), c.dot(x.cpu, y.cpu), l1);
    check_scalar(shape_name("sum", s), g.sum(x.gpu), c.sum(x.cpu), l1);
    check_scalar(shape_name("abs_sum", s), g.abs_sum(x.gpu), l1, l1);
    CHECK(g.abs_max(x.gpu) == c.abs_max(x.cpu));  // exact: a max involves no rounding
    CHECK(g.all_finite(x.gpu));
  }
}

// The optimizer's one round trip per iteration: values queued while deferring (a loss and the four reductions)
// and an extra tensor come back in one take_deferred, equal to the blocking ops (the same kernels) and to a copy.
TEST_CASE("queued reductions and an extra tensor come back in one take_deferred, as the blocking ones") {
  Env& e = env();
  e.seed(110);
  const Shape s{1, 3, 37, 41}, es{1, 1, 1, 57};
  const Pair x = e.random(s), y = e.random(s), extra = e.random(es);
  Backend& g = e.gpu();
  g.begin_deferred();
  CHECK(g.sq_diff_loss(x.gpu, y.gpu, nullptr, 0.5f, nullptr) == 0.0);
  g.queue_reduction(Backend::Reduction::dot, x.gpu, &y.gpu);
  g.queue_reduction(Backend::Reduction::sum, x.gpu);
  g.queue_reduction(Backend::Reduction::abs_sum, x.gpu);
  g.queue_reduction(Backend::Reduction::abs_max, x.gpu);
  double out[Backend::kMaxDeferred];
  std::vector<float> host(std::size_t(es.numel()), kNaN);
  REQUIRE(g.take_deferred(out, &extra.gpu, host.data()) == 5);
  CHECK_FALSE(g.deferring());
  CHECK(out[0] == g.sq_diff_loss(x.gpu, y.gpu, nullptr, 0.5f, nullptr));
  CHECK(out[1] == g.dot(x.gpu, y.gpu));
  CHECK(out[2] == g.sum(x.gpu));
  CHECK(out[3] == g.abs_sum(x.gpu));
  CHECK(out[4] == g.abs_max(x.gpu));
  CHECK(out[4] == e.cpu().abs_max(x.cpu));
  CHECK(host == e.cpu().to_host(extra.cpu));
  // Nothing queued: the extra alone.
  std::fill(host.begin(), host.end(), kNaN);
  g.begin_deferred();
  REQUIRE(g.take_deferred(out, &extra.gpu, host.data()) == 0);
  CHECK(host == e.cpu().to_host(extra.cpu));
}

TEST_CASE("recorded work replays its device work and its queued values; work that cannot be captured runs eagerly") {
  Env& e = env();
  e.seed(111);
  const Shape s{1, 3, 37, 41};
  Pair x = e.random(s);
  const Pair y = e.random(s);
  Backend& g = e.gpu();
  Tensor grad = g.empty(s);
  Tensor sum = g.empty(s);
  // The work: an element-wise op, a loss with its gradient and a queued reduction.
  auto work = [&] {
    g.axpby(1.0f, x.gpu, 0.0f, sum);
    g.axpy(2.0f, y.gpu, sum);  // sum = x + 2y
    g.fill(grad, 0.0f);
    (void)g.sq_diff_loss(sum, y.gpu, nullptr, 0.25f, &grad);
    g.queue_reduction(Backend::Reduction::abs_sum, sum);
  };
  double out[Backend::kMaxDeferred];
  g.begin_deferred();
  g.queue_reduction(Backend::Reduction::sum, y.gpu);  // a value queued before: the recording starts at slot 1
  std::unique_ptr<Backend::Recording> r = g.record(work);
  REQUIRE(r != nullptr);
  REQUIRE(g.take_deferred(out) == 3);
  const double expect_loss = g.sq_diff_loss(sum, y.gpu, nullptr, 0.25f, nullptr);  // blocking, same inputs
  CHECK(out[1] == expect_loss);
  CHECK(out[2] == g.abs_sum(sum));
  // New data in x: the replay computes with it and queues its values again, scales included.
  std::vector<float> x2 = e.uniform(s.numel(), -3.0f, 3.0f);
  g.upload(x2.data(), x.gpu);
  g.fill(grad, std::nanf(""));
  g.begin_deferred();
  g.queue_reduction(Backend::Reduction::sum, y.gpu);
  g.replay(*r);
  g.queue_reduction(Backend::Reduction::dot, sum, &sum);  // after the replay, in order
  REQUIRE(g.take_deferred(out) == 4);
  Tensor sum_cpu = e.cpu().empty(s), grad_cpu = e.cpu().zeros(s);
  e.cpu().upload(x2.data(), sum_cpu);
  e.cpu().axpy(2.0f, y.cpu, sum_cpu);
  const double loss_cpu = e.cpu().sq_diff_loss(sum_cpu, y.cpu, nullptr, 0.25f, &grad_cpu);
  CHECK(out[1] == g.sq_diff_loss(sum, y.gpu, nullptr, 0.25f, nullptr));
  CHECK(std::fabs(out[1] - loss_cpu) <= 1e-6 * loss_cpu);
  CHECK(out[2] == g.abs_sum(sum));
  CHECK(out[3] == g.dot(sum, sum));
  check_close("the replayed gradient", grad, grad_cpu, kExact);
  // Work that synchronizes (a blocking reduction) or allocates cannot be captured: it runs eagerly instead.
  double blocking = 0;
  CHECK(g.record([&] { blocking = g.dot(sum, sum); }) == nullptr);
  CHECK(blocking == g.dot(sum, sum));
  Tensor made;
  CHECK(g.record([&] { made = g.zeros(s); }) == nullptr);
  CHECK(e.gpu().abs_max(made) == 0.0);
}

TEST_CASE("all_finite and abs_max detect a planted NaN or Inf") {
  Env& e = env();
  e.seed(109);
  const Shape s{1, 64, 128, 128};
  std::vector<float> v = e.uniform(s.numel(), -1.0f, 1.0f);
  const std::int64_t mid = s.numel() / 2 + 17;
  v[std::size_t(mid)] = kNaN;
  Tensor t = e.gpu().from_host(v, s);
  CHECK_FALSE(e.gpu().all_finite(t));
  CHECK(std::isnan(e.gpu().abs_max(t)));
  v[std::size_t(mid)] = 0.5f;
  v.back() = -std::numeric_limits<float>::infinity();
  t = e.gpu().from_host(v, s);
  CHECK_FALSE(e.gpu().all_finite(t));
  CHECK(std::isinf(e.gpu().abs_max(t)));
  v.back() = 0.25f;
  t = e.gpu().from_host(v, s);
  CHECK(e.gpu().all_finite(t));
}

// ---- fused losses and Adam --------------------------------------------------------------------------------

TEST_CASE("sq_diff_loss matches the CPU (no weight, broadcast plane, full weight)") {
  Env& e = env();
  e.seed(110);
  for (const Shape& s : {Shape{1, 3, 7, 5}, Shape{2, 3, 9, 11}, Shape{1, 512, 32, 32}}) {
    const Pair x = e.random(s), t = e.random(s);
    const Pair w_plane = e.random(Shape{1, 1, s.h, s.w}, 0.0f, 1.0f), w_full = e.random(s, 0.0f, 1.0f);
    const std::vector<float> g0 = e.uniform(s.numel(), -1.0f, 1.0f);
    const float scale = 0.37f;
    const Pair* weights[] = {nullptr, &w_plane, &w_full};
    const char* names[] = {" no weight", " plane weight", " full weight"};
    for (int k = 0; k < 3; ++k) {
      Pair grad = e.upload(g0, s);  // accumulates
      const double lc = e.cpu().sq_diff_loss(x.cpu, t.cpu, weights[k] ? &weights[k]->cpu : nullptr, scale, &grad.cpu);
      const double lg = e.gpu().sq_diff_loss(x.gpu, t.gpu, weights[k] ? &weights[k]->gpu : nullptr, scale, &grad.gpu);
      check_scalar(shape_name("sq_diff_loss", s, names[k]), lg, lc, lc);
      check_close(shape_name("sq_diff_loss grad", s, names[k]), grad, kExact);
      const double lg_nograd = e.gpu().sq_diff_loss(x.gpu, t.gpu, weights[k] ? &weights[k]->gpu : nullptr, scale, nullptr);
      check_scalar(shape_name("sq_diff_loss without grad", s, names[k]), lg_nograd, lc, lc);
      // NHWC: x, target, grad (and a full weight) channels-last; a plane weight is one channel either way.
      const Tensor xh = e.in_layout(x.gpu, Layout::nhwc), th = e.in_layout(t.gpu, Layout::nhwc);
      Tensor gh = e.in_layout(e.gpu().from_host(g0, s), Layout::nhwc);
      const Tensor wh = k == 2 ? e.in_layout(w_full.gpu, Layout::nhwc) : k == 1 ? w_plane.gpu : Tensor();
      const double lh = e.gpu().sq_diff_loss(xh, th, k ? &wh : nullptr, scale, &gh);
      check_scalar(shape_name("sq_diff_loss NHWC", s, names[k]), lh, lc, lc);
      check_close_any(shape_name("sq_diff_loss grad", s, names[k]), gh, grad.cpu, kExact);
    }
  }
}

TEST_CASE("tv_loss matches the CPU (every TV mode)") {
  Env& e = env();
  e.seed(111);
  for (const Shape& s : {Shape{1, 3, 7, 5}, Shape{1, 3, 1, 9}, Shape{2, 3, 9, 11}, Shape{1, 3, 256, 256}}) {
    const Pair x = e.random(s, -100.0f, 100.0f);
    const std::vector<float> g0 = e.uniform(s.numel(), -1.0f, 1.0f);
    for (TvMode mode : {TvMode::l1, TvMode::squared, TvMode::squared_interior}) {
      const std::string m = std::string(" ") + enum_name(mode);
      const float scale = 1e-3f;
      Pair grad = e.upload(g0, s);
      const double lc = e.cpu().tv_loss(x.cpu, mode, scale, &grad.cpu);
      const double lg = e.gpu().tv_loss(x.gpu, mode, scale, &grad.gpu);
      check_scalar(shape_name("tv_loss", s, m.c_str()), lg, lc, std::fabs(lc));
      check_close(shape_name("tv_loss grad", s, m.c_str()), grad, kExact);
      check_scalar(shape_name("tv_loss without grad", s, m.c_str()), e.gpu().tv_loss(x.gpu, mode, scale, nullptr), lc,
                   std::fabs(lc));
    }
  }
}

// Tolerances: the shared math (kernels/matting.cuh) sums in double and rounds to float once; the device's FMA
// contraction differs from the host's in the last double bits. stats (μ and Δ = Σ + ε/9 as double-float pairs, from a
// well-conditioned random guide): kExact. coef: a = (Σ + ε/9)⁻¹·c in double, rounded once — an ulp: rtol 1e-5,
// atol 1e-6·max. grad 2·scale·L·v sums a·(I − μ) over 9 windows, where a reaches |(Σ + ε/9)⁻¹|·|c| (~1e2 in a
// poorly conditioned window) and an ulp of a shows: rtol 1e-5, atol 1e-5·max. The value: double sums in another
// order over the GPU's coef: 1e-6 of scale·Σ|v_i·(Lv)_i| (read from the CPU's gradient).
TEST_CASE("matting_prepare and matting_loss match the CPU") {
  Env& e = env();
  e.seed(112);
  for (const Shape& s : {Shape{1, 3, 7, 5}, Shape{1, 3, 3, 3}, Shape{1, 1, 9, 11}, Shape{1, 3, 33, 31},
                         Shape{1, 3, 256, 255}}) {
    const Shape gs{1, 3, s.h, s.w}, ss{1, 15, s.h, s.w}, cs{1, 4 * s.c, s.h, s.w};
    const Pair guide = e.random(gs, 0.0f, 1.0f), v = e.random(s, 0.0f, 1.0f);
    const std::vector<float> g0 = e.uniform(s.numel(), -1.0f, 1.0f);
    for (const float eps : {1e-7f, 1e-3f}) {
      const char* tag = eps < 1e-5f ? " eps 1e-7" : " eps 1e-3";
      Pair stats = e.poisoned(ss), coef = e.poisoned(cs);
      e.cpu().matting_prepare(guide.cpu, eps, stats.cpu);
      e.gpu().matting_prepare(guide.gpu, eps, stats.gpu);
      check_close(shape_name("matting_prepare", s, tag), stats, kExact);
      const float scale = 0.37f;
      Pair grad = e.upload(g0, s);
      // Both sides from the CPU's stats, so the loss is compared on the same L.
      const Tensor cpu_stats_on_gpu = e.gpu().from_host(e.cpu().to_host(stats.cpu), ss);
      const double lc = e.cpu().matting_loss(v.cpu, guide.cpu, stats.cpu, scale, coef.cpu, &grad.cpu);
      const double lg = e.gpu().matting_loss(v.gpu, guide.gpu, cpu_stats_on_gpu, scale, coef.gpu, &grad.gpu);
      const std::vector<float> vh = e.cpu().to_host(v.cpu), gh = e.cpu().to_host(grad.cpu);
      double mag = 0;  // scale·Σ|v_i·(Lv)_i|, with grad − g0 = 2·scale·L·v
      for (std::size_t i = 0; i < vh.size(); ++i) mag += std::fabs(double(vh[i]) * (double(gh[i]) - g0[i])) / 2;
      check_scalar(shape_name("matting_loss", s, tag), lg, lc, mag);
      check_close(shape_name("matting_loss coef", s, tag), coef, kMattingCoef);
      check_close(shape_name("matting_loss grad", s, tag), grad, kMattingGrad);
      check_scalar(shape_name("matting_loss without grad", s, tag),
                   e.gpu().matting_loss(v.gpu, guide.gpu, cpu_stats_on_gpu, scale, coef.gpu, nullptr), lc, mag);
      // The GPU's own stats and a deferred read-back: the same value.
      e.gpu().begin_deferred();
      CHECK(e.gpu().matting_loss(v.gpu, guide.gpu, stats.gpu, scale, coef.gpu, nullptr) == 0.0);
      double out[Backend::kMaxDeferred];
      REQUIRE(e.gpu().take_deferred(out) == 1);
      check_scalar(shape_name("matting_loss deferred", s, tag), out[0], lc, mag);
    }
  }
}

TEST_CASE("adam_step matches the CPU over several steps") {
  Env& e = env();
  e.seed(112);
  const Shape s{1, 3, 37, 41};
  Pair x = e.random(s, -100.0f, 100.0f), m = e.upload(std::vector<float>(s.numel(), 0.0f), s),
       v = e.upload(std::vector<float>(s.numel(), 0.0f), s);
  for (int t = 1; t <= 5; ++t) {
    const Pair g = e.random(s, -10.0f, 10.0f);
    e.cpu().adam_step(x.cpu, g.cpu, m.cpu, v.cpu, 1.0f, 0.9f, 0.999f, 1e-8f, t);
    e.gpu().adam_step(x.gpu, g.gpu, m.gpu, v.gpu, 1.0f, 0.9f, 0.999f, 1e-8f, t);
  }
  const Tol adam{1e-5, 1e-6};
  check_close("adam x", x, adam);
  check_close("adam m", m, adam);
  check_close("adam v", v, adam);
}

// ---- color ------------------------------------------------------------------------------------------------

TEST_CASE("color_convert matches the CPU in every space, both directions and in place") {
  Env& e = env();
  e.seed(113);
  // Lab/Luv chroma are scaled differences (a = 500·(f(X) − f(Y))), so a few ulps of cbrtf/powf become ~1e-4.
  const Tol color{1e-5, 0.0, 2e-3};
  for (ColorSpace space : {ColorSpace::yuv, ColorSpace::ycrcb, ColorSpace::lab, ColorSpace::luv}) {
    const std::string tag = " space " + std::to_string(int(space));
    for (const Shape& s : {Shape{1, 3, 7, 5}, Shape{1, 3, 64, 96}}) {
      const Pair rgb = e.random(s, 0.0f, 255.0f);
      Pair conv = e.poisoned(s);
      e.cpu().color_convert(rgb.cpu, conv.cpu, space, false);
      e.gpu().color_convert(rgb.gpu, conv.gpu, space, false);
      check_close(shape_name("color_convert", s) + tag, conv, color);
      Pair back = e.poisoned(s);  // inverse of valid colors (CPU's forward output on both sides)
      const Pair in = e.upload(e.cpu().to_host(conv.cpu), s);
      e.cpu().color_convert(in.cpu, back.cpu, space, true);
      e.gpu().color_convert(in.gpu, back.gpu, space, true);
      check_close(shape_name("color_convert inverse", s) + tag, back, color);
      Pair inplace = e.upload(e.cpu().to_host(rgb.cpu), s);
      e.cpu().color_convert(inplace.cpu, inplace.cpu, space, false);
      e.gpu().color_convert(inplace.gpu, inplace.gpu, space, false);
      check_close(shape_name("color_convert in place", s) + tag, inplace, color);
    }
  }
}

// ---- device, errors ---------------------------------------------------------------------------------------

TEST_CASE("the CUDA backend names its device and cuDNN versions") {
  const std::string name = env().gpu().name();
  INFO(name);
  CHECK(name.rfind("cuda (", 0) == 0);
  CHECK(name.find("sm_") != std::string::npos);
  CHECK(name.find("cuDNN") != std::string::npos);
  CHECK(env().gpu().device() == Device::cuda);
}

TEST_CASE("an absurd allocation throws OutOfMemoryError and the backend keeps working") {
  Backend& g = env().gpu();
  const Shape huge{1024, 1024, 1024, 1024};  // 2⁴⁰ floats = 4 TiB
  CHECK_THROWS_AS(g.empty(huge), OutOfMemoryError);
  try {
    g.empty(huge);
  } catch (const OutOfMemoryError& err) {
    INFO(err.what());
    CHECK(std::string(err.what()).find("out of GPU memory") != std::string::npos);
  }
  Tensor t = g.from_host(std::vector<float>{1.0f, -2.0f, 3.0f}, Shape{1, 1, 1, 3});
  CHECK(g.sum(t) == doctest::Approx(2.0));
}

TEST_CASE("shape mismatches and CPU tensors are clear errors, not crashes") {
  Env& e = env();
  Tensor a = e.gpu().empty(Shape{1, 3, 4, 4});
  Tensor b = e.gpu().empty(Shape{1, 3, 4, 5});
  CHECK_THROWS_AS(e.gpu().copy(a, b), Error);
  Tensor host = e.cpu().empty(Shape{1, 3, 4, 4});
  CHECK_THROWS_AS(e.gpu().copy(host, a), Error);
  Tensor w = e.gpu().empty(Shape{2, 3, 2, 2});  // even kernel
  Tensor bias = e.gpu().empty(Shape{1, 1, 1, 2});
  Tensor y = e.gpu().empty(Shape{1, 2, 4, 4});
  CHECK_THROWS_AS(e.gpu().conv2d_forward(a, w, bias, y, false), Error);
}

}  // namespace
}  // namespace impasto
