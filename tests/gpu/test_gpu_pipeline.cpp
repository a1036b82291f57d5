// tests/gpu/test_gpu_pipeline.cpp — the whole objective on the CUDA backend against the CPU backend: VGG-19
// forward, the content, style and TV terms, VGG-19 backward (the image gradient), then 20 L-BFGS iterations
// of a stylization, in every precision, with the activations in the layout the backend picks for it (NCHW
// under fp32, NHWC under tf32/bf16: bf16 activations) and tf32 and bf16 once more in NCHW (IMPASTO_LAYOUT=nchw;
// under bf16 float32 activations and bf16 copies for the convolutions). Random-feature weights (seed 0), a 64×48
// content and style.
//
// Tolerances (26 convolutions between the image and its gradient, each adding its own rounding):
//   loss terms at the same x: relative 1e-4 (fp32), 5e-3 (tf32), 1e-2 (bf16);
//   the gradient, norm-wise ‖g_gpu − g_cpu‖ / ‖g_cpu‖: 2e-3 (fp32), 5e-2 (tf32), 5e-2 (bf16), and its
//     direction (cosine) above 0.9999, 0.998, 0.99;
//   (the bounds leave room for cuDNN's choice of algorithm on top of the inputs' rounding: perf/RESULTS.md);
//   20 L-BFGS iterations (history 10, no line search): the losses of iterations 0 and 1 depend only on the
//     objective and its gradient (x1 = x0 − min(1, 1/‖g‖₁)·g) and agree as the loss terms do; from iteration
//     2 on the two runs part by rounding alone (a float32 y = g_k − g_{k−1} over a small first step), so only
//     the outcome is compared: both fall below 30 % of the start, and the final losses agree within 10 %
//     (fp32) or 25 % (tf32). bf16 only has to descend (below 1 % of the start): its rounding noise is larger
//     than the loss change of the first, tiny step (1/‖g‖₁), so its first curvature pair is noise and the
//     run takes its own path (emulated: with bf16 activations the final loss 1.29× the CPU's; bf16 copies on
//     float32 activations 0.2–2.3× in earlier runs; all far below the start).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "engine/backend.hpp"
#include "engine/backend_factory.hpp"
#include "engine/image.hpp"
#include "engine/losses.hpp"
#include "engine/optimizer.hpp"
#include "engine/stylize.hpp"
#include "tests/support/pictures.hpp"
#include "weights/weights.hpp"

namespace impasto {
namespace {

struct PrecisionCase {
  Precision precision;
  Layout layout;
  DType stored;  // the activations' element type
  double terms, grad_norm, cosine, final_loss;  // final_loss < 0: descent only
};
constexpr PrecisionCase kCases[] = {
    {Precision::fp32, Layout::nchw, DType::f32, 1e-4, 2e-3, 0.9999, 0.10},
    {Precision::tf32, Layout::nhwc, DType::f32, 5e-3, 5e-2, 0.998, 0.25},
    {Precision::bf16, Layout::nhwc, DType::bf16, 1e-2, 5e-2, 0.99, -1},  // bf16: descent only (see above)
    {Precision::tf32, Layout::nchw, DType::f32, 5e-3, 5e-2, 0.998, 0.25},
    {Precision::bf16, Layout::nchw, DType::f32, 1e-2, 5e-2, 0.99, -1},  // float32 activations, bf16 convolutions
};

// A CUDA backend whose activation layout is `layout` at precision p: the default one, or one made under
// IMPASTO_LAYOUT when p's default layout differs.
std::unique_ptr<Backend> backend_for(Precision p, Layout layout) {
  std::unique_ptr<Backend> b = make_backend(Device::cuda);
  b->set_precision(p);
  if (b->activation_layout() == layout) return b;
  setenv("IMPASTO_LAYOUT", layout == Layout::nhwc ? "nhwc" : "nchw", 1);
  b = make_backend(Device::cuda);
  unsetenv("IMPASTO_LAYOUT");
  b->set_precision(p);
  return b;
}

// One backend's objective on the test images.
struct Setup {
  explicit Setup(Backend& b, const LossConfig& config = LossConfig::defaults())
      : backend(b), weights(random_vgg19_weights(0, layers_needed(config))), net(b, weights, PoolMode::average),
        objective(net, config) {
    const Image content = resize_area(test::make_content(64), 64, 48);
    const Image style = resize_area(test::make_style(64), 64, 48);
    objective.add_style(upload(style), 1.0f);
    objective.set_content(upload(content));
    x = upload(content);
    backend.axpby(0.5f, upload(style), 0.5f, x);  // start between content and style: every term is non-zero
  }
  Tensor upload(const Image& rgb) { return backend.from_host(preprocess(rgb, weights.bgr_input), Shape{1, 3, rgb.h, rgb.w}); }

