// engine/video.cpp — the video pipeline (see video.hpp): its options, its memory plan, and VideoStylizer::run
// as run → pass → frame (temporal terms, init, optimization). The frames and out.avi (video_frames), the flows
// (video_flow), the per-frame math (temporal) and the resume state (video_state) have their own files.
// Ruder et al. 2016/2018.
#include "engine/video.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "engine/error.hpp"
#include "engine/files.hpp"
#include "engine/image_optimizer.hpp"
#include "engine/text.hpp"
#include "weights/weights.hpp"

namespace fs = std::filesystem;

namespace impasto {

// ---- options -----------------------------------------------------------------------------------------------------

void VideoOptions::validate() const {
  IMPASTO_CHECK(base.iterations >= 0, "--iterations must be >= 0");
  IMPASTO_CHECK(frame_iterations >= 0, "--frame-iterations must be >= 0");
  IMPASTO_CHECK(std::isfinite(temporal_weight) && temporal_weight >= 0, "--temporal-weight must be >= 0");
  IMPASTO_CHECK(!temporal_offsets.empty(), "--temporal-offsets: give at least one offset (e.g. 1 or 1,2,4)");
  for (std::size_t k = 0; k < temporal_offsets.size(); ++k) {
    IMPASTO_CHECK(temporal_offsets[k] >= 1, "--temporal-offsets: offset " << temporal_offsets[k] << " must be >= 1");
    IMPASTO_CHECK(k == 0 || temporal_offsets[k] > temporal_offsets[k - 1],
                  "--temporal-offsets must be strictly increasing (e.g. 1,2,4)");
  }
  IMPASTO_CHECK(temporal_offsets[0] == 1, "--temporal-offsets must start with 1 (the previous frame)");
  IMPASTO_CHECK(passes >= 1, "--passes must be >= 1");
  IMPASTO_CHECK(temporal_from_pass >= 1, "--temporal-from-pass must be >= 1");
  IMPASTO_CHECK(pass_blend >= 0 && pass_blend <= 1, "--pass-blend must be in [0, 1]");
  IMPASTO_CHECK(first_frame_init == FrameInit::content || first_frame_init == FrameInit::noise,
                "--first-frame-init must be content or noise (the first frame has no neighbour)");
  IMPASTO_CHECK(std::isfinite(reliability_sigma) && reliability_sigma >= 0 && reliability_sigma <= 10,
                "--reliability-blur must be in [0, 10]");
  IMPASTO_CHECK(std::isfinite(photometric_threshold) && photometric_threshold >= 0,
                "--photometric-threshold must be >= 0 (0: no photometric test)");
  IMPASTO_CHECK(cut_threshold >= 0 && cut_threshold <= 1, "--cut-threshold must be in [0, 1] (0: no cut detection)");
  IMPASTO_CHECK(stop_after >= 0, "--stop-after must be >= 0");
  IMPASTO_CHECK(fps >= 0 && std::isfinite(fps), "--fps must be >= 0");
}

nlohmann::json VideoOptions::describe() const {
  using nlohmann::json;
  const LossConfig& l = base.loss;
  auto taps = [](const std::vector<WeightedTap>& ts) {
    json a = json::array();
    for (const auto& t : ts) a.push_back({tap_name(t.tap), t.weight});
    return a;
  };
  json j;
  j["loss"] = {{"content_layers", taps(l.content_layers)}, {"style_layers", taps(l.style_layers)},
               {"content_variant", l.content_variant},    {"content_weight", l.content_weight},
               {"style_weight", l.style_weight},          {"tv_weight", l.tv_weight},
               {"tv", enum_name(l.tv_mode)},              {"style_form", enum_name(l.style_form)},
               {"average_layers", l.average_layers},      {"blend_style_targets", l.blend_style_targets},
               {"tv_in_total", l.tv_in_total}};
  j["pooling"] = enum_name(base.pooling);
  j["size"] = base.size;
  j["style_scale"] = base.style_scale;
  j["style_fit"] = enum_name(base.style_fit);
  j["style_blend_weights"] = base.style_blend_weights;
  j["noise_ratio"] = base.noise_ratio;
  j["noise"] = enum_name(base.noise);
  j["pixel_scale"] = base.pixel_scale;
  j["resample"] = enum_name(base.resample);
  j["seed"] = base.seed;
  if (base.use_adam) {
    j["optimizer"] = {{"adam", {base.adam.learning_rate, base.adam.beta1, base.adam.beta2, base.adam.eps}}};
  } else {
    const LbfgsParams& p = base.lbfgs;
    j["optimizer"] = {{"lbfgs",
                       {p.history, enum_name(p.line_search), p.learning_rate, p.tolerance_change, p.tolerance_window,
                        enum_name(p.tolerance_rule), p.tolerance_grad, p.curvature_eps, p.wolfe_c1, p.wolfe_c2,
                        p.max_line_search_evals}}};
  }
  j["iterations"] = base.iterations;
  j["original_colors"] = base.original_colors ? enum_name(*base.original_colors) : "none";
  j["frame_iterations"] = frame_iterations;
  j["temporal_weight"] = temporal_weight;
  j["temporal_offsets"] = temporal_offsets;
  j["frame_init"] = enum_name(frame_init);
  j["first_frame_init"] = enum_name(first_frame_init);
  j["warp_fill"] = enum_name(warp_fill);
  j["passes"] = passes;
  j["temporal_from_pass"] = temporal_from_pass;
  j["pass_blend"] = pass_blend;
  j["pass_blend_rule"] = enum_name(pass_blend_rule);
  j["reliability_sigma"] = reliability_sigma;
  // Only when on: a run with the test off keeps the fingerprint it had before the test existed.
  if (photometric_threshold > 0) {
    j["photometric_threshold"] = photometric_threshold;
    j["cut_threshold"] = cut_threshold;
  }
  j["flow"] = flow_dir.empty() ? flow_method : "dir:" + fs::absolute(flow_dir).lexically_normal().string();
  return j;
}

ImageSize VideoStylizer::style_size(const VideoOptions& options, ImageSize style, int h, int w) {
  return Stylizer::style_size(options.base, style, h, w);
}

// ---- the pipeline ---------------------------------------------------------------------------------------------------

namespace {

bool detects_cuts(const VideoOptions& o) { return o.photometric_threshold > 0 && o.cut_threshold > 0; }

// Whether `cur` starts a new scene after `prev` (issue 14): more than --cut-threshold of its pixels fail the
// photometric test along bwd (cur → prev). Frame 0 is never a cut (the callers start at frame 1).
bool scene_cut(const VideoOptions& o, const Image& prev, const Image& cur, const FlowField& bwd) {
  return detects_cuts(o) && photometric_mask(prev, cur, bwd, o.photometric_threshold, nullptr) > o.cut_threshold;
}

}  // namespace

std::vector<std::pair<int, int>> VideoStylizer::needed_pairs(int frames, const std::vector<int>& offsets) {
  std::vector<std::pair<int, int>> pairs;
  for (int b = 1; b < frames; ++b)
    for (int j : offsets)
      if (b - j >= 0) pairs.emplace_back(b - j, b);
  return pairs;
}

VideoStylizer::VideoStylizer(Backend& backend, const VggWeights& weights, VideoOptions options)
    : backend_(backend), bgr_(weights.bgr_input), options_(std::move(options)),
      net_(backend, weights, options_.base.pooling) {
  options_.validate();
  options_.base.loss.validate();
  IMPASTO_CHECK(options_.base.style_scale > 0 && std::isfinite(options_.base.style_scale), "--style-scale must be > 0");
  IMPASTO_CHECK(options_.base.noise_ratio >= 0 && options_.base.noise_ratio <= 1, "--noise-ratio must be in [0, 1]");
  const int most = std::max(options_.base.iterations, options_.frame_iterations);
  options_.base.lbfgs.max_iterations = most;  // each frame stops at its own count through the callback
  options_.base.adam.max_iterations = most;
  options_.base.lbfgs.validate();
  options_.base.adam.validate();
  weights_description_ = weights.description;
}

Tensor VideoStylizer::upload_image(const Image& rgb) {
  return backend_.from_host(preprocess(rgb, bgr_, float(options_.base.pixel_scale)), Shape{1, 3, rgb.h, rgb.w});
}

void VideoStylizer::upload_image(const Image& rgb, Tensor& into) {
  IMPASTO_ASSERT(into.shape() == (Shape{1, 3, rgb.h, rgb.w}));
  backend_.upload(preprocess(rgb, bgr_, float(options_.base.pixel_scale)).data(), into);
}

Image VideoStylizer::to_image(const Tensor& x) {
  const auto host = backend_.to_host(x);
  return postprocess(host.data(), x.shape().h, x.shape().w, bgr_, float(options_.base.pixel_scale));
}

void VideoStylizer::upload_flow(const FlowField& f, Tensor& into) {
  IMPASTO_ASSERT(into.shape() == (Shape{1, 2, f.h, f.w}) && f.data.size() == std::size_t(into.numel()));
  backend_.upload(f.data.data(), into);
}

// ---- one run: its fixed state, then pass → frame (temporal terms, init, optimization) --------------------------

// Everything a run makes once (Plan memory once per size: the objective and its plan, the optimizer, scratch
// tensors) and the steps of one frame.
struct VideoStylizer::Run {
  Run(VideoStylizer& s, const VideoFrames& video, const std::vector<Image>& styles, FlowProvider& flows,
      const std::string& out_dir, const IterationReporter& on_iteration);

