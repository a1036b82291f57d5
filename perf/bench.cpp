// perf/bench.cpp — the impasto benchmark: milliseconds per L-BFGS stylization iteration (VGG-19 forward, loss
// terms, VGG-19 backward, TV, optimizer step) at given image sizes, the share of each phase, achieved TFLOP/s
// of the convolutions against the card's peak, and the memory plan. Also: `--vgg-only` (VGG-19 forward +
// backward alone) and `--max-size-check WxH` (the whole pipeline at one large size, e.g. 3840x2160, to prove
// that it fits). perf/README.md explains the method; perf/peer/peer.py is the PyTorch peer that runs the
// same objective on the same synthetic images (perf/peer/impasto_io.py, synthetic_image(), has the formula).
//
// Timing: the plain number (ms per iteration) runs W warm-up + N iterations with no synchronization besides
// the one the loss readback already implies, and one at the start and end of the timed window. The phase split
// comes from a second, identical run with a PhaseObserver (engine/profile.hpp) that synchronizes the device
// at every phase boundary; its total is reported beside the plain one so the cost of those syncs is visible.
// The plain run's timed window is also the GPU profiler's capture window (cudaProfilerStart/Stop), so
// `ncu --profile-from-start off` records exactly the N timed iterations (perf/kernel_profile.py).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/backend.hpp"
#include "engine/backend_factory.hpp"
#include "engine/error.hpp"
#include "engine/image.hpp"
#include "engine/losses.hpp"
#include "engine/optimizer.hpp"
#include "engine/profile.hpp"
#include "engine/stylize.hpp"
#include "engine/vgg19.hpp"
#include "perf/bench_main.hpp"
#include "weights/weights.hpp"

namespace impasto::bench {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }
double mib(std::size_t bytes) { return double(bytes) / double(1 << 20); }

// ms per call of `call`: `warmup` calls, then `iterations` timed ones between two synchronizations.
template <typename F>
double ms_per_call(Backend& backend, int warmup, int iterations, F&& call) {
  for (int i = 0; i < warmup; ++i) call();
  backend.synchronize();
  const auto t0 = Clock::now();
  for (int i = 0; i < iterations; ++i) call();
  backend.synchronize();
  return ms_since(t0) / iterations;
}

struct Size {
  int h = 0, w = 0;
};

struct Options {
  Device device = Device::cpu;
  std::vector<Size> sizes{{128, 128}, {256, 256}};
  int iterations = 10, warmup = 2, history = 100;
  double photo_weight = 0;  // > 0: the objective includes the matting-Laplacian term (Luan et al. 2017)
  LbfgsParams::Direction direction = LbfgsParams::Direction::compact;
  std::string precision;  // "" = the backend's default
  std::string weights = "random:0";
  bool mix_init = false, phases = true, record_losses = false, vgg_only = false, optimizer_only = false,
       conv_layers = false;
  std::string json_path;
  Size max_size;  // h = 0: no max-size check
};

// "512" → 512x512, "1920x1080" → w 1920, h 1080.
Size parse_size(const std::string& s) {
  Size out;
  const auto x = s.find('x');
  try {
    std::size_t used = 0;
    if (x == std::string::npos) {
      out.w = out.h = std::stoi(s, &used);
      if (used != s.size()) throw std::invalid_argument(s);
    } else {
      out.w = std::stoi(s.substr(0, x), &used);
      if (used != x) throw std::invalid_argument(s);
      out.h = std::stoi(s.substr(x + 1), &used);
      if (used != s.size() - x - 1) throw std::invalid_argument(s);
    }
  } catch (const std::exception&) {
    IMPASTO_FAIL("bad size '" << s << "' (expected N or WxH, e.g. 512 or 3840x2160)");
  }
  IMPASTO_CHECK(out.h >= 16 && out.w >= 16, "size " << s << " is too small for VGG-19 down to conv5_1 (>= 16)");
  return out;
}