  Backend& backend;
  VggWeights weights;
  Vgg19 net;
  StyleObjective objective;
  Tensor x;  // (1,3,48,64)
};

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float a : v) s += double(a) * a;
  return std::sqrt(s);
}

// 20 L-BFGS iterations; returns the loss of every iteration (0 = the start).
std::vector<double> run_lbfgs(Setup& s) {
  LbfgsParams p;
  p.history = 10;
  p.max_iterations = 20;
  p.line_search = LbfgsParams::LineSearch::none;
  Lbfgs lbfgs(s.backend, s.x.shape(), p);
  Tensor x = s.backend.empty(s.x.shape());
  s.backend.copy(s.x, x);
  std::vector<double> losses;
  const Objective f = [&](const Tensor& xx, Tensor& grad) { return s.objective.evaluate(xx, grad).total; };
  (void)lbfgs.minimize(x, f, [&](const IterationInfo& info, const Tensor&) {
    losses.push_back(info.loss);
    return true;
  });
  return losses;
}

}  // namespace

TEST_CASE("gpu pipeline: loss terms, the image gradient and 20 L-BFGS iterations follow the CPU") {
  std::unique_ptr<Backend> cpu = make_backend(Device::cpu);
  Setup ref(*cpu);
  Tensor g_cpu = cpu->empty(ref.x.shape());
  const LossTerms t_cpu = ref.objective.evaluate(ref.x, g_cpu);
  const std::vector<float> gc = cpu->to_host(g_cpu);
  const std::vector<double> cpu_losses = run_lbfgs(ref);
  REQUIRE(cpu_losses.size() == 21);
  MESSAGE("cpu: content " << t_cpu.content << ", style " << t_cpu.style << ", tv " << t_cpu.tv << "; L-BFGS "
                          << cpu_losses.front() << " -> " << cpu_losses.back());
  REQUIRE(cpu_losses.back() < 0.3 * cpu_losses.front());

  for (const PrecisionCase& c : kCases) {
    const std::string name = std::string(enum_name(c.precision)) + " " + enum_name(c.layout);
    CAPTURE(name);
    std::unique_ptr<Backend> gpu = backend_for(c.precision, c.layout);
    REQUIRE(gpu->activation_layout() == c.layout);
    Setup s(*gpu);
    REQUIRE(s.net.layout() == c.layout);
    REQUIRE(s.net.dtype() == c.stored);
    Tensor g = gpu->empty(s.x.shape());
    gpu->fill(g, std::nanf(""));  // overwritten by evaluate
    const LossTerms t = s.objective.evaluate(s.x, g);
    for (auto [name, a, b] : {std::tuple{"content", t.content, t_cpu.content}, std::tuple{"style", t.style, t_cpu.style},
                              std::tuple{"tv", t.tv, t_cpu.tv}}) {
      INFO(name << ": gpu " << a << ", cpu " << b);
      CHECK(std::fabs(a - b) <= c.terms * std::fabs(b));
    }
    const std::vector<float> gg = gpu->to_host(g);
    std::vector<float> diff(gg.size());
    double dot = 0;
    for (std::size_t i = 0; i < gg.size(); ++i) {
      diff[i] = gg[i] - gc[i];
      dot += double(gg[i]) * gc[i];
    }
    const double rel = norm(diff) / norm(gc), cosine = dot / (norm(gg) * norm(gc));
    MESSAGE(name << ": gradient relative difference " << rel << ", cosine " << cosine);
    CHECK(rel <= c.grad_norm);
    CHECK(cosine >= c.cosine);

    const std::vector<double> losses = run_lbfgs(s);
    REQUIRE(losses.size() == cpu_losses.size());
    MESSAGE(name << ": L-BFGS " << losses.front() << " -> " << losses.back() << " (cpu " << cpu_losses.back() << ")");
    for (int k : {0, 1}) {
      INFO("iteration " << k << ": gpu " << losses[std::size_t(k)] << ", cpu " << cpu_losses[std::size_t(k)]);
      CHECK(std::fabs(losses[std::size_t(k)] - cpu_losses[std::size_t(k)]) <= c.terms * cpu_losses[std::size_t(k)]);
    }
    CHECK(losses.back() < 0.3 * losses.front());
    if (c.final_loss >= 0)
      CHECK(std::fabs(losses.back() - cpu_losses.back()) <= c.final_loss * cpu_losses.back());
    else
      CHECK(losses.back() < 0.01 * losses.front());
  }
}