  // Frame t of `pass` (direction dir: +1 forward, −1 backward; step: its position in the pass), into
  // report.path.
  void frame(int pass, int dir, int step, int t, FrameReport& report);
  // The temporal terms of frame t against its already stylized neighbours t − dir·j of this pass; returns how
  // many (warped[k], weights[k] hold them, weights as c_long).
  int temporal_terms(int pass, int dir, int t);
  // x = frame t's initial image: pass 1 by --frame-init (--first-frame-init without a neighbour), later passes
  // the previous pass's result blended with the warped neighbour. `used`: temporal terms already warped.
  void init_frame(int pass, int dir, int t, int used);
  // The neighbour n of frame t: its output of `pass` warped to t (into out) and the reliability c(n → t)
  // (the flows' test times the photometric test of the input frames).
  void warp_neighbour(int pass, int n, int t, Tensor& out, Tensor& c);
  // Whether frame t is a scene cut (scene_cut), tested once, when first asked.
  bool is_cut(int t);
  // Whether frames a and b belong to one scene: no cut in (min(a, b), max(a, b)].
  bool same_scene(int a, int b);
  // Frame `t`'s output file of `pass` into `into` (1,3,H,W).
  void read_output(int pass, int t, Tensor& into);
  // Optimizes x for `iterations` against the objective and the temporal terms, reporting every iteration.
  void optimize_frame(int pass, int t, int iterations, FrameReport& report,
                      std::chrono::steady_clock::time_point frame_start);

