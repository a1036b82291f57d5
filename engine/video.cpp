// engine/video.cpp — the video pipeline (see video.hpp): its options, its memory plan, and VideoStylizer::run
// as run → pass → frame (temporal terms, init, optimization). The frames and out.avi (video_frames), the flows
// (video_flow), the per-frame math (temporal) and the resume state (video_state) have their own files.
// Ruder et al. 2016/2018.
#include "engine/video.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

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
  IMPASTO_CHECK(chunks >= 1, "--chunks must be >= 1");
  IMPASTO_CHECK(bridge >= 0, "--bridge must be >= 0");
  IMPASTO_CHECK(lead_in_iterations >= -1, "--lead-in-iterations must be >= 0");
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
  if (chunks > 1) {  // absent for one chunk: the sequential schedule's fingerprint as before
    j["chunks"] = chunks;
    j["bridge"] = bridge;
    j["lead_in_iterations"] = lead_in();
  }
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

std::vector<std::pair<int, int>> VideoStylizer::needed_pairs(int frames, const std::vector<int>& offsets,
                                                             const VideoChunks& chunks, int bridge, int rank,
                                                             int ranks) {
  std::vector<std::pair<int, int>> inside, across;
  // The lead-in (video.cpp, Run::lead_in): the chain up to this rank's last chunk, short-term pairs first.
  const std::vector<int> mine = chunks.chunks_of(rank, ranks);
  const int lead = mine.empty() || mine.back() == 0 ? 0 : std::min(frames, chunks.begin(mine.back()) + bridge + 1);
  for (int t = 1; t < lead; ++t) inside.emplace_back(t - 1, t);
  // The scene-cut test of every frame between a frame of its chunks and the neighbours it reaches.
  const int reach = offsets.back();
  std::vector<bool> short_term(std::size_t(frames), false);
  for (int c : mine)
    for (int t = std::max(chunks.begin(c) - reach + 1, std::max(lead, 1)); t < std::min(chunks.end(c) + reach, frames); ++t)
      short_term[std::size_t(t)] = true;
  for (const auto& [a, b] : needed_pairs(frames, offsets)) {
    if (b - a == 1 && (b < lead || short_term[std::size_t(b)])) {
      if (b >= lead) (chunks.owns(rank, ranks, b) && chunks.owns(rank, ranks, a) ? inside : across).emplace_back(a, b);
      continue;  // listed once
    }
    const bool has_a = chunks.owns(rank, ranks, a), has_b = chunks.owns(rank, ranks, b);
    if (has_a && has_b && chunks.chunk_of(a) == chunks.chunk_of(b))
      inside.emplace_back(a, b);
    else if (has_a || has_b)
      across.emplace_back(a, b);  // later passes and the flicker measure
  }
  inside.insert(inside.end(), across.begin(), across.end());
  return inside;
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
namespace {

// Pass 1 runs forward, then the passes alternate backward, forward, … (Ruder et al. 2018, Sec. 4.3).
int pass_direction(int pass) { return pass == 1 ? 1 : (pass % 2 == 0 ? -1 : 1); }

// The "pass" of the lead-in's frames (Run::lead_in) where source_pass names a neighbour's pass.
constexpr int kLeadIn = -1;

}  // namespace

struct VideoStylizer::Run {
  Run(VideoStylizer& s, const VideoFrames& video, const std::vector<Image>& styles, FlowProvider& flows,
      const std::string& out_dir, const VideoChunks& chunks, BorderFrames& borders,
      const IterationReporter& on_iteration);

  // Frame t of `pass` (direction dir: +1 forward, −1 backward), into report.path.
  void frame(int pass, int dir, int t, FrameReport& report);
  // Frame t of `pass` into x and returned as an image (what frame writes).
  Image stylize(int pass, int dir, int t, FrameReport& report);
  // Pass 1 with several chunks: the lead-in up to frame `end` (exclusive), a sequential chain in memory: frame 0
  // as pass 1 makes it, then each frame from the previous one warped, with the short-term temporal term and
  // lead_in() iterations. A chunk's first frame starts from it instead of from its content, so that every
  // chunk carries the first frame's pattern (the passes after merge what differs). Every rank computes the
  // chain it needs; it depends on the inputs only.
  void lead_in(int end);
  std::map<int, Image> lead;  // the lead-in's frames still needed (the last `reach` ones)
  bool report_iterations = true;
  // The pass whose output of frame n is frame t's neighbour in `pass`: this pass when n is computed before t
  // (behind it in its chunk, or a frame of an earlier phase), else the previous pass (Jacobi across a chunk
  // border), 0 when there is none (outside the clip, across a scene cut, or pass 1).
  int source_pass(int pass, int t, int n);
  // 1 for a bridge frame of the last pass of a run with several chunks, 0 for every other frame. The bridge:
  // the first `bridge` frames of each chunk in the pass's direction (none in the chunk the pass starts in),
  // computed after every other frame of the pass, once the frame across the border is final, with temporal
  // terms to both sides, so the seam between two chunks is spread over the bridge and interpolated.
  int phase(int pass, int t) const;
  // δ of frame t's multi-pass blend: --pass-blend, except over a bridge, where it grows from the border,
  // (k + 1)/(m + 1) for the k-th of m bridge frames, so the bridge fades from the other chunk's last pass into
  // this chunk's.
  double own_share(int pass, int t) const;
  // The temporal terms of frame t against its already stylized neighbours t − dir·j (source_pass); returns how
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
  // Frame `t`'s output of `pass` into `into` (1,3,H,W): its file, or the copy another rank sent.
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
  const VideoChunks& chunks;
  const IterationReporter& on_iteration;
  BorderFrames& borders;  // the frames written, this rank's and (received) other ranks'
  const int T, H, W, passes;
  std::vector<Tensor> style_x;  // (1,3,Hs,Ws) each: the styles at the frames' scale, kept for the run
  ImageOptimizer optimizer;
  // Content, style and TV: style targets once per run, the content target per frame (set_content reuses the
  // plan made for the first frame).
  StyleObjective objective;
  // The run's buffers, made once (buffer_shapes): the frame being optimized, the multi-pass scratch, the warp
  // fill, the blur scratch and long-term sum, the uploads of a frame (its content, a neighbour's or its own
  // previous-pass output, a pair of flows), and per temporal term a warped neighbour and its weights: one per
  // offset behind the frame, and with several chunks one per offset ahead of it (temporal_slots).
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
  static std::vector<Shape> buffer_shapes(int slots, int h, int w);
  // The temporal terms a frame may have: its neighbours behind (t − dir·j), and with several chunks those
  // ahead across a chunk border (t + dir·j).
  static int temporal_slots(const VideoOptions& o) { return int(o.temporal_offsets.size()) * (o.chunks > 1 ? 2 : 1); }
};

std::vector<Shape> VideoStylizer::Run::buffer_shapes(int slots, int h, int w) {
  const Shape img{1, 3, h, w}, plane{1, 1, h, w}, flow{1, 2, h, w};
  std::vector<Shape> shapes{img, img, Shape{1, 3, 1, 1}, plane, plane, img, img, flow, flow};
  for (int k = 0; k < slots; ++k) {
    shapes.push_back(img);
    shapes.push_back(plane);
  }
  return shapes;
}

VideoStylizer::Run::Run(VideoStylizer& s_, const VideoFrames& video, const std::vector<Image>& styles,
                        FlowProvider& flows_, const std::string& out_dir_, const VideoChunks& chunks_,
                        BorderFrames& borders_, const IterationReporter& on_iteration_)
    : s(s_), b(s_.backend_), o(s_.options_), frames(video.frames), flows(flows_), out_dir(out_dir_), chunks(chunks_),
      on_iteration(on_iteration_), borders(borders_), T(int(frames.size())), H(frames[0].h), W(frames[0].w), passes(o.passes),
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
      objective(s.net_, limit_style_passes(o.base.loss, H, W)),
      temporal(b, o.temporal_weight), cut_state(std::size_t(T), -1) {
  const auto& blend = o.base.style_blend_weights;
  for (std::size_t k = 0; k < style_x.size(); ++k) objective.add_style(style_x[k], blend.empty() ? 1.0f : blend[k]);
  const int slots = temporal_slots(o);
  std::vector<Tensor> buffers;
  for (const Shape& shape : buffer_shapes(slots, H, W)) buffers.push_back(b.empty(shape));
  Tensor* fixed[] = {&x, &diff, &fill, &blur_tmp, &c_sum, &content, &other, &fwd, &bwd};
  std::size_t k = 0;
  for (Tensor* t : fixed) *t = buffers[k++];
  for (int j = 0; j < slots; ++j) {
    warped.push_back(buffers[k++]);
    weights.push_back(buffers[k++]);
  }
}

void VideoStylizer::Run::read_output(int pass, int t, Tensor& into) {
  if (pass == kLeadIn) {
    const auto it = lead.find(t);
    IMPASTO_ASSERT(it != lead.end());
    s.upload_image(it->second, into);
    return;
  }
  s.upload_image(borders.read(pass, t), into);
}

int VideoStylizer::Run::source_pass(int pass, int t, int n) {
  if (n < 0 || n >= T || !same_scene(n, t)) return 0;
  const int pn = phase(pass, n), pt = phase(pass, t);
  const bool behind = (t - n) * pass_direction(pass) > 0, same = chunks.chunk_of(n) == chunks.chunk_of(t);
  if (pn < pt || (pn == pt && behind && same)) return pass;
  if (pass == 1 && behind && chunks.count() > 1 && o.lead_in() > 0) return kLeadIn;
  return pass - 1;  // 0 in pass 1
}

double VideoStylizer::Run::own_share(int pass, int t) const {
  if (phase(pass, t) == 0) return o.pass_blend;
  const int c = chunks.chunk_of(t), length = chunks.end(c) - chunks.begin(c);
  const int m = std::min(o.bridge, length - 1);
  const int k = pass_direction(pass) > 0 ? t - chunks.begin(c) : chunks.end(c) - 1 - t;
  return double(k + 1) / double(m + 1);
}

int VideoStylizer::Run::phase(int pass, int t) const {
  if (pass != passes || chunks.count() == 1) return 0;
  const int c = chunks.chunk_of(t), length = chunks.end(c) - chunks.begin(c);
  const int m = std::min(o.bridge, length - 1);  // one frame at least is computed before the bridge
  if (pass_direction(pass) > 0) return c > 0 && t < chunks.begin(c) + m ? 1 : 0;
  return c < chunks.count() - 1 && t >= chunks.end(c) - m ? 1 : 0;
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
    const int from = source_pass(pass, t, n);
    if (from == 0) break;
    warp_neighbour(from, n, t, warped[k], weights[k]);
    cs.push_back(weights[k]);
    ++used;
  }
  long_term_weights(b, cs, c_sum);  // in place: weights[k] = c_long(J[k])
  for (std::size_t k = 0; k < std::size_t(used); ++k) temporal.add(warped[k], weights[k]);
  // Ahead of t, with several chunks: the frames already computed in this pass (a bridge's far side) and, across
  // a chunk border, the other chunk's previous pass: the frames on both sides of a border are pulled towards
  // each other, as the frames within a chunk are through their neighbours behind them.
  if (chunks.count() > 1) {
    const std::size_t first = o.temporal_offsets.size();
    std::vector<Tensor> ahead;  // handles of weights[first..)
    for (std::size_t k = 0; k < o.temporal_offsets.size(); ++k) {
      const int n = t + dir * o.temporal_offsets[k];
      const int from = source_pass(pass, t, n);
      if (from == 0) break;
      if (from != pass && chunks.chunk_of(n) == chunks.chunk_of(t)) continue;  // not Ruder's: own chunk, last pass
      warp_neighbour(from, n, t, warped[first + ahead.size()], weights[first + ahead.size()]);
      ahead.push_back(weights[first + ahead.size()]);
    }
    long_term_weights(b, ahead, c_sum);
    for (std::size_t k = 0; k < ahead.size(); ++k) temporal.add(warped[first + k], weights[first + k]);
  }
  return used;
}

