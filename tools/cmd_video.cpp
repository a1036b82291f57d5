// tools/cmd_video.cpp — `impasto video`: style transfer for videos with temporal losses (Ruder et al. 2016,
// "Artistic style transfer for videos"; 2018, multi-pass). Input a video file or a folder of frames; output
// OUT/frame_0001.png … and OUT/out.avi; resumable; prints and logs the flicker metric.
// The objective, optimizer, weights and device options are the ones `stylize` has (tools/options.hpp).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/error.hpp"
#include "engine/text.hpp"
#include "engine/video.hpp"
#include "engine/video_state.hpp"
#include "tools/commands.hpp"
#include "tools/log_file.hpp"
#include "tools/options.hpp"
#include "weights/weights.hpp"

namespace fs = std::filesystem;

namespace impasto::cli {
namespace {

struct VideoArgs {
  ObjectiveArgs obj;
  std::string input, out, log_path;
  int frame_iterations = 500, frames = 0, passes = 1, temporal_from_pass = 1, stop_after = 0, print_every = 0;
  int flow_ahead = 4, chunks = 0, bridge = 3, lead_in_iterations = -1;
  double temporal_weight = 200, pass_blend = 0.5, fps = 0;
  float reliability_blur = 0.8f, photometric_threshold = 30.0f;
  double cut_threshold = 0.3;
  std::string frame_init = "warped", first_frame_init = "content", warp_fill = "frame-mean", pass_blend_rule = "linear";
  std::string flow = "dis", flow_dir, temporal_offsets = "1";
  bool force = false, quiet = false, no_video = false;
  EmbedHooks* hooks = nullptr;  // an embedding's run (commands.hpp), else null
};

std::vector<int> parse_offsets(const std::string& s) {
  std::vector<int> out;
  for (const std::string& item : split_list(s)) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    IMPASTO_CHECK(end && *end == '\0' && v >= 1 && v <= 1000,
                  "--temporal-offsets: '" << item << "' is not a frame offset (e.g. 1,2,4)");
    out.push_back(int(v));
  }
  return out;
}

// --preset artistic-videos: manuelruder/artistic-videos' defaults for the options the user did not give (its
// objective comes from apply_preset). One pass: artistic_video.lua (frames at their own size; 2000 iterations
// for the first frame from randn·0.001, 1000 for each later one from the previous output warped, its padding the
// mean pixel; temporal weight 1e3; stop when the loss changes by less than 1e-4 between checkpoints 50
// iterations apart). --passes N > 1: artistic_video_multiPass.lua (100 iterations per frame and pass, every
// frame of pass 1 from randn·0.001, the temporal loss from pass 8 with weight 5e2, the normalized blend with
// blendWeight 1, no loss-change stop; its default is --passes 15). Its reliability is the flows' test alone
// (no photometric test, so no cut detection).
void apply_video_preset(const CLI::App* c, VideoArgs& a) {
  apply_preset(c, a.obj);
  if (a.obj.preset != "artistic-videos") return;
  auto set = [&](const char* name, auto& field, auto value) {
    if (!given(c, name)) field = value;
  };
  set("--size", a.obj.size, 0);
  set("--photometric-threshold", a.photometric_threshold, 0.0f);
  set("--first-frame-init", a.first_frame_init, std::string("noise"));
  set("--warp-fill", a.warp_fill, std::string("mean-pixel"));
  if (a.passes <= 1) {
    set("--iterations", a.obj.iterations, 2000);
    set("--frame-iterations", a.frame_iterations, 1000);
    set("--frame-init", a.frame_init, std::string("warped"));
    set("--temporal-weight", a.temporal_weight, 1e3);
    set("--tolerance", a.obj.tolerance, 1e-4);
    set("--tolerance-window", a.obj.tolerance_window, 50);
    set("--tolerance-rule", a.obj.tolerance_rule, std::string("checkpoints"));
  } else {
    set("--iterations", a.obj.iterations, 100);
    set("--frame-iterations", a.frame_iterations, 100);
    set("--frame-init", a.frame_init, std::string("noise"));
    set("--temporal-weight", a.temporal_weight, 5e2);
    set("--temporal-from-pass", a.temporal_from_pass, 8);
    set("--pass-blend", a.pass_blend, 0.5);
    set("--pass-blend-rule", a.pass_blend_rule, std::string("normalized"));
  }
}

VideoOptions make_video_options(const VideoArgs& a) {
  VideoOptions v;
  v.base = make_stylize_options(a.obj);
  v.frame_iterations = a.frame_iterations;
  v.temporal_weight = a.temporal_weight;
  v.temporal_offsets = parse_offsets(a.temporal_offsets);
  v.frame_init = parse_enum<FrameInit>(a.frame_init);
  v.first_frame_init = parse_enum<FrameInit>(a.first_frame_init);
  v.warp_fill = parse_enum<WarpFill>(a.warp_fill);
  v.pass_blend_rule = parse_enum<PassBlend>(a.pass_blend_rule);
  v.passes = a.passes;
  v.temporal_from_pass = a.temporal_from_pass;
  v.pass_blend = a.pass_blend;
  v.reliability_sigma = a.reliability_blur;
  v.photometric_threshold = a.photometric_threshold;
  v.cut_threshold = a.cut_threshold;
  v.flow_method = a.flow;
  v.flow_dir = a.flow_dir;
  v.stop_after = a.stop_after;
  v.write_video = !a.no_video;
  v.fps = a.fps;
  v.chunks = std::max(a.chunks, 1);  // 0 (auto) is resolved by resolve_chunks
  v.bridge = a.bridge;
  v.lead_in_iterations = a.lead_in_iterations;
  v.validate();
  return v;
}

// --chunks 0: the chunks of the run in --out when it is resumed (its frames depend on them, whatever the rank
// count now), else one per rank.
int resolve_chunks(const VideoArgs& a, int ranks) {
  if (a.chunks > 0) return a.chunks;
  const std::string state = (fs::path(a.out) / kVideoStateFile).string();
  if (a.force || !fs::exists(state)) return ranks;
  const nlohmann::json options = read_video_state(state).described["options"];
  return options.contains("chunks") ? options["chunks"].get<int>() : 1;
}

// "" with one rank, "[rank R/K] " with several: the prefix of every line a rank prints.
std::string rank_prefix(const Comm& r) {
  return r.size() > 1 ? "[rank " + std::to_string(r.rank()) + "/" + std::to_string(r.size()) + "] " : "";
}

// The per-frame log of this rank: --log (default OUT/impasto-video.log) for rank 0, with .rankR before the
// extension for the others (one writer per file: appends from several nodes to one file can interleave).
std::string rank_log_path(const VideoArgs& a, const Comm& r) {
  const fs::path base = a.log_path.empty() ? fs::path(a.out) / "impasto-video.log" : fs::path(a.log_path);
  if (r.rank() == 0) return base.string();
  fs::path p = base;
  p.replace_extension(".rank" + std::to_string(r.rank()) + base.extension().string());
  return p.string();
}

// The lines a run starts with: the clip, the flow, the weights, the device and the memory (rank 0), the ranks and
// chunks, and each rank's frames.
void print_video_start(const VideoArgs& a, const VideoOptions& options, const VideoFrames& video,
                       const VideoChunks& chunks, const Comm& ranks, const std::string& weights,
                       const std::string& device, const std::string& memory) {
  const int h = video.frames[0].h, w = video.frames[0].w;
  if (ranks.rank() == 0) {
    std::fprintf(stderr, "impasto: video %s -> %dx%d; flow: %s; weights: %s; device: %s\n", video.description.c_str(),
                 w, h, a.flow_dir.empty() ? a.flow.c_str() : ("files in " + a.flow_dir).c_str(), weights.c_str(),
                 device.c_str());
    std::fputs(memory.c_str(), stderr);
    if (ranks.size() > 1 || chunks.count() > 1)
      std::fprintf(stderr, "impasto: %d ranks (%s), the clip in %d chunks: parallel in time\n", ranks.size(),
                   ranks.kind().c_str(), chunks.count());
    if (chunks.count() > 1 && options.passes < 3)
      std::fprintf(stderr, "impasto: note: with %d pass%s the chunk borders have few passes to merge across "
                   "(vtest.avi, 1 pass: 1.8x the one-chunk flicker; 3 passes: 1.1x); --passes 3 or more\n",
                   options.passes, options.passes == 1 ? "" : "es");
  }
  if (ranks.size() > 1) {
    std::string mine;
    for (int c : chunks.chunks_of(ranks.rank(), ranks.size()))
      mine += (mine.empty() ? "" : ", ") + std::to_string(chunks.begin(c) + 1) + "-" + std::to_string(chunks.end(c));
    std::fprintf(stderr, "%sframes %s; device: %s\n", rank_prefix(ranks).c_str(), mine.empty() ? "none" : mine.c_str(),
                 device.c_str());
  }
}

// What a run prints and logs as it goes: a line per frame (and, with --print-every, per N iterations), prefixed
// by the rank when there are several; the frame's JSON line in this rank's log; each scene cut once.
struct FrameLines {
  FrameLines(const VideoArgs& args, const Comm& r, LogFile& l) : a(args), ranks(r), log(l), who(rank_prefix(r)) {}
  const VideoArgs& a;
  const Comm& ranks;
  LogFile& log;
  const std::string who;
  std::vector<int> cuts_printed;  // 0-based frames whose cut line was printed