  VideoStylizer& s;
  Backend& b;
  const VideoOptions& o;
  const std::vector<Image>& frames;
  FlowProvider& flows;
  const std::string& out_dir;
  const IterationReporter& on_iteration;
  const int T, H, W, passes;
  std::vector<Tensor> style_x;  // (1,3,Hs,Ws) each: the styles at the frames' scale, kept for the run
  ImageOptimizer optimizer;
  // Content, style and TV: style targets once per run, the content target per frame (set_content reuses the
  // plan made for the first frame).
  StyleObjective objective;
  // The run's buffers, made once (buffer_shapes): the frame being optimized, the multi-pass scratch, the warp
  // fill, the blur scratch and long-term sum, the uploads of a frame (its content, a neighbour's or its own
  // previous-pass output, a pair of flows), and per temporal offset a warped neighbour and its weights.
  Tensor x, diff, fill, blur_tmp, c_sum, content, other, fwd, bwd;
  std::vector<Tensor> warped, weights;
  TemporalLoss temporal;
  double optimize_seconds = 0, flow_wait_seconds = 0;  // the time split (VideoResult)
  // Per frame: −1 not tested yet, 0 no cut, 1 a scene cut (the flows arrive from a background producer, so
  // each frame is tested when first needed, not all up front).
  std::vector<signed char> cut_state;
  std::vector<float> photometric;  // H·W: the photometric mask of the neighbour being warped

  // flows.get(from, to), its wait counted in flow_wait_seconds.
  FlowField flow(int from, int to);