void VideoStylizer::Run::init_frame(int pass, int dir, int t, int used) {
  const int neighbour = t - dir, from = source_pass(pass, t, neighbour);
  const bool has_neighbour = from != 0;
  if (pass > 1) {
    // Multi-pass: own previous-pass result blended with the warped neighbour where it is reliable.
    // warped[0], weights[0]: the nearest neighbour warped and c(1) (= c_long(1) when temporal terms ran).
    if (has_neighbour && used == 0) warp_neighbour(from, neighbour, t, warped[0], weights[0]);
    read_output(pass - 1, t, other);  // after the warp, which uses `other` too
    if (has_neighbour)
      blend_pass(b, o.pass_blend_rule, own_share(pass, t), other, warped[0], weights[0], diff, blur_tmp, x);
    else
      b.copy(other, x);
    return;
  }
  FrameInit init = has_neighbour ? o.frame_init : o.first_frame_init;
  if (o.frame_init == FrameInit::noise) init = FrameInit::noise;
  switch (init) {
    case FrameInit::warped:
      if (used == 0) warp_neighbour(from, neighbour, t, warped[0], weights[0]);
      b.copy(warped[0], x);
      break;
    case FrameInit::prev:
      read_output(from, neighbour, x);
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
  // The temporal terms queue their values behind the objective's: one round trip per L-BFGS iteration.
  int temporal_first = 0;  // the first temporal value's index among those taken
  const ImageOptimizer::QueuedEvaluate f{[&](const Tensor& xx, Tensor& grad) {
                                           objective.queue(xx, grad);
                                           temporal_first = b.deferred_count();
                                           temporal.queue(xx, grad);
                                         },
                                         [&](const double* values) {
                                           LossTerms terms = objective.terms(values);
                                           terms.temporal = temporal.total(values + temporal_first);
                                           terms.total += terms.temporal;
                                           return terms;
                                         }};
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
    if (on_iteration && report_iterations) on_iteration(report, r);
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

void VideoStylizer::Run::frame(int pass, int dir, int t, FrameReport& report) {
  const auto frame_start = std::chrono::steady_clock::now();
  write_image(stylize(pass, dir, t, report), report.path, false);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - frame_start).count();
}

void VideoStylizer::Run::lead_in(int end) {
  const int reach = o.temporal_offsets.back();
  for (int t = lead.empty() ? 0 : lead.rbegin()->first + 1; t < end; ++t) {
    const auto start = std::chrono::steady_clock::now();
    FrameReport quiet;  // the lead-in writes no frame and reports no iteration
    report_iterations = false;
    if (t == 0 || is_cut(t)) {  // the clip's first frame, or a new scene's: as pass 1 makes it
      lead[t] = stylize(1, 1, t, quiet);  // computed even where pass 1's file exists: the same bits either way
    } else {
      flows.at_frame(t);
      s.upload_image(frames[std::size_t(t)], content);
      objective.set_content(content);
      temporal.clear();
      warp_neighbour(kLeadIn, t - 1, t, warped[0], weights[0]);
      if (o.temporal_weight > 0 && o.temporal_from_pass == 1) temporal.add(warped[0], weights[0]);
      b.copy(warped[0], x);
      optimize_frame(1, t, o.lead_in(), quiet, start);
      lead[t] = s.to_image(x);
    }
    report_iterations = true;
    while (!lead.empty() && lead.begin()->first <= t - reach) lead.erase(lead.begin());
  }
}

Image VideoStylizer::Run::stylize(int pass, int dir, int t, FrameReport& report) {
  const auto frame_start = std::chrono::steady_clock::now();
  flows.at_frame(t);
  // The objective's content target of this frame (the style targets and the plan are the run's).
  s.upload_image(frames[std::size_t(t)], content);
  objective.set_content(content);
  report.cut = is_cut(t);
  const int used = temporal_terms(pass, dir, t);
  init_frame(pass, dir, t, used);
  // The first frame's iterations where pass 1 starts without a neighbour: the clip's start and each chunk's.
  const bool starts = pass == 1 && source_pass(pass, t, t - dir) == 0;
  optimize_frame(pass, t, starts ? o.base.iterations : o.frame_iterations, report, frame_start);
  Image out = s.to_image(x);
  if (o.base.original_colors) out = preserve_colors(b, out, frames[std::size_t(t)], *o.base.original_colors);
  return out;
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
  for (std::size_t i = 0; i < fitted.size(); ++i)
    run.style_phase(fitted[i], {h, w}, int(i), false, optimizer, float_bytes(style_floats));
  std::int64_t buffers = 0;
  for (const Shape& s : Run::buffer_shapes(Run::temporal_slots(options), h, w)) buffers += s.numel();
  run.output_phase({h, w}, int(styles.size()), 0, float_bytes(buffers), optimizer,
                   float_bytes(style_floats + 3 * plane));
  return run.peak();
}

// ---- the run ------------------------------------------------------------------------------------------------------

namespace {

// The flicker pairs (t − 1, t) whose later frame t ≥ 1 is this rank's, as [t, error, reliable fraction, cut],
// from the final frames (`final_frame`: BorderFrames::read): the same numbers for resumed runs. A pair across a
// scene cut (the test the run made, on the same frames and flows) shows two scenes, not flicker: error 0.
nlohmann::json measure_own_flicker(Backend& b, FlowProvider& flows, const VideoOptions& o,
                                   const std::vector<Image>& frames, const VideoChunks& chunks, int rank, int ranks,
                                   const std::function<Image(int)>& final_frame) {
  nlohmann::json pairs = nlohmann::json::array();
  for (int c : chunks.chunks_of(rank, ranks)) {
    Image prev;
    for (int t = std::max(chunks.begin(c), 1); t < chunks.end(c); ++t) {
      if (prev.data.empty()) prev = final_frame(t - 1);
      Image cur = final_frame(t);
      double e = 0, frac = 0;
      const FlowField back = flows.get(t, t - 1);  // read once: the cut test and the warping error
      const bool cut = scene_cut(o, frames[std::size_t(t) - 1], frames[std::size_t(t)], back);
      if (!cut) e = warping_error(b, prev, cur, flows.get(t - 1, t), back, o.reliability_sigma, &frac);
      pairs.push_back({t, e, frac, cut});
      prev = std::move(cur);
    }
  }
  return pairs;
}

// Rank 0: every rank's flicker pairs, scene cuts and time split into result (the others' parts arrive through
// gather); the flicker is the mean over the pairs not across a cut.
void collect_ranks(const std::vector<std::string>& parts, VideoResult& result) {
  std::vector<std::pair<double, double>> per_pair(std::size_t(std::max(result.frames - 1, 0)), {0.0, 0.0});
  for (const std::string& part : parts) {
    const nlohmann::json j = nlohmann::json::parse(part);
    for (const auto& p : j["flicker"]) {
      per_pair[p[0].get<std::size_t>() - 1] = {p[1].get<double>(), p[2].get<double>()};
      if (p[3].get<bool>()) result.cuts.push_back(p[0].get<int>());
    }
    result.ranks.push_back({j["rank"].get<int>(), j["computed"].get<int>(), j["resumed"].get<int>(),
                            j["optimize"].get<double>(),
                            j["flow_wait"].get<double>(), j["exchange"].get<double>(), j["seconds"].get<double>()});
  }
  std::sort(result.cuts.begin(), result.cuts.end());
  double total = 0;
  for (const auto& [e, frac] : per_pair) {
    result.flicker_per_frame.push_back(e);
    result.reliable_fraction.push_back(frac);
    total += e;
  }
  const std::size_t counted = per_pair.size() - result.cuts.size();
  result.flicker = counted > 0 ? total / double(counted) : 0.0;
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
                               const std::string& out_dir, Comm& ranks, const VideoChunks& chunks,
                               BorderFrames& borders, const FrameReporter& on_frame,
                               const IterationReporter& on_iteration, VideoResult& result) {
  Run run(*this, video, styles, flows, out_dir, chunks, borders, on_iteration);
  const int T = run.T, passes = run.passes;
  const std::vector<int> mine = chunks.chunks_of(ranks.rank(), ranks.size());
  // Whether every frame of chunk c in pass 1 is on disk (a resumed run then needs no lead-in for it).
  const auto chunk_done = [&](int c) {
    for (int t = chunks.begin(c); t < chunks.end(c); ++t)
      if (!fs::exists(video_frame_path(out_dir, 1, passes, t))) return false;
    return true;
  };
  bool stopped = false;
  for (int pass = 1; pass <= passes && !stopped; ++pass) {
    const int dir = pass_direction(pass);
    borders.forget_before(pass - 1);
    const int phases = pass == passes && chunks.count() > 1 ? 2 : 1;  // the last pass's bridges come second
    for (int phase = 0; phase < phases && !stopped; ++phase) {
      for (int c : mine) {
        if (pass == 1 && c > 0 && options_.lead_in() > 0 && !chunk_done(c)) {
          int first = chunks.begin(c);  // the chunk's first frame of phase 0: where its chain starts
          while (run.phase(pass, first) != 0) ++first;
          run.lead_in(first);
        }
        for (int step = 0; step < chunks.end(c) - chunks.begin(c) && !stopped; ++step) {
          const int t = dir > 0 ? chunks.begin(c) + step : chunks.end(c) - 1 - step;
          if (run.phase(pass, t) != phase) continue;
          FrameReport report;
          report.pass = pass;
          report.passes = passes;
          report.frame = t;
          report.frames = T;
          report.path = video_frame_path(out_dir, pass, passes, t);
          if (fs::exists(report.path)) {  // finished by an earlier run with the same fingerprint
            report.resumed = true;
            ++result.resumed;
            borders.offer(pass, t);
            if (on_frame) on_frame(report);
            continue;
          }
          if (options_.stop_after > 0 && result.computed >= options_.stop_after) {
            stopped = true;
            break;
          }
          run.frame(pass, dir, t, report);
          borders.offer(pass, t);
          ++result.computed;
          result.optimize_seconds = run.optimize_seconds;
          result.flow_wait_seconds = run.flow_wait_seconds;
          if (on_frame) on_frame(report);
        }
      }
      if (options_.stop_after > 0) {  // every rank stops after the same phase: none waits for a frame never made
        const auto arrived = std::chrono::steady_clock::now();
        stopped = ranks.any(stopped);
        result.exchange_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - arrived).count();
      }
    }
  }
  result.stopped = stopped;
  return !stopped;
}

VideoResult VideoStylizer::run(const VideoFrames& video, const std::vector<Image>& styles,
                               const nlohmann::json& style_fingerprint, FlowProvider& flows,
                               const std::string& out_dir, bool force, const FrameReporter& on_frame,
                               const IterationReporter& on_iteration, Comm* ranks_given) {
  using Clock = std::chrono::steady_clock;
  const auto run_start = Clock::now();
  std::unique_ptr<Comm> single = ranks_given ? nullptr : make_single_comm();
  Comm& ranks = ranks_given ? *ranks_given : *single;
  const std::vector<Image>& frames = video.frames;
  IMPASTO_CHECK(!frames.empty(), "no frames to stylize");
  IMPASTO_CHECK(!styles.empty(), "no style image given");
  const auto& blend = options_.base.style_blend_weights;
  IMPASTO_CHECK(blend.empty() || blend.size() == styles.size(),
                blend.size() << " style blend weights for " << styles.size() << " styles");
  for (const Image& f : frames) check_same_size(frames[0], f, "frames");
  const int T = int(frames.size()), passes = options_.passes;
  nlohmann::json state;
  if (ranks.rank() == 0) state = start_state(video, style_fingerprint, out_dir, force);
  ranks.barrier();  // the folders exist and hold no stale temporaries before any rank writes

  VideoResult result;
  result.frames = T;
  const VideoChunks chunks(T, options_.chunks);
  for (int c = 0; c < chunks.count(); ++c) result.chunk_begin.push_back(chunks.begin(c));
  BorderFrames borders(ranks, chunks, options_.temporal_offsets.back(), out_dir, passes);
  if (!run_frames(video, styles, flows, out_dir, ranks, chunks, borders, on_frame, on_iteration, result)) {
    borders.settle();
    result.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
    return result;  // stopped (--stop-after)
  }
  // The run's buffers and optimizer are gone: the flicker measure's uploads fit in what they held.
  for (int t = 0; t < T; ++t) result.frame_paths.push_back(video_frame_path(out_dir, passes, passes, t));
  nlohmann::json flicker = measure_own_flicker(backend_, flows, options_, frames, chunks, ranks.rank(), ranks.size(),
                                               [&](int t) { return borders.read(passes, t); });
  borders.settle();
  result.exchange_seconds += borders.wait_seconds();
  nlohmann::json mine = {{"rank", ranks.rank()},
                         {"computed", result.computed},
                         {"resumed", result.resumed},
                         {"optimize", result.optimize_seconds},
                         {"flow_wait", result.flow_wait_seconds},
                         {"exchange", result.exchange_seconds},
                         {"flicker", std::move(flicker)}};
  mine["seconds"] = std::chrono::duration<double>(Clock::now() - run_start).count();
  const std::vector<std::string> parts = ranks.gather(mine.dump());  // also: every rank has written its frames
  if (ranks.rank() != 0) {
    result.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
    return result;
  }
  collect_ranks(parts, result);
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