  void iteration(const FrameReport& f, const IterationReport& r) const {
    if (a.quiet || a.print_every <= 0 || r.iteration % a.print_every != 0) return;
    std::fprintf(stderr, "%s  frame %d/%d pass %d iteration %d: loss %.6g (content %.4g, style %.4g, tv %.4g, temporal %.4g)\n",
                 who.c_str(), f.frame + 1, f.frames, f.pass, r.iteration, r.loss, r.content, r.style, r.tv, f.temporal);
  }
  void cut(int t) {
    if (std::find(cuts_printed.begin(), cuts_printed.end(), t) != cuts_printed.end()) return;
    cuts_printed.push_back(t);
    if (!a.quiet) std::fprintf(stderr, "impasto: scene cut at frame %d\n", t + 1);
  }
  void frame(const FrameReport& f) {
    if (f.cut) cut(f.frame);
    if (!a.quiet) {
      if (f.resumed)
        std::fprintf(stderr, "%sframe %d/%d pass %d/%d: done before, kept %s\n", who.c_str(), f.frame + 1, f.frames,
                     f.pass, f.passes, f.path.c_str());
      else
        std::fprintf(stderr, "%sframe %d/%d pass %d/%d: loss %.6g -> %.6g (temporal %.4g) in %d iterations, %.1fs -> %s\n",
                     who.c_str(), f.frame + 1, f.frames, f.pass, f.passes, f.loss_first, f.loss, f.temporal, f.iterations,
                     f.seconds, f.path.c_str());
    }
    if (f.resumed) return;
    nlohmann::json j = {{"pass", f.pass},       {"frame", f.frame + 1}, {"iterations", f.iterations},
                        {"loss_first", f.loss_first}, {"loss", f.loss},  {"content", f.content},
                        {"style", f.style},     {"tv", f.tv},           {"temporal", f.temporal},
                        {"seconds", f.seconds}, {"path", f.path}};
    if (ranks.size() > 1) j["rank"] = ranks.rank();
    if (f.cut) j["cut"] = true;
    log.line(j);
  }
};

// What identifies a style in the state file: a file's SHA-256, an embedding's in-memory image's pixels.
std::string style_fingerprint(const VideoArgs& a, const std::string& name, const Image& style) {
  if (!a.hooks || a.hooks->images.count(name) == 0) return sha256_file(name);
  const std::string bytes(reinterpret_cast<const char*>(style.data.data()), style.data.size() * sizeof(float));
  return "array " + std::to_string(style.w) + "x" + std::to_string(style.h) + " " + fnv1a_hex(bytes);
}

// What the build and --out must allow before any input is read.
void check_flow_and_out(const VideoArgs& a) {
  IMPASTO_CHECK(!a.flow_dir.empty() || have_opencv(), "this build has no OpenCV: give --flow-dir with .flo files");
  if (a.flow_dir.empty()) {
    const auto m = flow_methods();
    IMPASTO_CHECK(std::find(m.begin(), m.end(), a.flow) != m.end(), "--flow '" << a.flow << "' is not available in this build");
  }
  IMPASTO_CHECK(!fs::exists(a.out) || fs::is_directory(a.out), "--out '" << a.out << "' exists and is not a folder");
}

// Rank 0, at the end: the summary line of the log, the flicker line, and where each rank's time went.
void report_video_result(const VideoArgs& a, const VideoResult& r, LogFile& log) {
  int computed = 0, resumed = 0;  // over all ranks
  std::vector<int> cuts;          // 1-based, as the frame lines
  for (int t : r.cuts) cuts.push_back(t + 1);
  nlohmann::json times = nlohmann::json::array();
  for (const RankTime& t : r.ranks) {
    computed += t.computed;
    resumed += t.resumed;
    times.push_back({{"rank", t.rank}, {"computed", t.computed}, {"optimize_seconds", t.optimize_seconds},
                     {"flow_wait_seconds", t.flow_wait_seconds}, {"exchange_seconds", t.exchange_seconds},
                     {"seconds", t.seconds}});
  }
  nlohmann::json summary = {{"summary", true},          {"frames", r.frames},       {"computed", computed},
                            {"resumed", resumed},     {"flicker", r.flicker},     {"flicker_per_frame", r.flicker_per_frame},
                            {"reliable_fraction", r.reliable_fraction}, {"seconds", r.seconds}, {"video", r.video_path},
                            {"optimize_seconds", r.optimize_seconds}, {"flow_wait_seconds", r.flow_wait_seconds},
                            {"chunks", r.chunk_begin.size()}, {"cuts", cuts}};
  if (r.ranks.size() > 1) summary["ranks"] = times;
  log.line(summary);
  // The flicker line is printed even with --quiet (it is the run's result), but not in an embedding's quiet run.
  if (!(a.quiet && a.hooks)) std::fprintf(stderr, "impasto: %d frames in %s (%d computed, %d kept) in %.1fs; flicker %.6g (mean warping error over "
               "reliable pixels, 0..1 scale)%s%s\n",
               r.frames, a.out.c_str(), computed, resumed, r.seconds, r.flicker,
               r.video_path.empty() ? "" : "; video ", r.video_path.c_str());
  if (a.quiet) return;
  if (r.ranks.size() <= 1) {
    std::fprintf(stderr, "impasto: time: optimizing %.1fs, waiting for flows %.1fs, the rest %.1fs\n", r.optimize_seconds,
                 r.flow_wait_seconds, std::max(0.0, r.seconds - r.optimize_seconds - r.flow_wait_seconds));
    return;
  }
  for (const RankTime& t : r.ranks)
    std::fprintf(stderr, "impasto: time: rank %d: %d frames, optimizing %.1fs, waiting for flows %.1fs, for other ranks "
                 "%.1fs, the rest %.1fs\n", t.rank, t.computed, t.optimize_seconds, t.flow_wait_seconds,
                 t.exchange_seconds,
                 std::max(0.0, t.seconds - t.optimize_seconds - t.flow_wait_seconds - t.exchange_seconds));
}

void run_video(VideoArgs& a) {
  Comm& ranks = cli::ranks();
  const bool root = ranks.rank() == 0;
  VideoOptions options = make_video_options(a);
  options.chunks = resolve_chunks(a, ranks.size());
  check_flow_and_out(a);

  // Inputs first: a bad file fails before any heavy work.
  std::vector<Image> styles;
  nlohmann::json style_fp = nlohmann::json::array();
  for (const auto& s : a.obj.styles) {
    styles.push_back(load_image(a.hooks, s, 3));
    style_fp.push_back({fs::path(s).filename().string(), style_fingerprint(a, s, styles.back())});
  }
  const VideoFrames video = load_frames(a.input, a.obj.size, a.frames, options.base.resample);
  const int h = video.frames[0].h, w = video.frames[0].w;
  std::unique_ptr<Backend> backend = make_backend(a.obj);
  const VggWeights weights = load_weights_spec(a.obj.weights, layers_needed(options.base.loss));
  VideoStylizer stylizer(*backend, weights, options);
  // Before any file is written: the run must fit the device (one line naming what would fit when it does not).
  std::vector<ImageSize> style_sizes;
  for (const Image& s : styles) style_sizes.push_back({s.h, s.w});
  const NeedFn need = [&](int s, int history) {
    VideoOptions o = options;
    o.base.use_adam = history == 0;
    if (history > 0) o.base.lbfgs.history = history;
    const ImageSize frame = resampled_size(h, w, s, options.base.resample);
    return stylizer.memory_needed(o, frame.h, frame.w, style_sizes);
  };
  const std::string memory =
      check_memory_fits(*backend, a.obj, need, std::max(h, w), "a " + std::to_string(w) + "x" + std::to_string(h) + " video")
          .lines;
  const VideoChunks chunks(int(video.frames.size()), options.chunks);
  if (a.obj.dry_run) {
    // The options as resolved (preset and defaults included): what the run's state file would record.
    if (root)
      std::fprintf(stderr, "impasto: video %s -> %dx%d, %zu frames; weights: %s; device: %s\n%simpasto: options: %s\n"
                   "impasto: dry run: it fits; nothing written\n", video.description.c_str(), w, h, video.frames.size(),
                   weights.description.c_str(), backend->name().c_str(), memory.c_str(), options.describe().dump().c_str());
    return;
  }
  // The flows this rank's chunks need (each rank computes its own: they depend on the input frames only).
  const auto pairs = VideoStylizer::needed_pairs(int(video.frames.size()), options.temporal_offsets, chunks,
                                                 options.bridge, ranks.rank(), ranks.size());
  std::unique_ptr<FlowProvider> flows;
  if (!a.flow_dir.empty()) flows = make_flow_dir_provider(a.flow_dir, w, h, pairs);  // reads every file it needs
  // Every rank has checked its inputs: one that failed has ended the job (MPI_Abort) before anything is written.
  ranks.barrier();
  fs::create_directories(a.out);
  if (a.flow_dir.empty()) {
    // Cached per input, size and method: valid across option changes that keep those.
    const std::string key = nlohmann::json{{"input", video.fingerprint}, {"size", {w, h}}, {"method", a.flow}}.dump();
    const std::string dir = "flow-" + a.flow + "-" + fnv1a_hex(key, 8);
    flows = make_computed_flow_provider(video.frames, a.flow, (fs::path(a.out) / dir).string(), pairs, a.flow_ahead);
  }

  if (!a.quiet) print_video_start(a, options, video, chunks, ranks, weights.description, backend->name(), memory);
  LogFile log(rank_log_path(a, ranks), "a");
  FrameLines lines(a, ranks, log);
  const auto on_frame = [&](const FrameReport& f) {
    lines.frame(f);
    if (a.hooks && a.hooks->on_final_frame && f.pass == f.passes) a.hooks->on_final_frame(f.frame, f.path);
  };
  const auto on_iteration = [&](const FrameReport& f, const IterationReport& r) {
    lines.iteration(f, r);
    if (a.hooks && a.hooks->on_frame_iteration) a.hooks->on_frame_iteration(f.frame, f.pass, r);
  };
  if (a.hooks) a.hooks->started = true;
  const VideoResult r =
      stylizer.run(video, styles, style_fp, *flows, a.out, a.force, on_frame, on_iteration, &ranks);
  if (r.stopped) {
    if (!a.quiet)
      std::fprintf(stderr, "%simpasto: stopped after %d new frames (--stop-after); rerun to resume\n", lines.who.c_str(),
                   r.computed);
    log.line({{"stopped", true}, {"computed", r.computed}});
    return;
  }
  if (!root) return;
  for (int t : r.cuts) lines.cut(t);  // those in frames kept from an earlier run
  report_video_result(a, r, log);
}

}  // namespace