  // The shapes of those buffers, in the order above: what the constructor allocates and memory_needed counts.
  static std::vector<Shape> buffer_shapes(int offsets, int h, int w);
};

std::vector<Shape> VideoStylizer::Run::buffer_shapes(int offsets, int h, int w) {
  const Shape img{1, 3, h, w}, plane{1, 1, h, w}, flow{1, 2, h, w};
  std::vector<Shape> shapes{img, img, Shape{1, 3, 1, 1}, plane, plane, img, img, flow, flow};
  for (int k = 0; k < offsets; ++k) {
    shapes.push_back(img);
    shapes.push_back(plane);
  }
  return shapes;
}

VideoStylizer::Run::Run(VideoStylizer& s_, const VideoFrames& video, const std::vector<Image>& styles,
                        FlowProvider& flows_, const std::string& out_dir_, const IterationReporter& on_iteration_)
    : s(s_), b(s_.backend_), o(s_.options_), frames(video.frames), flows(flows_), out_dir(out_dir_),
      on_iteration(on_iteration_), T(int(frames.size())), H(frames[0].h), W(frames[0].w), passes(o.passes),
      style_x([&] {
        std::vector<Tensor> xs;
        for (const Image& st : styles) {
          const ImageSize fit = style_size(o, {st.h, st.w}, H, W);
          xs.push_back(s.upload_image(resample(st, fit.w, fit.h, o.base.resample)));
        }
        return xs;
      }()),
      // The constructor set max_iterations to the larger of --iterations and --frame-iterations.
      optimizer(b, Shape{1, 3, H, W}, o.base.use_adam, o.base.lbfgs, o.base.adam),
      objective(s.net_, o.base.loss),
      temporal(b, o.temporal_weight), cut_state(std::size_t(T), -1) {
  const auto& blend = o.base.style_blend_weights;
  for (std::size_t k = 0; k < style_x.size(); ++k) objective.add_style(style_x[k], blend.empty() ? 1.0f : blend[k]);
  const int offsets = int(o.temporal_offsets.size());
  std::vector<Tensor> buffers;
  for (const Shape& shape : buffer_shapes(offsets, H, W)) buffers.push_back(b.empty(shape));
  Tensor* fixed[] = {&x, &diff, &fill, &blur_tmp, &c_sum, &content, &other, &fwd, &bwd};
  std::size_t k = 0;
  for (Tensor* t : fixed) *t = buffers[k++];
  for (int j = 0; j < offsets; ++j) {
    warped.push_back(buffers[k++]);
    weights.push_back(buffers[k++]);
  }
}

void VideoStylizer::Run::read_output(int pass, int t, Tensor& into) {
  s.upload_image(read_image(video_frame_path(out_dir, pass, passes, t)), into);
}

FlowField VideoStylizer::Run::flow(int from, int to) {
  const auto start = std::chrono::steady_clock::now();
  FlowField f = flows.get(from, to);
  flow_wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return f;
}

void VideoStylizer::Run::warp_neighbour(int pass, int n, int t, Tensor& out, Tensor& c) {
  read_output(pass, n, other);
  s.upload_flow(flow(n, t), fwd);
  const FlowField back = flow(t, n);
  s.upload_flow(back, bwd);
  reliability(b, fwd, bwd, o.reliability_sigma, blur_tmp, c);
  if (o.photometric_threshold > 0) {
    photometric_mask(frames[std::size_t(n)], frames[std::size_t(t)], back, o.photometric_threshold, &photometric);
    apply_mask(b, photometric, blur_tmp, c);
  }
  warp_fill(b, o.warp_fill, other, fill);
  b.warp(other, bwd, fill, out);
}

bool VideoStylizer::Run::is_cut(int t) {
  if (t <= 0 || !detects_cuts(o)) return false;  // frame 0 starts the clip anyway
  signed char& state = cut_state[std::size_t(t)];
  if (state < 0) state = scene_cut(o, frames[std::size_t(t) - 1], frames[std::size_t(t)], flow(t, t - 1)) ? 1 : 0;
  return state == 1;
}

bool VideoStylizer::Run::same_scene(int a, int b) {
  for (int k = std::min(a, b) + 1; k <= std::max(a, b); ++k)
    if (is_cut(k)) return false;
  return true;
}

int VideoStylizer::Run::temporal_terms(int pass, int dir, int t) {
  temporal.clear();
  if (!(o.temporal_weight > 0 && pass >= o.temporal_from_pass)) return 0;
  std::vector<Tensor> cs;  // handles of weights[0..used)
  int used = 0;
  for (std::size_t k = 0; k < o.temporal_offsets.size(); ++k) {
    const int n = t - dir * o.temporal_offsets[k];
    if (n < 0 || n >= T || !same_scene(n, t)) break;  // farther offsets lie beyond the same cut
    warp_neighbour(pass, n, t, warped[k], weights[k]);
    cs.push_back(weights[k]);
    ++used;
  }
  long_term_weights(b, cs, c_sum);  // in place: weights[k] = c_long(J[k])
  for (std::size_t k = 0; k < std::size_t(used); ++k) temporal.add(warped[k], weights[k]);
  return used;
}

void VideoStylizer::Run::init_frame(int pass, int dir, int t, int used) {
  const int neighbour = t - dir;
  // Across a scene cut a frame starts as the clip's ends do: pass 1 as the first frame, later passes from their
  // own previous-pass result without a blend.
  const bool has_neighbour = neighbour >= 0 && neighbour < T && same_scene(neighbour, t);
  if (pass > 1) {
    // Multi-pass: own previous-pass result blended with the warped neighbour where it is reliable.
    // warped[0], weights[0]: the nearest neighbour warped and c(1) (= c_long(1) when temporal terms ran).
    if (has_neighbour && used == 0) warp_neighbour(pass, neighbour, t, warped[0], weights[0]);
    read_output(pass - 1, t, other);  // after the warp, which uses `other` too
    if (has_neighbour)
      blend_pass(b, o.pass_blend_rule, o.pass_blend, other, warped[0], weights[0], diff, blur_tmp, x);
    else
      b.copy(other, x);
    return;
  }
  FrameInit init = has_neighbour ? o.frame_init : o.first_frame_init;
  if (o.frame_init == FrameInit::noise) init = FrameInit::noise;
  switch (init) {
    case FrameInit::warped:
      if (used == 0) warp_neighbour(pass, neighbour, t, warped[0], weights[0]);
      b.copy(warped[0], x);
      break;
    case FrameInit::prev:
      read_output(pass, neighbour, x);
      break;
    case FrameInit::content:
      b.copy(content, x);
      break;
    case FrameInit::noise:  // the noise image is the one allocation of a frame (memory_needed counts it)
      b.copy(noise_image(b, o.base.noise, H, W, o.base.seed, std::uint64_t(t)), x);
      b.axpby(float(1.0 - o.base.noise_ratio), content, float(o.base.noise_ratio), x);
      break;
  }
}

void VideoStylizer::Run::optimize_frame(int pass, int t, int iterations, FrameReport& report,
                                        std::chrono::steady_clock::time_point frame_start) {
  const ImageOptimizer::Evaluate f = [&](const Tensor& xx, Tensor& grad) {
    LossTerms terms = objective.evaluate(xx, grad);
    terms.temporal = temporal.empty() ? 0.0 : temporal.evaluate(xx, grad);
    terms.total += terms.temporal;
    return terms;
  };
  const ImageOptimizer::OnIteration on_step = [&](const IterationInfo& info, const LossTerms& terms, const Tensor&) {
    IterationReport r = IterationReport::of(info, terms);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - frame_start).count();
    if (info.iteration == 0) report.loss_first = info.loss;
    report.loss = info.loss;
    report.content = terms.content;
    report.style = terms.style;
    report.tv = terms.tv;
    report.temporal = terms.temporal;
    report.iterations = info.iteration;
    if (on_iteration) on_iteration(report, r);
    return true;
  };
  const auto start = std::chrono::steady_clock::now();
  try {
    optimizer.run(x, iterations, f, on_step);
  } catch (const NonFiniteError& e) {
    IMPASTO_FAIL("frame " << t + 1 << " (pass " << pass << "): " << e.what());
  }
  optimize_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void VideoStylizer::Run::frame(int pass, int dir, int step, int t, FrameReport& report) {
  const auto frame_start = std::chrono::steady_clock::now();
  flows.at_frame(t);
  // The objective's content target of this frame (the style targets and the plan are the run's).
  s.upload_image(frames[std::size_t(t)], content);
  objective.set_content(content);
  report.cut = is_cut(t);
  const int used = temporal_terms(pass, dir, t);
  init_frame(pass, dir, t, used);
  // The first frame of the clip and of each scene: the first frame's iteration count.
  const bool fresh = pass == 1 && (step == 0 || report.cut);
  optimize_frame(pass, t, fresh ? o.base.iterations : o.frame_iterations, report, frame_start);
  Image out = s.to_image(x);
  if (o.base.original_colors) out = preserve_colors(b, out, frames[std::size_t(t)], *o.base.original_colors);
  write_image(out, report.path, false);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - frame_start).count();
}