Options parse_args(int argc, char** argv) {
  CLI::App app{"Times W warm-up + N L-BFGS iterations (line search none: one evaluation per iteration) of the "
               "default objective (content conv4_2, style relu1_1..relu5_1) on synthetic images, per size",
               "bench"};
  app.get_formatter()->column_width(24);
  Options o;
  std::string device = enum_name(o.device), direction = enum_name(o.direction), init = "content", max_size;
  std::vector<std::string> sizes{"128", "256"};
  bool no_phases = false;
  app.add_option("--device", device, "auto | " + choices(enum_names<Device>()))->capture_default_str();
  app.add_option("--sizes", sizes, "Image sizes: N (square) or WxH, comma-separated")->delimiter(',')
      ->capture_default_str();
  app.add_option("--iterations", o.iterations, "Timed iterations N")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--warmup", o.warmup, "Warm-up iterations W")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--precision", o.precision, choices(enum_names<Precision>()) + " (default: the backend's)")
      ->check(CLI::IsMember(enum_names<Precision>()));
  app.add_option("--weights", o.weights, "random[:SEED] | FILE")->capture_default_str();
  app.add_option("--history", o.history, "L-BFGS history M")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--init", init, "content | mix (start from (content + style) / 2: every loss term non-zero)")
      ->check(CLI::IsMember({"content", "mix"}))->capture_default_str();
  app.add_flag("--no-phases", no_phases, "Skip the second, synchronized run that splits the time per phase");
  app.add_flag("--losses", o.record_losses,
               "Record the loss of every iteration in the JSON (for perf/peer/check_same_objective.sh)");
  app.add_option("--json", o.json_path, "Write the report as JSON to this file");
  app.add_option("--photo-weight", o.photo_weight,
                 "Include the photorealism (matting-Laplacian) term with this weight; its share is the 'photo' phase")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--vgg-only", o.vgg_only,
               "Time VGG-19 forward + backward (taps of the default objective, up to relu5_1) only");
  app.add_option("--max-size-check", max_size,
                 "WxH: plan the whole pipeline as `impasto stylize` does (L-BFGS history M, strong-Wolfe), run the "
                 "iterations, report memory; exit 1 when it fails (e.g. out of memory)");
  app.add_option("--lbfgs-direction", direction,
                 "compact (two passes over the history, O(1) syncs per iteration) | two_loop (2m dot products)")
      ->check(CLI::IsMember(enum_names<LbfgsParams::Direction>()))->capture_default_str();
  app.add_flag("--optimizer-only", o.optimizer_only,
               "Time L-BFGS alone (line search none) on a diagonal quadratic of the image's size, from a full history "
               "of M pairs (max(W, M) warm-up iterations); the objective's own time is measured apart and subtracted "
               "(perf/peer/peer.py --optimizer-only: the same for torch)");
  app.add_flag("--conv-layers", o.conv_layers,
               "Time each convolution conv1_1 ... conv5_1 alone, forward (bias and ReLU fused, as the network runs "
               "it) and backward-data, in the backend's layout (perf/peer/conv_layouts.py --per-layer: the same for "
               "torch)");
  parse_or_exit(app, argc, argv);
  o.device = parse_device(device);
  o.direction = parse_enum<LbfgsParams::Direction>(direction);
  o.mix_init = init == "mix";
  o.phases = !no_phases;
  o.sizes.clear();
  for (const std::string& item : sizes)
    if (!item.empty()) o.sizes.push_back(parse_size(item));
  IMPASTO_CHECK(!o.sizes.empty(), "--sizes: no size given");
  if (!max_size.empty()) o.max_size = parse_size(max_size);
  return o;
}

// ---- synthetic images: smooth low-frequency content, busy high-frequency style --------------------------
// RGB 0..255 at pixel centres u = (x + ½)/W, v = (y + ½)/H, computed in double, stored as float. The same
// formula is in perf/peer/impasto_io.py (synthetic_image); change both together.
Image synthetic_image(bool style, int h, int w) {
  constexpr double two_pi = 6.283185307179586;
  Image img{3, h, w, std::vector<float>(std::size_t(3) * h * w)};
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double u = (x + 0.5) / w, v = (y + 0.5) / h;
      double rgb[3];
      if (!style) {
        rgb[0] = 127.5 + 80 * std::sin(two_pi * (1.5 * u + 0.5 * v)) + 40 * std::cos(two_pi * 4 * v);
        rgb[1] = 127.5 + 80 * std::sin(two_pi * (0.7 * u - 1.2 * v) + 1.0) + 40 * std::cos(two_pi * 3 * u);
        rgb[2] = 127.5 + 80 * std::cos(two_pi * 2 * u * v) + 40 * std::sin(two_pi * 5 * (u + v));
      } else {
        rgb[0] = 127.5 + 120 * std::sin(two_pi * 16 * u) * std::cos(two_pi * 12 * v);
        rgb[1] = 127.5 + 120 * std::sin(two_pi * (9 * u + 11 * v));
        rgb[2] = 127.5 + 120 * std::cos(two_pi * 20 * ((u - 0.5) * (u - 0.5) + (v - 0.5) * (v - 0.5)));
      }
      for (int c = 0; c < 3; ++c) img.plane(c)[std::size_t(y) * w + x] = float(rgb[c]);
    }
  }
  return img;
}