void add_video_command(CLI::App& app, EmbedHooks* hooks) {
  auto a = std::make_shared<VideoArgs>();
  a->hooks = hooks;
  CLI::App* c = app.add_subcommand("video", "Stylize a video with temporal consistency (Ruder et al. 2016/2018)");
  c->add_option("--input", a->input, "Video file (needs OpenCV) or folder of frames (sorted by name)")->required();
  c->add_option("--out", a->out, "Output folder: frame_0001.png ..., out.avi, impasto-video.json")->required();
  add_objective_options(c, a->obj, Command::video);
  c->add_option("--size", a->obj.size, "Longer side of the frames in pixels (0: the input's)")
      ->check(CLI::Range(0, kMaxSide))->capture_default_str();
  c->add_option("--frames", a->frames, "Use only the first N frames (0: all)")->check(CLI::Range(0, kMaxCount))
      ->capture_default_str();
  c->add_option("--iterations", a->obj.iterations, "Iterations of the first frame")
      ->check(CLI::Range(0, kMaxIterations))->capture_default_str();
  c->add_option("--frame-iterations", a->frame_iterations, "Iterations of every later frame (and of passes >= 2)")
      ->check(CLI::Range(0, kMaxIterations))->capture_default_str();
  c->add_option("--temporal-weight", a->temporal_weight, "Temporal weight γ (0: no temporal loss)")->capture_default_str();
  c->add_option("--temporal-offsets", a->temporal_offsets, "Frame offsets J of the temporal loss: 1 (short-term) or e.g. 1,2,4 (long-term)")
      ->capture_default_str();
  c->add_option("--frame-init", a->frame_init, choices(enum_names<FrameInit>()))
      ->check(CLI::IsMember(enum_names<FrameInit>()))->capture_default_str();
  c->add_option("--first-frame-init", a->first_frame_init, "How the first frame starts: content | noise (--noise)")
      ->check(CLI::IsMember({"content", "noise"}))->capture_default_str();
  c->add_option("--warp-fill", a->warp_fill,
                "What warping gives pixels from outside the frame: " + choices(enum_names<WarpFill>()) +
                    " (frame-mean: the warped frame's mean color; mean-pixel: the network's mean pixel)")
      ->check(CLI::IsMember(enum_names<WarpFill>()))->capture_default_str();
  c->add_option("--passes", a->passes, "Multi-pass: number of alternating passes (Ruder et al. 2018)")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  c->add_option("--temporal-from-pass", a->temporal_from_pass, "Temporal loss in passes >= K")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  c->add_option("--pass-blend", a->pass_blend, "Multi-pass δ: own share of a frame's init where the neighbour is reliable")
      ->capture_default_str();
  c->add_option("--pass-blend-rule", a->pass_blend_rule,
                "linear: own + (1-δ)·c·(warped - own) | normalized: (δ·own + (1-δ)·c·warped) / (δ + (1-δ)·c), as "
                "artistic-videos")
      ->check(CLI::IsMember(enum_names<PassBlend>()))->capture_default_str();
  c->add_option("--flow", a->flow, "Optical flow: dis | dis-fast | dis-ultrafast | farneback | deepflow (OpenCV)")
      ->capture_default_str();
  c->add_option("--flow-dir", a->flow_dir, "Read flows from .flo files: forward_I_J.flo, backward_J_I.flo (1-based)");
  c->add_option("--flow-ahead", a->flow_ahead, "Frames the flow thread may run ahead")->check(CLI::Range(1, 1000))
      ->capture_default_str();
  c->add_option("--reliability-blur", a->reliability_blur, "σ of the blur of the consistency map")->capture_default_str();
  c->add_option("--photometric-threshold", a->photometric_threshold,
                "A pixel whose colour differs from the neighbour's input frame warped to it by more than this RGB "
                "distance (0..255) is unreliable: cuts, flashes, fades (0: off, and no cut detection)")
      ->check(CLI::Range(0.0, 1000.0))->capture_default_str();
  c->add_option("--cut-threshold", a->cut_threshold,
                "A frame where more than this fraction of the pixels fail the photometric test against the previous "
                "frame is a scene cut: it starts afresh like the first frame (0: no cut detection)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  c->add_option("--fps", a->fps, "Frame rate of out.avi (0: the input's, else 24)")->check(CLI::Range(0.0, 1000.0));
  c->add_flag("--no-video", a->no_video, "Do not encode out.avi");
  c->add_option("--chunks", a->chunks,
                "Parallel in time: the clip in N contiguous chunks run side by side by the ranks of `mpirun -np K` "
                "(0: the resumed run's, else one per rank; 1: the sequential schedule)")
      ->check(CLI::Range(0, kMaxCount))->capture_default_str();
  c->add_option("--bridge", a->bridge,
                "With several chunks: the frames after each chunk border that the last pass computes last, tied to "
                "both sides (the seam spread over them)")
      ->check(CLI::Range(0, kMaxCount))->capture_default_str();
  c->add_option("--lead-in-iterations", a->lead_in_iterations,
                "With several chunks: iterations per frame of the cheap sequential chain that starts each chunk from the "
                "first frame's pattern (-1: a tenth of --frame-iterations; 0: none, chunks start from their content)")
      ->check(CLI::Range(-1, kMaxIterations))->capture_default_str();
  c->add_option("--stop-after", a->stop_after, "Stop after computing N frames (rerun to resume)")
      ->check(CLI::Range(0, kMaxCount));
  c->add_option("--print-every", a->print_every, "Print the losses every N iterations of each frame")
      ->check(CLI::Range(0, kMaxIterations));
  c->add_option("--log", a->log_path, "JSON lines (one per frame, then a summary with `flicker`); default OUT/impasto-video.log");
  c->add_flag("--force", a->force, "Start over in an --out folder that holds another run");
  c->add_flag("--quiet", a->quiet, "Only errors and the final flicker line");
  c->callback([a, c] {
    apply_video_preset(c, *a);
    run_video(*a);
  });
}

}  // namespace impasto::cli