MemoryNeed VideoStylizer::memory_needed(const VideoOptions& options, int h, int w, const std::vector<ImageSize>& styles) {
  IMPASTO_CHECK(!styles.empty(), "no style image given");
  const Shape img{1, 3, h, w};  // (1,3,H,W)
  const std::int64_t plane = img.plane();
  const std::size_t optimizer = optimizer_bytes(options.base.use_adam, options.base.lbfgs, img);
  std::vector<ImageSize> fitted;
  std::int64_t style_floats = 0;  // the style uploads, kept for the whole run
  for (const ImageSize& s : styles) {
    fitted.push_back(style_size(options, s, h, w));
    style_floats += 3LL * fitted.back().h * fitted.back().w;
  }
  // run(): the optimizer first, then each style's target, then the plan at the frame size with the run's
  // buffers (Run::buffer_shapes) and, for a noise init, one frame-sized noise image.
  RunMemory run(net_, options.base.loss);
  for (std::size_t i = 0; i < fitted.size(); ++i) run.style_phase(fitted[i], int(i), false, optimizer, float_bytes(style_floats));
  std::int64_t buffers = 0;
  for (const Shape& s : Run::buffer_shapes(int(options.temporal_offsets.size()), h, w)) buffers += s.numel();
  run.output_phase({h, w}, int(styles.size()), 0, float_bytes(buffers), optimizer,
                   float_bytes(style_floats + 3 * plane));
  return run.peak();
}