TEST_CASE("gpu pipeline: the image gradient with shallow taps (relu1_1 and relu2_1, the network ends at conv2_1)") {
  LossConfig config = LossConfig::defaults();
  config.style_layers = parse_weighted_taps("relu1_1,relu2_1", "", "style layers");
  config.content_layers = parse_weighted_taps("relu2_1", "", "content layers");
  std::unique_ptr<Backend> cpu = make_backend(Device::cpu);
  Setup ref(*cpu, config);
  Tensor g_cpu = cpu->empty(ref.x.shape());
  (void)ref.objective.evaluate(ref.x, g_cpu);
  const std::vector<float> gc = cpu->to_host(g_cpu);
  for (const PrecisionCase& c : kCases) {
    const std::string name = std::string(enum_name(c.precision)) + " " + enum_name(c.layout);
    CAPTURE(name);
    std::unique_ptr<Backend> gpu = backend_for(c.precision, c.layout);
    Setup s(*gpu, config);
    REQUIRE(s.net.dtype() == c.stored);
    Tensor g = gpu->empty(s.x.shape());
    (void)s.objective.evaluate(s.x, g);
    const std::vector<float> gg = gpu->to_host(g);
    std::vector<float> diff(gg.size());
    for (std::size_t i = 0; i < gg.size(); ++i) diff[i] = gg[i] - gc[i];
    MESSAGE(name << ": gradient relative difference " << norm(diff) / norm(gc));
    CHECK(norm(diff) <= c.grad_norm * norm(gc));
  }
}