// ---- the optimizer's problem: a diagonal quadratic ------------------------------------------------------------
// f(x) = ½·Σ λ_i·(x_i − t_i)² with λ_i = 10^(4·frac(i·φ)) (curvatures spread over 1…1e4, so L-BFGS keeps
// making progress and every pair passes the curvature guard) and t_i = frac(i·ρ) − ½ (φ, ρ: the golden and the
// plastic ratio's fractional parts), computed in double, stored as float. The same formula is in
// perf/peer/peer.py (quadratic_problem); change both together.
void quadratic_problem(std::int64_t n, std::vector<float>& lambda, std::vector<float>& target) {
  lambda.resize(std::size_t(n));
  target.resize(std::size_t(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const double k = double(i);
    lambda[std::size_t(i)] = float(std::pow(10.0, 4 * std::fmod(k * 0.6180339887498949, 1.0)));
    target[std::size_t(i)] = float(std::fmod(k * 0.3247179572447460, 1.0) - 0.5);
  }
}

// ---- the card's peak -------------------------------------------------------------------------------------
struct Peak {
  double tflops = 0;  // 0: unknown
  std::string basis;
};

// Dense (no sparsity) peaks from NVIDIA's datasheets, matched on the device name in Backend::name().
Peak card_peak(const std::string& backend_name, Precision precision) {
  struct Row {
    const char* match;
    const char* card;
    double bf16, tf32, fp32;
  };
  static const Row rows[] = {
      {"H100 PCIe", "H100 PCIe", 756.0, 378.0, 51.2}, {"H100 NVL", "H100 NVL", 835.0, 417.5, 59.8},
      {"H100", "H100 SXM", 989.4, 494.7, 66.9},       {"H200", "H200 SXM", 989.4, 494.7, 66.9},
      {"A100", "A100 SXM", 312.0, 156.0, 19.5},
  };
  for (const Row& r : rows)
    if (backend_name.find(r.match) != std::string::npos) {
      switch (precision) {
        case Precision::bf16: return {r.bf16, std::string(r.card) + " dense BF16, NVIDIA datasheet"};
        case Precision::tf32: return {r.tf32, std::string(r.card) + " dense TF32, NVIDIA datasheet"};
        case Precision::fp32: return {r.fp32, std::string(r.card) + " FP32 (no tensor cores), NVIDIA datasheet"};
      }
    }
  return {0, "unknown card (no peak assumed)"};
}

// ---- phase timing ------------------------------------------------------------------------------------------
// Synchronizes the backend at every phase boundary and sums the wall time of each phase name.
class PhaseTimer final : public PhaseObserver {
 public:
  explicit PhaseTimer(Backend& b) : backend_(b) {}
  void phase_begin(const char* name) override {
    backend_.synchronize();
    open_.push_back({name, Clock::now()});
  }
  void phase_end(const char* name) override {
    backend_.synchronize();
    IMPASTO_ASSERT(!open_.empty() && std::strcmp(open_.back().name, name) == 0);
    totals_[name] += ms_since(open_.back().start);
    open_.pop_back();
  }
  // Forget the totals; phases still open count from now.
  void reset() {
    totals_.clear();
    for (auto& o : open_) o.start = Clock::now();
  }
  double total_ms(const std::string& name) const {
    const auto it = totals_.find(name);
    return it == totals_.end() ? 0.0 : it->second;
  }

 private:
  struct Open {
    const char* name;
    Clock::time_point start;
  };
  Backend& backend_;
  std::vector<Open> open_;
  std::map<std::string, double> totals_;
};

// Installs an observer for the lifetime of the guard.
class ObserverGuard {
 public:
  explicit ObserverGuard(PhaseObserver* o) { phase_observer() = o; }
  ~ObserverGuard() { phase_observer() = nullptr; }
  ObserverGuard(const ObserverGuard&) = delete;
  ObserverGuard& operator=(const ObserverGuard&) = delete;
};

const char* const kPhases[] = {"forward", "losses", "backward", "tv", "photo", "optimizer"};

// ---- one size --------------------------------------------------------------------------------------------
class Session {
 public:
  Session(Backend& backend, const VggWeights& weights, const Options& o)
      : backend_(backend), weights_(weights), options_(o), net_(backend, weights, PoolMode::average) {}

  Tensor upload(const Image& rgb) {
    return backend_.from_host(preprocess(rgb, weights_.bgr_input), Shape{1, 3, rgb.h, rgb.w});  // (1,3,H,W)
  }

  // Plans objective + L-BFGS at `size`, then runs the plain timing and (optionally) the phase timing.
  // `as_cli`: L-BFGS as `impasto stylize` runs it (strong-Wolfe line search, two more gradient buffers) and
  // no demand that every iteration completes (a line search may stop early): the max-size check.
  json stylize(Size size, bool phases, bool as_cli = false) {
    const auto plan_start = Clock::now();
    LossConfig config = LossConfig::defaults();
    config.photo_weight = options_.photo_weight;
    StyleObjective objective(net_, config);
    Tensor style = upload(synthetic_image(true, size.h, size.w));
    objective.add_style(style, 1.0f);
    const Image content_image = synthetic_image(false, size.h, size.w);
    Tensor content = upload(content_image);
    objective.set_content(content);
    objective.set_photo_guide(content_image, 1.0);  // photo_weight 0: nothing
    Tensor init = backend_.empty(content.shape());  // (1,3,H,W)
    backend_.copy(content, init);
    if (options_.mix_init) backend_.axpby(0.5f, style, 0.5f, init);
    style = content = Tensor();  // the targets are computed: free the images
    const std::size_t bytes_objective = backend_.bytes_in_use();

    LbfgsParams params;
    params.history = options_.history;
    params.direction = options_.direction;
    if (!as_cli) params.line_search = LbfgsParams::LineSearch::none;
    params.max_iterations = options_.warmup + options_.iterations;
    Lbfgs lbfgs(backend_, init.shape(), params);
    Tensor x = backend_.empty(init.shape());
    backend_.synchronize();
    const std::size_t bytes_planned = backend_.bytes_in_use();
    const double plan_ms = ms_since(plan_start);

    // The objective as `impasto stylize` hands it to the optimizer: its terms' values ride on the optimizer's
    // round trip (one per iteration with line search none). The terms of the initial point are kept for the report.
    LossTerms terms0;
    double grad_l1 = 0;
    int evaluations = 0;
    const Tensor* first_grad = nullptr;
    const QueuedObjective f{[&](const Tensor& xx, Tensor& grad) {
                              objective.queue(xx, grad);
                              if (evaluations == 0) first_grad = &grad;
                            },
                            [&](const double* values) {
                              const LossTerms t = objective.terms(values);
                              if (evaluations++ == 0) {
                                terms0 = t;
                                grad_l1 = backend_.abs_sum(*first_grad);  // after the round trip: not deferring
                              }
                              return t.total;
                            }};
    std::vector<double> losses;
    losses.reserve(std::size_t(params.max_iterations) + 1);
    // When each timed iteration was accepted: every iteration reads its loss back to the host (its one round
    // trip), so these are iteration boundaries without any extra synchronization. Their differences give median and minimum,
    // robust against a busy machine.
    std::vector<Clock::time_point> accepted;
    accepted.reserve(std::size_t(options_.iterations) + 1);
    PhaseTimer timer(backend_);
    Clock::time_point window_start = Clock::now();
    OptimizeResult result;
    auto run = [&](bool profiled) {
      backend_.copy(init, x);
      losses.clear();
      accepted.clear();
      evaluations = 0;
      IterationCallback callback = [&](const IterationInfo& info, const Tensor&) {
        losses.push_back(info.loss);
        if (info.iteration == options_.warmup) {
          backend_.synchronize();
          timer.reset();
          if (!profiled) device_profiler_capture(backend_.device(), true);  // what `ncu --profile-from-start off` records
          window_start = Clock::now();
        }
        if (info.iteration >= options_.warmup) accepted.push_back(Clock::now());
        return true;
      };
      ObserverGuard guard(profiled ? &timer : nullptr);
      const OptimizeResult r = lbfgs.minimize(x, f, callback);
      backend_.synchronize();
      if (!profiled) device_profiler_capture(backend_.device(), false);
      IMPASTO_CHECK(as_cli || r.iterations == params.max_iterations,
                    "L-BFGS stopped after " << r.iterations << " iterations (" << r.stop_reason << ")");
      result = r;
      return ms_since(window_start) / std::max(1, r.iterations - options_.warmup);
    };

    json out;
    out["height"] = size.h;
    out["width"] = size.w;
    out["plan_ms"] = plan_ms;
    out["bytes_objective"] = bytes_objective;
    out["bytes_planned"] = bytes_planned;
    out["ms_per_iteration"] = run(false);
    {
      std::vector<double> each;
      for (std::size_t i = 1; i < accepted.size(); ++i)
        each.push_back(std::chrono::duration<double, std::milli>(accepted[i] - accepted[i - 1]).count());
      std::sort(each.begin(), each.end());
      if (!each.empty()) {
        out["ms_per_iteration_median"] = each[each.size() / 2];
        out["ms_per_iteration_min"] = each.front();
      }
    }
    out["line_search"] = as_cli ? "strong-wolfe" : "none";
    out["iterations_done"] = result.iterations;
    out["evaluations"] = result.evaluations;
    // Evaluations replayed from a CUDA graph in the timed run (0 on the CPU and under IMPASTO_CUDA_GRAPHS=0).
    out["graph_replays"] = objective.replays();
    // The optimizer's work around each evaluation replayed (line search none; the step work from the third
    // iteration, the pair work once the history is full): cumulative over the runs of this plan.
    out["optimizer_replays"] = lbfgs.replays();
    out["stop_reason"] = result.stop_reason;
    out["loss_first"] = losses.front();
    out["loss_last"] = losses.back();
    out["terms_first"] = {{"content", terms0.content}, {"style", terms0.style}, {"tv", terms0.tv}};
    out["grad_l1_first"] = grad_l1;
    if (options_.record_losses) out["losses"] = losses;
    const double flops = 2.0 * net_.conv_flops();  // forward + backward-data
    out["conv_gflop_per_iteration"] = flops * 1e-9;
    out["tflops_iteration"] = flops / (out["ms_per_iteration"].get<double>() * 1e-3) * 1e-12;
    if (phases) {
      const double profiled = run(true);
      json ms, share;
      double sum = 0;
      for (const char* p : kPhases) {
        ms[p] = timer.total_ms(p) / options_.iterations;
        sum += ms[p].get<double>();
      }
      ms["other"] = std::max(0.0, profiled - sum);
      for (auto& [name, value] : ms.items()) share[name] = value.get<double>() / profiled;
      out["ms_per_iteration_synced"] = profiled;
      out["phases_ms"] = ms;
      out["phase_share"] = share;
      // The convolutions live in the forward and backward phases (with pooling, ReLU and the copies).
      out["tflops_forward_backward"] =
          flops / ((ms["forward"].get<double>() + ms["backward"].get<double>()) * 1e-3) * 1e-12;
    }
    return out;
  }

  // Each convolution of the default objective's network (conv1_1 … conv5_1) alone, on the input size it has
  // for an image of `size`, in the backend's activation layout and element type with the filters as Vgg19
  // makes them (reordered, the backend's copy; under bf16 conv1_1 on 8 input channels): forward with bias and
  // ReLU fused (as Vgg19::forward runs all but a conv_out tap's layer) and backward-data. W warm-up + N timed
  // calls of each, synchronized at both ends of each timing.
  json conv_layers(Size size) {
    const Layout layout = backend_.activation_layout();
    const DType values = backend_.activation_dtype();
    const auto& convs = vgg19_convs();
    const int deepest = int(weights_.convs.size()) - 1;
    int h = size.h, w = size.w;
    json layers = json::array();
    for (int i = 0; i <= deepest; ++i) {
      const VggConvSpec& spec = convs[std::size_t(i)];
      const ConvWeights& cw = weights_.convs[std::size_t(i)];
      const int cin = Vgg19::conv_input_channels(i, values);
      const Shape xs{1, cin, h, w}, ws{spec.cout, cin, 3, 3}, ys{1, spec.cout, h, w};
      // (Cout,Cin,3,3), KCRS; KRSC under NHWC. A padded conv1_1's extra taps: the timing does not depend on them.
      Tensor filters = backend_.from_host(cin == spec.cin ? cw.w : std::vector<float>(std::size_t(ws.numel()), 0.01f), ws);
      if (layout != filters.layout()) {
        Tensor reordered = backend_.empty(ws).with_layout(layout);
        backend_.convert_layout(filters, reordered);
        filters = reordered;
      }
      filters = backend_.conv_filter(filters);  // the bf16 copy under bf16, made once as Vgg19 does
      const Tensor bias = backend_.from_host(cw.b, Shape{1, 1, 1, spec.cout});  // (1,1,1,Cout)
      Tensor x = backend_.empty_typed(xs, values, layout), dx = backend_.empty_typed(xs, values, layout);  // (1,Cin,h,w)
      Tensor y = backend_.empty_typed(ys, values, layout), dy = backend_.empty_typed(ys, values, layout);  // (1,Cout,h,w)
      backend_.fill(x, 0.5f);
      backend_.fill(dy, 1.0f / 1024);
      backend_.reserve_workspace(backend_.conv2d_workspace_bytes(xs, ws, layout, values));
      const double fwd = ms_per_call(backend_, options_.warmup, options_.iterations, [&] {
        backend_.conv2d_forward(x, filters, bias, y, /*fuse_relu=*/true);
      });
      const double bwd = ms_per_call(backend_, options_.warmup, options_.iterations,
                                     [&] { backend_.conv2d_backward_data(dy, filters, dx); });
      const double flops = 2.0 * 9 * spec.cin * spec.cout * double(h) * w;  // one direction
      layers.push_back(json{{"name", spec.name}, {"cin", spec.cin}, {"cin_run", cin}, {"cout", spec.cout}, {"height", h}, {"width", w},
                            {"forward_ms", fwd}, {"backward_data_ms", bwd}, {"tflops_forward", flops / (fwd * 1e-3) * 1e-12},
                            {"tflops_backward_data", flops / (bwd * 1e-3) * 1e-12}});
      if (spec.pool_after) h /= 2, w /= 2;
    }
    return json{{"height", size.h}, {"width", size.w}, {"layout", enum_name(layout)}, {"values", enum_name(values)},
                {"layers", layers}};
  }

  // VGG-19 forward + backward with the default objective's taps (deepest relu5_1), nothing else.
  json vgg_only(Size size) {
    const LossConfig cfg = LossConfig::defaults();
    std::vector<Tap> taps;
    for (const auto& t : cfg.style_layers) taps.push_back(t.tap);
    for (const auto& t : cfg.content_layers) taps.push_back(t.tap);
    net_.plan(size.h, size.w, taps);
    Tensor x = upload(synthetic_image(false, size.h, size.w));
    Tensor dx = backend_.empty(x.shape());  // (1,3,H,W)
    auto pass = [&](bool backward) {
      net_.forward(x);
      if (!backward) return;
      net_.backward(dx, [&](const Tap& t, Tensor& d, bool accumulate) {  // some dL/dfeature: F/1024
        if (!accumulate) backend_.fill(d, 0.0f);
        backend_.axpy(1.0f / 1024, net_.feature(t), d);
      });
    };
    // ms per pass over N passes, after W warm-up passes of forward + backward.
    for (int i = 0; i < options_.warmup; ++i) pass(true);
    const double fwd = ms_per_call(backend_, 0, options_.iterations, [&] { pass(false); });
    const double fwd_bwd = ms_per_call(backend_, 0, options_.iterations, [&] { pass(true); });
    const double flops = net_.conv_flops();
    return json{{"height", size.h},
                {"width", size.w},
                {"forward_ms", fwd},
                {"forward_backward_ms", fwd_bwd},
                {"backward_ms", fwd_bwd - fwd},
                {"conv_gflop_forward", flops * 1e-9},
                {"tflops_forward_backward", 2 * flops / (fwd_bwd * 1e-3) * 1e-12},
                {"bytes_planned", net_.planned_bytes()}};
  }

 private:
  Backend& backend_;
  const VggWeights& weights_;
  const Options& options_;
  Vgg19 net_;
};

// L-BFGS alone (line search none, history M) on f(x) = ½·Σ λ_i·(x_i − t_i)² over x (1,3,H,W), from x = 0:
// max(W, M) warm-up iterations fill the history, N more are timed. The objective (four element-wise passes and
// a dot product, no network) is timed alone over N evaluations and subtracted: what remains is the
// optimizer's own time per iteration, as the history of a long run makes it.
json optimizer_only(Backend& backend, const Options& options, Size size) {
  const Shape shape{1, 3, size.h, size.w};
  std::vector<float> lambda_host, target_host;
  quadratic_problem(shape.numel(), lambda_host, target_host);
  const Tensor lambda = backend.from_host(lambda_host, shape), target = backend.from_host(target_host, shape);
  Tensor diff = backend.empty(shape), x = backend.empty(shape);  // (1,3,H,W)
  Objective f = [&](const Tensor& xx, Tensor& grad) {
    backend.copy(xx, diff);
    backend.axpy(-1.0f, target, diff);   // x − t
    backend.mul(diff, lambda, grad);     // λ ⊙ (x − t)
    return 0.5 * backend.dot(diff, grad);
  };
  LbfgsParams params;
  params.history = options.history;
  params.direction = options.direction;
  params.line_search = LbfgsParams::LineSearch::none;
  const int warmup = std::max(options.warmup, options.history);
  params.max_iterations = warmup + options.iterations;
  Lbfgs lbfgs(backend, shape, params);
  backend.fill(x, 0.0f);
  Clock::time_point window_start = Clock::now();
  double loss_first = 0, loss_last = 0;
  const OptimizeResult r = lbfgs.minimize(x, f, [&](const IterationInfo& info, const Tensor&) {
    if (info.iteration == 0) loss_first = info.loss;
    loss_last = info.loss;
    if (info.iteration == warmup) {
      backend.synchronize();
      window_start = Clock::now();
    }
    return true;
  });
  backend.synchronize();
  const double total = ms_since(window_start) / options.iterations;
  IMPASTO_CHECK(r.iterations == params.max_iterations,
                "L-BFGS stopped after " << r.iterations << " iterations (" << r.stop_reason << ")");
  Tensor grad = backend.empty(shape);  // (1,3,H,W)
  const double objective_ms = ms_per_call(backend, 0, options.iterations, [&] { f(x, grad); });
  const double history_mib = mib(detail::LbfgsHistory::bytes(shape, params.history));
  return json{{"height", size.h},
              {"width", size.w},
              {"history", params.history},
              {"warmup_iterations", warmup},
              {"curvature_skips", r.curvature_skips},
              {"loss_first", loss_first},
              {"loss_last", loss_last},
              {"ms_per_iteration", total},
              {"objective_ms", objective_ms},
              {"optimizer_ms", total - objective_ms},
              {"history_mib", history_mib}};
}

void print_stylize_row(const json& r, bool phases) {
  std::printf("%5dx%-5d %10.2f ms/it (median %.2f)  %7.3f TFLOP/s  %8.1f MiB planned", r["width"].get<int>(),
              r["height"].get<int>(), r["ms_per_iteration"].get<double>(),
              r.value("ms_per_iteration_median", 0.0), r["tflops_iteration"].get<double>(),
              mib(r["bytes_planned"].get<std::size_t>()));
  if (phases) {
    std::printf("  | synced %.2f ms:", r["ms_per_iteration_synced"].get<double>());
    for (const char* name : kPhases) std::printf(" %s %.1f%%", name, 100 * r["phase_share"][name].get<double>());
    std::printf(" other %.1f%%", 100 * r["phase_share"]["other"].get<double>());
  }
  std::printf("\n");
  std::fflush(stdout);
}

int run(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  std::unique_ptr<Backend> backend = make_backend(o.device);
  if (!o.precision.empty()) backend->set_precision(parse_enum<Precision>(o.precision));
  const Precision precision = backend->precision();
  // No network in --optimizer-only mode.
  const VggWeights weights = o.optimizer_only ? VggWeights{{}, "none", true}
                                              : load_weights_spec(o.weights, layers_needed(LossConfig::defaults()));
  const Peak peak = o.device == Device::cuda ? card_peak(backend->name(), precision) : Peak{0, "CPU: no peak assumed"};

  json report;
  report["tool"] = "impasto bench";
  report["backend"] = backend->name();
  report["device"] = enum_name(o.device);
  report["precision"] = enum_name(precision);
  report["layout"] = enum_name(backend->activation_layout());  // of VGG-19's activations
  report["weights"] = weights.description;
  report["history"] = o.history;
  report["lbfgs_direction"] = enum_name(o.direction);
  report["warmup"] = o.warmup;
  report["iterations"] = o.iterations;
  report["init"] = o.mix_init ? "mix" : "content";
  report["peak_tflops"] = peak.tflops;
  report["peak_basis"] = peak.basis;
  std::string command;
  for (int i = 0; i < argc; ++i) command += (i ? " " : "") + std::string(argv[i]);
  report["command"] = command;

  std::printf("impasto bench: %s, %s %s activations, weights %s\n", backend->name().c_str(),
              enum_name(precision), enum_name(backend->activation_layout()), weights.description.c_str());
  std::printf("peak assumed: %s (%.1f TFLOP/s)\n", peak.basis.c_str(), peak.tflops);
  int status = 0;
  std::unique_ptr<Session> session;  // the network: not made in --optimizer-only mode
  if (!o.optimizer_only) session = std::make_unique<Session>(*backend, weights, o);
  if (o.optimizer_only) {
    report["mode"] = "optimizer-only";
    for (const Size& s : o.sizes) {
      const json r = optimizer_only(*backend, o, s);
      std::printf("%5dx%-5d L-BFGS alone, history %d (%d pairs dropped): %.3f ms/it = objective %.3f ms + "
                  "optimizer %.3f ms; loss %.4g -> %.4g\n", s.w, s.h, r["history"].get<int>(),
                  r["curvature_skips"].get<int>(), r["ms_per_iteration"].get<double>(), r["objective_ms"].get<double>(),
                  r["optimizer_ms"].get<double>(), r["loss_first"].get<double>(), r["loss_last"].get<double>());
      report["runs"].push_back(r);
    }
  } else if (o.max_size.h > 0) {
    // The target: a 3840x2160 stylization runs to completion. Report and exit non-zero on failure.
    report["mode"] = "max-size-check";
    std::printf("max-size check %dx%d: L-BFGS history %d, %d iterations\n", o.max_size.w, o.max_size.h, o.history,
                o.warmup + o.iterations);
    // What `impasto stylize` would estimate for this request before starting (engine/memory_plan.hpp), held
    // against the peak the backend then measures: the GPU check of the estimate.
    StylizeOptions cli;
    cli.size = std::max(o.max_size.w, o.max_size.h);
    cli.lbfgs.history = o.history;
    RunImages images;
    images.content = {o.max_size.h, o.max_size.w};
    images.styles = {images.content};
    const MemoryNeed need = Stylizer(*backend, weights, cli).memory_needed(cli, images);
    const MemoryBudget budget = memory_budget(*backend, 0);
    std::printf("memory estimate: %s; %s %s: %s\n", need.str().c_str(), format_gib(budget.bytes).c_str(),
                budget.source.c_str(), fits(need, budget) ? "fits" : "does NOT fit (the CLI would refuse)");
    report["bytes_estimated"] = need.total();
    report["bytes_budget"] = budget.bytes;
    const std::size_t base = backend->bytes_in_use();
    backend->reset_peak_bytes();
    try {
      json r = session->stylize(o.max_size, false, /*as_cli=*/true);
      // Completing means taking steps: a line search that stops at once has run nothing at this size.
      IMPASTO_CHECK(r["iterations_done"].get<int>() >= 1,
                    "no iteration completed (" << r["stop_reason"].get<std::string>() << ")");
      r["passed"] = true;
      // The session's network (weights) was made before `base`: compare without the weights.
      const std::size_t peak_bytes = backend->peak_bytes_in_use() - base, estimated = need.total() - need.weights;
      r["bytes_peak"] = peak_bytes;
      r["bytes_estimated"] = estimated;
      std::printf("memory without weights: estimated %s, measured peak %s (estimate / peak %.3f)\n",
                  format_gib(estimated).c_str(), format_gib(peak_bytes).c_str(), double(estimated) / double(peak_bytes));
      print_stylize_row(r, false);
      std::printf("max-size check PASSED: %dx%d ran %d iterations (%d evaluations, strong-Wolfe, stop: %s), "
                  "%.2f GiB in use\n", o.max_size.w, o.max_size.h, r["iterations_done"].get<int>(),
                  r["evaluations"].get<int>(), r["stop_reason"].get<std::string>().c_str(),
                  mib(r["bytes_planned"].get<std::size_t>()) / 1024);
      report["runs"].push_back(r);
    } catch (const std::exception& e) {
      std::printf("max-size check FAILED: %s\n", e.what());
      report["runs"].push_back(json{{"width", o.max_size.w}, {"height", o.max_size.h}, {"passed", false},
                                    {"error", e.what()}});
      status = 1;
    }
  } else if (o.conv_layers) {
    report["mode"] = "conv-layers";
    for (const Size& s : o.sizes) {
      const json r = session->conv_layers(s);
      double fwd = 0, bwd = 0;
      for (const json& l : r["layers"]) {
        std::printf("%5dx%-5d %-8s %4d->%-4d at %5dx%-5d forward %8.3f ms (%6.1f TFLOP/s)  backward-data %8.3f ms "
                    "(%6.1f TFLOP/s)\n", s.w, s.h, l["name"].get<std::string>().c_str(), l["cin"].get<int>(),
                    l["cout"].get<int>(), l["width"].get<int>(), l["height"].get<int>(), l["forward_ms"].get<double>(),
                    l["tflops_forward"].get<double>(), l["backward_data_ms"].get<double>(),
                    l["tflops_backward_data"].get<double>());
        fwd += l["forward_ms"].get<double>();
        bwd += l["backward_data_ms"].get<double>();
      }
      std::printf("%5dx%-5d all layers: forward %.3f ms, backward-data %.3f ms\n", s.w, s.h, fwd, bwd);
      report["runs"].push_back(r);
    }
  } else if (o.vgg_only) {
    report["mode"] = "vgg-only";
    for (const Size& s : o.sizes) {
      const json r = session->vgg_only(s);
      std::printf("%5dx%-5d VGG-19 forward %9.2f ms, backward %9.2f ms, forward+backward %9.2f ms, %.3f TFLOP/s\n",
                  s.w, s.h, r["forward_ms"].get<double>(), r["backward_ms"].get<double>(),
                  r["forward_backward_ms"].get<double>(), r["tflops_forward_backward"].get<double>());
      report["runs"].push_back(r);
    }
  } else {
    report["mode"] = "stylize";
    for (const Size& s : o.sizes) {
      const json r = session->stylize(s, o.phases);
      print_stylize_row(r, o.phases);
      report["runs"].push_back(r);
    }
  }
  if (!o.json_path.empty()) {
    std::ofstream f(o.json_path);
    IMPASTO_CHECK(f, "cannot write " << o.json_path);
    f << report.dump(1) << "\n";
    IMPASTO_CHECK(f.good(), "cannot write " << o.json_path);
  }
  return status;
}

}  // namespace
}  // namespace impasto::bench

int main(int argc, char** argv) { return impasto::bench::guarded_main("bench", impasto::bench::run, argc, argv); }