// ---- the run ------------------------------------------------------------------------------------------------------

namespace {

// The flicker metric over the final frames, read back from their files (the same numbers for resumed runs).
// A pair across a scene cut (result.cuts) shows two scenes, not flicker: 0 with no reliable pixel, and left
// out of the mean.
void measure_flicker(Backend& b, FlowProvider& flows, float sigma, VideoResult& result) {
  Image prev = read_image(result.frame_paths[0]);
  double total = 0;
  int pairs = 0;
  for (std::size_t t = 1; t < result.frame_paths.size(); ++t) {
    Image cur = read_image(result.frame_paths[t]);
    double e = 0, frac = 0;
    if (std::find(result.cuts.begin(), result.cuts.end(), int(t)) == result.cuts.end()) {
      e = warping_error(b, prev, cur, flows.get(int(t) - 1, int(t)), flows.get(int(t), int(t) - 1), sigma, &frac);
      total += e;
      ++pairs;
    }
    result.flicker_per_frame.push_back(e);
    result.reliable_fraction.push_back(frac);
    prev = std::move(cur);
  }
  result.flicker = pairs > 0 ? total / double(pairs) : 0.0;
}

}  // namespace

nlohmann::json VideoStylizer::start_state(const VideoFrames& video, const nlohmann::json& style_fingerprint,
                                          const std::string& out_dir, bool force) {
  const int T = int(video.frames.size()), passes = options_.passes;
  fs::create_directories(out_dir);
  nlohmann::json described = {{"options", options_.describe()},
                              {"input", video.fingerprint},
                              {"styles", style_fingerprint},
                              {"frames", T},
                              {"size", {video.frames[0].w, video.frames[0].h}},
                              {"weights", weights_description_}};
  const std::string fingerprint = fnv1a_hex(described.dump());
  nlohmann::json state = {{"version", 2},       {"fingerprint", fingerprint},
                          {"described", described}, {"complete", false},
                          {"outputs", video_run_outputs(passes, T)}};
  prepare_video_out_dir(out_dir, fingerprint, force);
  remove_stale_temps(out_dir);
  write_file_atomic((fs::path(out_dir) / kVideoStateFile).string(), state.dump(2) + "\n", true);
  for (int p = 1; p < passes; ++p) {
    const fs::path folder = fs::path(out_dir) / ("pass" + std::to_string(p));
    fs::create_directories(folder);
    std::error_code ec;
    IMPASTO_CHECK(fs::is_directory(fs::symlink_status(folder, ec)), "'" << folder.string() << "' is not a folder");
    remove_stale_temps(folder.string());
  }
  return state;
}