TEST_CASE("gpu pipeline: recorded evaluations (CUDA graphs) replay what eager ones compute") {
  // The same objective twice on the device: one backend records (the default), one runs eagerly
  // (IMPASTO_CUDA_GRAPHS=0). The first evaluation at a key runs eagerly, the second records, the later ones
  // replay; a content replaced in place (the next video frame) keeps the recording, a new plan or a moved
  // workspace drops it.
  std::unique_ptr<Backend> graphs = make_backend(Device::cuda);
  setenv("IMPASTO_CUDA_GRAPHS", "0", 1);
  std::unique_ptr<Backend> eager = make_backend(Device::cuda);
  unsetenv("IMPASTO_CUDA_GRAPHS");
  Setup r(*graphs), e(*eager);
  Tensor gr = graphs->empty(r.x.shape()), ge = eager->empty(e.x.shape());
  auto same = [&](const char* what) {
    INFO(what);
    graphs->fill(gr, std::nanf(""));  // overwritten by each evaluation
    const LossTerms a = r.objective.evaluate(r.x, gr), b = e.objective.evaluate(e.x, ge);
    for (auto [name, u, v] : {std::tuple{"content", a.content, b.content}, std::tuple{"style", a.style, b.style},
                              std::tuple{"tv", a.tv, b.tv}, std::tuple{"total", a.total, b.total}}) {
      INFO(name << ": recorded " << u << ", eager " << v);
      CHECK(std::fabs(u - v) <= 1e-6 * std::fabs(v));
    }
    const std::vector<float> ga = graphs->to_host(gr), gb = eager->to_host(ge);
    std::vector<float> diff(ga.size());
    for (std::size_t i = 0; i < ga.size(); ++i) diff[i] = ga[i] - gb[i];
    CHECK(norm(diff) <= 1e-6 * norm(gb));
  };
  same("first evaluation (eager on both)");
  CHECK(r.objective.replays() == 0);
  same("second evaluation (recorded)");
  CHECK(r.objective.replays() == 0);
  // A new x in the same buffer: the replay reads it.
  for (Setup* s : {&r, &e}) s->backend.axpby(0.25f, s->upload(resize_area(test::make_style(64), 64, 48)), 0.75f, s->x);
  same("third evaluation at a moved x (replayed)");
  CHECK(r.objective.replays() == 1);
  // The next frame's content, replaced in place: the recording stays valid and reads the new target.
  for (Setup* s : {&r, &e}) s->objective.set_content(s->upload(resize_area(test::make_style(64), 64, 48)));
  same("a new content of the same size (replayed)");
  CHECK(r.objective.replays() == 2);
  // The workspace moves (grown for other work): the recording points into the freed block, so the next
  // evaluation runs eagerly and records again (CudaBackend::replay asserts on a stale one).
  graphs->reserve_workspace(std::size_t(256) << 20);
  same("after the workspace moved (eager)");
  CHECK(r.objective.replays() == 2);
  // Another output size replans the network: the next evaluations run eagerly, record, then replay again.
  for (Setup* s : {&r, &e}) {
    s->objective.set_content(s->upload(resize_area(test::make_content(64), 40, 32)));
    s->x = s->upload(resize_area(test::make_content(64), 40, 32));
  }
  gr = graphs->empty(r.x.shape());
  ge = eager->empty(e.x.shape());
  same("after a new plan (eager)");
  same("after a new plan (recorded)");
  same("after a new plan (replayed)");
  CHECK(r.objective.replays() == 3);
  CHECK(e.objective.replays() == 0);
}


// A portrait style (24×256) through the network in 48-row strips (engine/style_strips.hpp) against one pass, on
// the same backend: the strips' copies of x's rows, the weight planes and the Grams summed strip by strip, in
// each layout. The tolerance is a tenth of the CPU comparison's: only the strips' plans (other algorithms) and
// the order of the Grams' sums differ.
TEST_CASE("gpu pipeline: each network plan holds what its estimate counts, filter copies and trimmed workspace too") {
  for (const PrecisionCase& c : kCases) {
    const std::string name = std::string(enum_name(c.precision)) + " " + enum_name(c.layout);
    CAPTURE(name);
    std::unique_ptr<Backend> gpu = backend_for(c.precision, c.layout);
    const LossConfig config = LossConfig::defaults();
    const VggWeights weights = random_vgg19_weights(0, layers_needed(config));
    Vgg19 net(*gpu, weights, PoolMode::average);
    std::vector<Tap> taps;
    for (const auto& t : config.style_layers) taps.push_back(t.tap);
    for (const auto& t : config.content_layers) taps.push_back(t.tap);
    std::size_t filter_copies = 0;  // bf16: every layer but conv1_1 (3 input channels)
    for (const auto& conv : vgg19_convs()) filter_copies += gpu->conv_filter_bytes(Shape{conv.cout, conv.cin, 3, 3});
    CHECK((filter_copies > 0) == (c.precision == Precision::bf16));
    const std::size_t base = gpu->bytes_in_use();  // the weights, the backend's own buffers
    // A style strip larger than the output, then the output, then a smaller strip: each holds only its own plan.
    const VggPlanBytes strip = net.plan_forward_bytes(96, 80, taps);
    net.plan_forward(96, 80, taps);
    CHECK(gpu->bytes_in_use() - base == strip.buffers + strip.workspace);
    const VggPlanBytes out = net.plan_bytes(48, 64, taps);
    net.plan(48, 64, taps);
    CHECK(gpu->bytes_in_use() - base == out.buffers + out.workspace);
    const VggPlanBytes small = net.plan_forward_bytes(40, 40, taps);
    net.plan_forward(40, 40, taps);
    CHECK(gpu->bytes_in_use() - base == small.buffers + small.workspace);
  }
}