bool VideoStylizer::run_frames(const VideoFrames& video, const std::vector<Image>& styles, FlowProvider& flows,
                               const std::string& out_dir, const FrameReporter& on_frame,
                               const IterationReporter& on_iteration, VideoResult& result) {
  Run run(*this, video, styles, flows, out_dir, on_iteration);
  const int T = run.T, passes = run.passes;
  for (int pass = 1; pass <= passes; ++pass) {
    const int dir = pass == 1 ? 1 : (pass % 2 == 0 ? -1 : 1);  // pass 1 forward, then backward, forward, ...
    for (int step = 0; step < T; ++step) {
      const int t = dir > 0 ? step : T - 1 - step;
      FrameReport report;
      report.pass = pass;
      report.passes = passes;
      report.frame = t;
      report.frames = T;
      report.path = video_frame_path(out_dir, pass, passes, t);
      if (fs::exists(report.path)) {  // finished by an earlier run with the same fingerprint
        report.resumed = true;
        ++result.resumed;
        if (on_frame) on_frame(report);
        continue;
      }
      if (options_.stop_after > 0 && result.computed >= options_.stop_after) {
        result.stopped = true;
        break;
      }
      run.frame(pass, dir, step, t, report);
      ++result.computed;
      result.optimize_seconds = run.optimize_seconds;
      result.flow_wait_seconds = run.flow_wait_seconds;
      if (on_frame) on_frame(report);
    }
    if (result.stopped) break;
  }
  return !result.stopped;
}

VideoResult VideoStylizer::run(const VideoFrames& video, const std::vector<Image>& styles,
                               const nlohmann::json& style_fingerprint, FlowProvider& flows,
                               const std::string& out_dir, bool force, const FrameReporter& on_frame,
                               const IterationReporter& on_iteration) {
  using Clock = std::chrono::steady_clock;
  const auto run_start = Clock::now();
  const std::vector<Image>& frames = video.frames;
  IMPASTO_CHECK(!frames.empty(), "no frames to stylize");
  IMPASTO_CHECK(!styles.empty(), "no style image given");
  const auto& blend = options_.base.style_blend_weights;
  IMPASTO_CHECK(blend.empty() || blend.size() == styles.size(),
                blend.size() << " style blend weights for " << styles.size() << " styles");
  for (const Image& f : frames) check_same_size(frames[0], f, "frames");
  const int T = int(frames.size()), passes = options_.passes;
  nlohmann::json state = start_state(video, style_fingerprint, out_dir, force);

  VideoResult result;
  result.frames = T;
  if (!run_frames(video, styles, flows, out_dir, on_frame, on_iteration, result)) {
    result.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
    return result;  // stopped (--stop-after)
  }
  // The run's buffers and optimizer are gone: the flicker measure's uploads fit in what they held.
  for (int t = 0; t < T; ++t) result.frame_paths.push_back(video_frame_path(out_dir, passes, passes, t));
  // Every scene cut, resumed frames included: the test the run made, on the same frames and flows.
  for (int t = 1; t < T && detects_cuts(options_); ++t)
    if (scene_cut(options_, frames[std::size_t(t) - 1], frames[std::size_t(t)], flows.get(t, t - 1)))
      result.cuts.push_back(t);
  measure_flicker(backend_, flows, options_.reliability_sigma, result);
  if (options_.write_video && have_opencv()) {
    const double fps = options_.fps > 0 ? options_.fps : (video.fps > 0 ? video.fps : 24.0);
    const std::string path = (fs::path(out_dir) / "out.avi").string();
    write_video_file(path, result.frame_paths, frames[0].w, frames[0].h, fps);
    result.video_path = path;
  }
  state["complete"] = true;
  state["flicker"] = result.flicker;
  write_file_atomic((fs::path(out_dir) / kVideoStateFile).string(), state.dump(2) + "\n", true);
  result.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  return result;
}

}  // namespace impasto