TEST_CASE("gpu pipeline: bf16 activations halve the network plan (the masks stay one bit per element)") {
  const LossConfig config = LossConfig::defaults();
  const VggWeights weights = random_vgg19_weights(0, layers_needed(config));
  std::vector<Tap> taps;
  for (const auto& t : config.style_layers) taps.push_back(t.tap);
  for (const auto& t : config.content_layers) taps.push_back(t.tap);
  std::size_t buffers[2] = {0, 0};
  for (const Precision p : {Precision::tf32, Precision::bf16}) {
    std::unique_ptr<Backend> gpu = backend_for(p, Layout::nhwc);
    Vgg19 net(*gpu, weights, PoolMode::max);
    buffers[p == Precision::bf16] = net.plan_bytes(1024, 1024, taps).buffers;  // counted, not allocated
  }
  const double ratio = double(buffers[1]) / double(buffers[0]);
  MESSAGE("network plan at 1024x1024: tf32 " << buffers[0] << " bytes, bf16 " << buffers[1] << " (" << ratio << ")");
  // The masks do not shrink, and bf16 adds its filter copies (~40 MB, 8 % of the bf16 plan at 1024²):
  // emulated, 0.562.
  CHECK(ratio > 0.5);
  CHECK(ratio < 0.6);
}

TEST_CASE("gpu pipeline: a style image in strips gives one pass's terms") {
  for (const PrecisionCase& c : kCases) {
    const std::string name = std::string(enum_name(c.precision)) + " " + enum_name(c.layout);
    CAPTURE(name);
    std::unique_ptr<Backend> gpu = backend_for(c.precision, c.layout);
    const VggWeights weights = random_vgg19_weights(0, layers_needed(LossConfig::defaults()));
    Vgg19 net(*gpu, weights, PoolMode::average);
    auto upload = [&](const Image& rgb) {
      return gpu->from_host(preprocess(rgb, weights.bgr_input), Shape{1, 3, rgb.h, rgb.w});
    };
    const Image content = resize_area(test::make_content(64), 64, 48);
    const Image style = resize_area(test::make_style(64), 24, 256);
    auto evaluate = [&](int strip_rows, std::vector<float>& grad) {
      LossConfig config = LossConfig::defaults();
      config.style_strip_rows = strip_rows;
      StyleObjective objective(net, config);
      objective.add_style(upload(style), 1.0f);
      objective.set_content(upload(content));
      Tensor g = gpu->empty(Shape{1, 3, 48, 64});
      const LossTerms t = objective.evaluate(upload(content), g);
      grad = gpu->to_host(g);
      return t;
    };
    std::vector<float> g_one, g_strips;
    const LossTerms one = evaluate(0, g_one), strips = evaluate(48, g_strips);
    INFO("style: one pass " << one.style << ", strips " << strips.style);
    CHECK(one.style > 0);
    CHECK(std::fabs(strips.style - one.style) <= 0.1 * c.terms * one.style);
    std::vector<float> diff(g_one.size());
    for (std::size_t i = 0; i < diff.size(); ++i) diff[i] = g_strips[i] - g_one[i];
    CHECK(norm(diff) <= 0.1 * c.grad_norm * norm(g_one));
  }
}

}  // namespace impasto
