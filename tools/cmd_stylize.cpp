// tools/cmd_stylize.cpp — `impasto stylize` (one image) and `impasto texture` (texture synthesis): options,
// presets, output checks before any work, progress, JSON-lines log, snapshots, atomic output. Also masked
// styles (--style-mask), region pairs and the photorealism term (Luan et al. 2017: --content-mask,
// --content-seg, --photo-weight, --preset photo), the resolution pyramid (--pyramid), luminance-only transfer,
// --style-stretch and --time-limit. The runs go through a WarmEngine: its own for one command, the batch's for
// each job of `impasto batch` (tools/cmd_batch.cpp), which parses its jobs with these very options.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "engine/error.hpp"
#include "engine/files.hpp"
#include "engine/photo.hpp"
#include "engine/resample.hpp"
#include "engine/text.hpp"
#include "engine/stylize.hpp"
#include "tools/commands.hpp"
#include "tools/log_file.hpp"
#include "tools/options.hpp"
#include "tools/warm_engine.hpp"

namespace fs = std::filesystem;

namespace impasto::cli {
namespace {

// The arguments of `stylize` and `texture`: the shared objective options plus this command's own.
struct Args {
  ObjectiveArgs obj;
  std::string content, out, log_path;
  std::vector<std::string> masks;
  std::vector<std::string> content_masks, style_region_masks;  // region pairs, i-th with i-th
  std::string content_seg, style_seg;                          // region pairs from colour-coded segmentations
  bool photo = false;                                          // --photo: --preset photo
  std::vector<int> pyramid_iterations;
  int pyramid = 1, print_every = 0, save_every = 0;
  double time_limit = 0;
  bool force = false, quiet = false, luminance_only = false, style_stretch = false;
  EmbedHooks* hooks = nullptr;  // an embedding's run (commands.hpp), else null
};

// This command's own options (the shared ones come from add_objective_options).
void add_command_options(CLI::App* c, Args& a, bool with_content) {
  add_objective_options(c, a.obj, with_content ? Command::stylize : Command::texture);
  c->add_option("--out", a.out, "Output image (.png or .jpg)")->required(a.hooks == nullptr);
  c->add_option("--iterations", a.obj.iterations, "Optimizer iterations (per pyramid level)")
      ->check(CLI::Range(0, kMaxIterations))->capture_default_str();
  c->add_option("--pyramid", a.pyramid, "Coarse-to-fine levels, each twice the size of the one before (1: single scale)")
      ->check(CLI::Range(1, 12))->capture_default_str();
  c->add_option("--pyramid-iterations", a.pyramid_iterations, "Iterations per level, coarsest first, e.g. 200,100,50")
      ->delimiter(',')->check(CLI::Range(0, kMaxIterations));
  c->add_option("--time-limit", a.time_limit, "Stop after this many seconds (0: no limit)")
      ->check(CLI::Range(0.0, 1e9));
  c->add_option("--print-every", a.print_every, "Print the losses every N iterations (0: only first and last)")
      ->check(CLI::Range(0, kMaxIterations));
  c->add_option("--save-every", a.save_every, "Write OUT_NNNN.png every N iterations")
      ->check(CLI::Range(0, kMaxIterations));
  c->add_option("--log", a.log_path, "Write one JSON line per iteration to this file");
  c->add_flag("--force", a.force, "Overwrite existing output files");
  c->add_flag("--quiet", a.quiet, "Only errors");
}

// The output must be writable and new (unless --force) before minutes of work start.
void check_output_path(const std::string& path, bool force, const char* what) {
  const std::string ext = lower_extension(path);
  IMPASTO_CHECK(ext == ".png" || ext == ".jpg" || ext == ".jpeg",
                what << " '" << path << "': unsupported extension (use .png or .jpg)");
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(path, ec);  // a dangling link exists too
  IMPASTO_CHECK(!fs::is_directory(st), what << " '" << path << "' is a folder");
  IMPASTO_CHECK(force || !fs::exists(st), what << " '" << path << "' exists (use --force to overwrite)");
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  IMPASTO_CHECK(fs::is_directory(dir), what << " '" << path << "': folder '" << dir.string() << "' does not exist");
  IMPASTO_CHECK(::access(dir.c_str(), W_OK) == 0, what << " '" << path << "': folder '" << dir.string() << "' is not writable");
}

std::string snapshot_path(const std::string& out, int iteration) {
  fs::path p(out);
  char num[32];
  std::snprintf(num, sizeof num, "_%04d", iteration);
  return (p.parent_path() / (p.stem().string() + num + p.extension().string())).string();
}

// --save-every's snapshots are impasto's own files: OUT.impasto-snapshots.json lists those a run of this --out
// planned, so that the next run (after a crash, say) may overwrite them without --force, while a file of the same
// name that no run listed is still refused.
std::string snapshot_manifest(const std::string& out) { return out + ".impasto-snapshots.json"; }

std::vector<std::string> listed_snapshots(const std::string& out) {
  const std::string path = snapshot_manifest(out);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return {};
  nlohmann::json j;
  try {
    j = read_json_file(path, "snapshot list", 16u << 20);
  } catch (const Error&) {
    return {};  // not a list impasto wrote: no snapshot counts as its own
  }
  std::vector<std::string> names;
  if (j.is_object() && j.contains("snapshots") && j["snapshots"].is_array())
    for (const auto& n : j["snapshots"])
      if (n.is_string()) names.push_back(n.get<std::string>());
  return names;
}

// Checks every snapshot path up front; returns the manifest's list (empty: no snapshots), which the run writes
// before it writes any snapshot.
std::vector<std::string> plan_snapshots(const Args& a, int total) {
  if (a.save_every <= 0 || a.save_every >= total) return {};
  IMPASTO_CHECK(!a.out.empty(), "--save-every needs --out (its snapshots are named after it)");
  const long long count = (static_cast<long long>(total) - 1) / a.save_every;
  IMPASTO_CHECK(count <= 100000, "--save-every " << a.save_every << " would write " << count << " snapshots (at most 100000)");
  std::vector<std::string> listed = listed_snapshots(a.out);
  for (long long i = a.save_every; i < total; i += a.save_every) {
    const std::string p = snapshot_path(a.out, int(i));
    const std::string name = fs::path(p).filename().string();
    const bool ours = std::find(listed.begin(), listed.end(), name) != listed.end();
    check_output_path(p, a.force || ours, "snapshot");
    if (!ours) listed.push_back(name);
  }
  return listed;
}

StylizeOptions make_options(const Args& a) {
  StylizeOptions o = make_stylize_options(a.obj);
  o.pyramid_levels = a.pyramid;
  o.level_iterations = a.pyramid_iterations;
  o.time_limit = a.time_limit;
  o.luminance_only = a.luminance_only;
  if (a.style_stretch) o.style_fit = StyleFit::stretch;
  return o;
}

std::string photo_text(double photo) {
  char buf[48];
  std::snprintf(buf, sizeof buf, ", photo %.4g", photo);
  return buf;
}

// Progress on stderr: a bar that redraws in place on a terminal, plain lines every --print-every otherwise.
class Progress {
 public:
  Progress(int total, int print_every, bool quiet)  // total: iterations of all levels
      : total_(total), print_every_(print_every), quiet_(quiet), tty_(::isatty(2) != 0) {}
  void update(const IterationReport& r) {
    if (quiet_) return;
    const bool line = r.iteration == 0 || r.iteration == total_ || (print_every_ > 0 && r.iteration % print_every_ == 0);
    if (tty_) {
      const int width = 30, filled = total_ > 0 ? int(double(width) * r.iteration / total_) : width;
      std::fprintf(stderr, "\r[%-*s] %d/%d loss %.4g (%.1fs)%s", width, std::string(std::size_t(filled), '#').c_str(),
                   r.iteration, total_, r.loss, r.seconds, line && r.iteration > 0 ? "\n" : "");
    } else if (line) {
      std::fprintf(stderr, "iteration %d/%d: loss %.6g (content %.4g, style %.4g, tv %.4g%s) %.1fs\n", r.iteration,
                   total_, r.loss, r.content, r.style, r.tv, r.photo != 0 ? photo_text(r.photo).c_str() : "", r.seconds);
    }
  }
  void done() {
    if (tty_ && !quiet_) std::fprintf(stderr, "\n");
  }

 private:
  int total_, print_every_;
  bool quiet_, tty_;
};

// The region pairs of --content-mask/--style-region-mask or --content-seg/--style-seg, read and checked
// against the content's and the style's sizes (before any work).
std::vector<RegionPair> read_regions(const Args& a, const Image& content, const std::vector<Image>& styles) {
  const bool by_mask = !a.content_masks.empty() || !a.style_region_masks.empty();
  const bool by_seg = !a.content_seg.empty() || !a.style_seg.empty();
  if (!by_mask && !by_seg) return {};
  IMPASTO_CHECK(!(by_mask && by_seg), "give region pairs either as masks (--content-mask, --style-region-mask) or as "
                                      "segmentations (--content-seg, --style-seg), not both");
  IMPASTO_CHECK(styles.size() == 1, "region pairs take one --style image, got " << styles.size());
  IMPASTO_CHECK(a.masks.empty(), "region pairs and --style-mask do not go together (the regions are the masks)");
  std::vector<RegionPair> regions;
  if (by_seg) {
    IMPASTO_CHECK(!a.content_seg.empty() && !a.style_seg.empty(), "--content-seg and --style-seg go together");
    const Image cs = read_image(a.content_seg), ss = read_image(a.style_seg);
    IMPASTO_CHECK(cs.h == content.h && cs.w == content.w, "--content-seg '" << a.content_seg << "' is " << cs.w << "x"
                                                          << cs.h << ", the content " << content.w << "x" << content.h);
    IMPASTO_CHECK(ss.h == styles[0].h && ss.w == styles[0].w, "--style-seg '" << a.style_seg << "' is " << ss.w << "x"
                                                              << ss.h << ", the style " << styles[0].w << "x" << styles[0].h);
    regions = regions_from_segmentations(cs, ss);
  } else {
    IMPASTO_CHECK(a.content_masks.size() == a.style_region_masks.size(),
                  "--content-mask: " << a.content_masks.size() << " masks for " << a.style_region_masks.size()
                                     << " --style-region-mask (give one pair per region)");
    for (std::size_t i = 0; i < a.content_masks.size(); ++i)
      regions.push_back({"region " + std::to_string(i + 1) + " ('" + a.content_masks[i] + "', '" +
                             a.style_region_masks[i] + "')",
                         read_image(a.content_masks[i], 1), read_image(a.style_region_masks[i], 1)});
  }
  check_regions(regions, {content.h, content.w}, {styles[0].h, styles[0].w});
  return regions;
}

// Every input of a run, read and checked before any heavy work, so that a bad file fails at once.
struct Inputs {
  Image content;  // empty for a texture
  std::vector<Image> styles, masks;
  std::vector<RegionPair> regions;
};
Inputs read_inputs(const Args& a, bool texture) {
  IMPASTO_CHECK(a.masks.empty() || a.masks.size() == a.obj.styles.size(),
                "--style-mask: " << a.masks.size() << " masks for " << a.obj.styles.size() << " styles (give one per style)");
  Inputs in;
  if (!texture) in.content = load_image(a.hooks, a.content, 3);
  for (const auto& s : a.obj.styles) in.styles.push_back(load_image(a.hooks, s, 3));
  for (const auto& m : a.masks) {
    in.masks.push_back(load_image(a.hooks, m, 1));
    const auto& d = in.masks.back().data;
    IMPASTO_CHECK(*std::max_element(d.begin(), d.end()) >= 0.5f,
                  "--style-mask '" << m << "': the mask is empty (all black), its style would apply nowhere");
  }
  if (!texture) in.regions = read_regions(a, in.content, in.styles);
  return in;
}

// Seconds since this process started (Linux: from /proc, so that loading the shared libraries counts); 0 where
// that cannot be read.
double process_age_seconds() {
  std::ifstream stat("/proc/self/stat"), uptime("/proc/uptime");
  std::string line;
  double up = 0;
  if (!std::getline(stat, line) || !(uptime >> up)) return 0;
  // Field 22 is the start time in clock ticks after boot; field 2 (the name) may hold spaces, so count from ')'.
  const std::size_t name_end = line.rfind(')');
  if (name_end == std::string::npos) return 0;
  std::istringstream fields(line.substr(name_end + 1));
  std::string field;
  int read = 0;  // fields 3, 4, ... 22
  while (read < 20 && fields >> field) ++read;
  char* end = nullptr;
  const double start_ticks = std::strtod(field.c_str(), &end);
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (read < 20 || end == field.c_str() || ticks <= 0) return 0;
  const double age = up - start_ticks / double(ticks);
  return age > 0 ? age : 0;
}

// Where a run's wall time goes, from the process's start (a run of the Python package: from the command's
// start) to its image written: "impasto: time: ..." on stderr and "timing" in the log's final line. The
// end-to-end number of perf/gpu_check.sh.
class RunClock {
 public:
  explicit RunClock(bool from_process_start)
      : start_(std::chrono::steady_clock::now() -
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(from_process_start ? process_age_seconds() : 0))),
        last_(start_),
        origin_(from_process_start ? "the process's start" : "the command's start") {
    mark("start-up");  // the process's start to the command's (libraries, MPI, the command line)
  }
  // The time since the last mark was `phase`'s.
  void mark(const char* phase) {
    const auto now = std::chrono::steady_clock::now();
    phases_.emplace_back(phase, std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }
  // A mark split in parts measured inside it (the run's set-up and optimization); the rest is `rest`'s.
  void mark_parts(const std::vector<std::pair<const char*, double>>& parts, const char* rest) {
    const auto now = std::chrono::steady_clock::now();
    double left = std::chrono::duration<double>(now - last_).count();
    for (const auto& p : parts) {
      phases_.push_back(p);
      left -= p.second;
    }
    phases_.emplace_back(rest, std::max(0.0, left));
    last_ = now;
  }
  double total() const { return std::chrono::duration<double>(last_ - start_).count(); }
  const std::vector<std::pair<const char*, double>>& phases() const { return phases_; }
  // "2.93 s from the process's start: start-up 0.41, inputs 0.03, ..."
  std::string str() const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f s from ", total());
    std::string line = buf + origin_ + ":";
    for (std::size_t i = 0; i < phases_.size(); ++i) {
      std::snprintf(buf, sizeof buf, "%s %s %.2f", i == 0 ? "" : ",", phases_[i].first, phases_[i].second);
      line += buf;
    }
    return line;
  }

 private:
  std::chrono::steady_clock::time_point start_, last_;
  std::string origin_;
  std::vector<std::pair<const char*, double>> phases_;
};

void report_result(const Args& a, const StylizeResult& result, bool texture, const nlohmann::json& facts,
                   LogFile* log);

// impasto.Objective (EmbedHooks::objective_only): the targets Stylizer::run sets for a one-level run, at the output
// size. python/tests checks that its loss at the start is the run's iteration-0 loss, so the two cannot part.
void make_objective(EmbedHooks& hooks, const WarmEngine::Network& network, Stylizer& stylizer,
                    const StylizeOptions& options, const Image& content, const std::vector<Image>& styles,
                    const std::vector<Image>& masks, const std::vector<RegionPair>& regions) {
  IMPASTO_CHECK(options.pyramid_levels == 1 && options.photo_iterations == 0 && regions.empty() &&
                    !options.luminance_only,
                "an Objective is one level: no --pyramid, --photo-iterations, region pairs or --luminance-only");
  const Image sized = options.size > 0 ? resize_longer_side(content, options.size, options.resample) : content;
  Backend& backend = network.net.backend();
  const bool bgr = network.weights.bgr_input;
  auto upload = [&](const Image& rgb) {
    return backend.from_host(preprocess(rgb, bgr, float(options.pixel_scale)), Shape{1, 3, rgb.h, rgb.w});
  };
  auto objective = std::make_unique<StyleObjective>(network.net, limit_style_passes(options.loss, sized.h, sized.w));
  const auto& blend = options.style_blend_weights;
  IMPASTO_CHECK(blend.empty() || blend.size() == styles.size(),
                blend.size() << " style blend weights for " << styles.size() << " styles");
  for (std::size_t i = 0; i < styles.size(); ++i)
    objective->add_style(upload(stylizer.fit_style(styles[i], sized.h, sized.w)), blend.empty() ? 1.0f : blend[i],
                         masks.empty() ? nullptr : &masks[i]);
  objective->set_content(upload(sized));
  objective->set_photo_guide(sized, options.pixel_scale);
  hooks.start = upload(sized);
  hooks.objective = std::move(objective);
  hooks.backend = &backend;
  hooks.bgr_input = bgr;
  hooks.pixel_scale = options.pixel_scale;
}

// The memory check of a run (tools/options.hpp check_memory_fits); it may shorten options.lbfgs.history to the
// longest that fits.
struct RunMemoryFit {
  std::string what;  // the request, "a 1024x768 stylization"
  MemoryFit fit;     // the lines to print and the need (the estimate of the run's peak, weights included)
};
RunMemoryFit fit_memory(const Args& a, bool texture, const WarmEngine::Network& network, const Inputs& in,
                     StylizeOptions& options) {
  Stylizer sizing(network.net, network.weights.bgr_input, options);
  RunImages sizes;
  if (!texture) sizes.content = {in.content.h, in.content.w};
  for (const Image& s : in.styles) sizes.styles.push_back({s.h, s.w});
  sizes.masks = int(in.masks.size());
  sizes.regions = int(in.regions.size());
  const int size = texture || a.obj.size > 0 ? a.obj.size : std::max(in.content.h, in.content.w);
  const NeedFn need = [&](int s, int history) {
    StylizeOptions o = options;
    o.size = s;
    o.use_adam = history == 0;
    if (history > 0) o.lbfgs.history = history;
    return sizing.memory_needed(o, sizes);
  };
  std::ostringstream what;
  if (texture) {
    what << "a " << size << "x" << size << " texture";
  } else {
    const ImageSize out = Stylizer::content_size(options, in.content.h, in.content.w);
    what << "a " << out.w << "x" << out.h << " stylization";
  }
  RunMemoryFit run{what.str(), {}};
  run.fit = check_memory_fits(network.net.backend(), a.obj, need, size, run.what, &options.lbfgs.history);
  if (!texture) {  // a style too large for one pass through the network at the output's size
    const ImageSize out = Stylizer::content_size(options, in.content.h, in.content.w);
    for (std::size_t i = 0; i < in.styles.size(); ++i) {
      const ImageSize st = Stylizer::style_size(options, {in.styles[i].h, in.styles[i].w}, out.h, out.w);
      const std::vector<int> passes =
          StyleObjective::style_pass_rows(limit_style_passes(options.loss, out.h, out.w), st.h, st.w);
      if (passes.size() > 1)
        run.fit.lines += "impasto: memory: style " + std::to_string(i + 1) + " (" + std::to_string(st.w) + "x" +
                         std::to_string(st.h) + ") goes through VGG-19 in " + std::to_string(passes.size()) +
                         " strips of up to " + std::to_string(*std::max_element(passes.begin(), passes.end())) +
                         " rows (a pass covers at most 1.5x the output's pixels and 2^31 values per feature map)\n";
    }
  }
  return run;
}

// from_process_start: the run is the process's only one (not a batch job nor a run of the Python package), so
// its time counts from the process's start.
void run_command(Args& a, CLI::App* c, bool texture, WarmEngine& engine, bool from_process_start) {
  RunClock clock(from_process_start);
  if (a.photo) {
    IMPASTO_CHECK(!given(c, "--preset") || a.obj.preset == "photo", "--photo is --preset photo: give one preset");
    a.obj.preset = "photo";
  }
  apply_preset(c, a.obj);
  if (!a.hooks || !a.out.empty()) check_output_path(a.out, a.force, "output");
  StylizeOptions options = make_options(a);
  if (texture) options.loss.content_layers.clear();
  options.validate();
  const int total = options.total_iterations();  // all pyramid levels
  const std::vector<std::string> snapshots = plan_snapshots(a, total);
  const Inputs in = read_inputs(a, texture);
  const Image& content = in.content;
  const std::vector<Image>& styles = in.styles;
  const std::vector<Image>& masks = in.masks;
  const std::vector<RegionPair>& regions = in.regions;
  clock.mark("inputs");

  // The pyramid fits the network at the output size (checked here, before the weights are loaded).
  if (texture) {
    IMPASTO_CHECK(a.obj.size > 0, "--size must be > 0 for a texture");
    LossConfig style_only = options.loss;
    style_only.content_layers.clear();
    plan_pyramid(options, style_only, a.obj.size, a.obj.size);
  } else {
    const ImageSize sized = Stylizer::content_size(options, content.h, content.w);
    plan_pyramid(options, options.loss, sized.h, sized.w);
  }

  Backend& backend = engine.backend(a.obj);
  clock.mark("device");  // a CUDA context and the libraries' handles
  const WarmEngine::Network network = engine.network(backend, a.obj.weights, layers_needed(options.loss), options.pooling);
  clock.mark("weights");  // read and uploaded
  const VggWeights& weights = network.weights;

  IMPASTO_CHECK(a.log_path.empty() || a.force || !fs::exists(a.log_path),
                "log '" << a.log_path << "' exists (use --force to overwrite)");

  // Before any work: the run must fit the device (one line naming what would fit when it does not); a history the
  // user did not choose is shortened to fit.
  const RunMemoryFit memory = fit_memory(a, texture, network, in, options);
  const std::size_t estimate = memory.fit.need.total();
  backend.reset_peak_bytes();  // from here: this run's peak (a batch's earlier jobs aside), the weights included
  Stylizer stylizer(network.net, weights.bgr_input, options);
  clock.mark("memory plan");
  if (!a.quiet || a.obj.dry_run) {
    std::fprintf(stderr, "impasto: weights: %s; device: %s\n", weights.description.c_str(), backend.name().c_str());
    std::fputs(memory.fit.lines.c_str(), stderr);
  }
  if (a.obj.dry_run) {
    std::fprintf(stderr, "impasto: dry run: %s fits; nothing written\n", memory.what.c_str());
    return;
  }
  if (a.hooks && a.hooks->objective_only)  // impasto.Objective: the objective, no run
    return make_objective(*a.hooks, network, stylizer, options, content, styles, masks, regions);
  if (!snapshots.empty()) {
    const nlohmann::json manifest = {{"output", fs::path(a.out).filename().string()}, {"snapshots", snapshots}};
    write_file_atomic(snapshot_manifest(a.out), manifest.dump(1) + "\n", true);
  }
  if (!a.out.empty())
    remove_stale_temps(fs::path(a.out).parent_path().empty() ? "." : fs::path(a.out).parent_path().string());
  std::unique_ptr<LogFile> log;  // opened once the run is known to fit: a refused run leaves no file
  if (!a.log_path.empty()) log = std::make_unique<LogFile>(a.log_path, "w");
  Progress progress(total, a.print_every, a.quiet);
  auto report = [&](const IterationReport& r, const Tensor& x) {
    progress.update(r);
    if (log) {
      nlohmann::json j = {{"iteration", r.iteration}, {"level", r.level}, {"loss", r.loss}, {"content", r.content},
                          {"style", r.style},         {"tv", r.tv},       {"photo", r.photo}, {"seconds", r.seconds}};
      log->line(j);
    }
    if (a.save_every > 0 && r.iteration > 0 && r.iteration % a.save_every == 0 && r.iteration < total)
      write_image(stylizer.to_image(x), snapshot_path(a.out, r.iteration), true);
    if (a.hooks && a.hooks->on_iteration) a.hooks->on_iteration(r, [&] { return stylizer.to_image(x); });
  };
  StylizeResult result;
  if (a.hooks) a.hooks->started = true;
  try {
    result = texture ? stylizer.synthesize(a.obj.size, a.obj.size, styles, report) : stylizer.run(content, styles, masks, report, regions);
  } catch (const DivergedError& e) {
    progress.done();
    if (a.out.empty()) throw;  // an embedding's run without --out: nothing to keep beside
    fs::path p(a.out);
    const std::string keep = (p.parent_path() / (p.stem().string() + ".last-good" + p.extension().string())).string();
    write_image(e.last_good(), keep, true);
    IMPASTO_FAIL(e.what() << "; the last good image was written to '" << keep << "'");
  }
  progress.done();
  clock.mark_parts({{"set-up", result.setup_seconds}, {"optimization", result.seconds - result.setup_seconds}},
                   "result");  // the image brought back, colours preserved
  if (!a.out.empty()) write_image(result.image, a.out, a.force);
  clock.mark("write");
  // What the final log line adds to the result: the history taken, the memory estimate against the measured
  // peak, where the time went.
  const std::size_t peak = backend.peak_bytes_in_use();
  nlohmann::json facts = {{"memory", {{"estimated_bytes", estimate}, {"peak_bytes", peak}}},
                          {"timing", {{"total", clock.total()}}}};
  if (!options.use_adam) facts["lbfgs_history"] = options.lbfgs.history;
  for (const auto& [phase, seconds] : clock.phases()) facts["timing"][phase] = seconds;
  report_result(a, result, texture, facts, log.get());
  if (!a.quiet)
    std::fprintf(stderr, "impasto: memory: measured peak %s, estimated %s (estimate / peak %.3f)\nimpasto: time: %s\n",
                 format_gib(peak).c_str(), format_gib(estimate).c_str(), double(estimate) / double(std::max<std::size_t>(peak, 1)),
                 clock.str().c_str());
  if (a.hooks) a.hooks->result = std::move(result.image);
}

// The closing log line and the summary on stderr of a finished run.
void report_result(const Args& a, const StylizeResult& result, bool texture, const nlohmann::json& facts,
                   LogFile* log) {
  if (log) {  // the result as written (after --photo-smooth and colour preservation)
    nlohmann::json j = {{"final", true},   {"iterations", result.optimizer.iterations}, {"loss", result.last.loss},
                        {"seconds", result.seconds}, {"stop_reason", result.optimizer.stop_reason}};
    j.update(facts);
    if (!texture) j["photo_energy"] = result.photo_energy;
    log->line(j);
  }
  if (!a.quiet && result.levels.size() > 1)
    for (std::size_t l = 0; l < result.levels.size(); ++l) {
      const LevelResult& lv = result.levels[l];
      std::fprintf(stderr, "impasto: level %zu (%dx%d%s): loss %.6g -> %.6g in %d iterations (%s)\n", l, lv.w, lv.h,
                   lv.photo_stage ? ", the photorealism stage" : "", lv.first.loss, lv.last.loss,
                   lv.optimizer.iterations, lv.optimizer.stop_reason.c_str());
    }
  if (!a.quiet)
    std::fprintf(stderr, "impasto: %s%s (%dx%d): loss %.6g -> %.6g in %d iterations, %.1fs (%.3fs/iteration, %s)\n",
                 a.out.empty() ? "done" : "wrote ", a.out.c_str(), result.image.w, result.image.h, result.first.loss, result.last.loss,
                 result.optimizer.iterations, result.seconds,
                 result.optimizer.iterations ? result.seconds / result.optimizer.iterations : 0.0,
                 result.optimizer.stop_reason.c_str());
  if (!a.quiet && !texture)
    std::fprintf(stderr, "impasto: photorealism: matting-Laplacian energy of the result %.6g (0: a locally affine "
                         "recolouring of the content)\n",
                 result.photo_energy);
}

// A run on the batch's engine, or on its own one (dropped when the run ends; an Objective's stays with it).
void run_on(WarmEngine* warm, Args& a, CLI::App* c, bool texture) {
  if (warm) return run_command(a, c, texture, *warm, false);
  if (a.hooks && a.hooks->objective_only) {
    a.hooks->engine = std::make_unique<WarmEngine>();
    return run_command(a, c, texture, *a.hooks->engine, false);
  }
  WarmEngine own;
  run_command(a, c, texture, own, !a.hooks);
}

}  // namespace

Image load_image(const EmbedHooks* hooks, const std::string& name, int channels) {
  if (hooks) {
    const auto it = hooks->images.find(name);
    if (it != hooks->images.end()) {
      IMPASTO_CHECK(it->second.c == channels, name << ": " << it->second.c << " channels, " << channels << " expected");
      return it->second;
    }
  }
  return read_image(name, channels);
}

void add_stylize_command(CLI::App& app, WarmEngine* warm, EmbedHooks* hooks) {
  auto a = std::make_shared<Args>();
  a->hooks = hooks;
  CLI::App* c = app.add_subcommand("stylize", "Stylize one image (Gatys et al. 2016)");
  c->add_option("--content", a->content, "Content image")->required();
  add_command_options(c, *a, true);
  c->add_option("--size", a->obj.size, "Longer side of the output in pixels (0: the content's size)")
      ->check(CLI::Range(0, kMaxSide))->capture_default_str();
  c->add_option("--style-mask", a->masks, "One grayscale mask per style (any size, resized to the output): white where that style applies");
  c->add_option("--content-mask", a->content_masks,
                "Region pairs (Luan et al.): one grayscale mask per region on the content (its size), white where the "
                "region is; each pairs with the --style-region-mask of the same position")
      ->delimiter(',');
  c->add_option("--style-region-mask", a->style_region_masks,
                "Region pairs: one grayscale mask per region on the style (its size), in --content-mask's order")
      ->delimiter(',');
  c->add_option("--content-seg", a->content_seg,
                "Region pairs from a colour-coded segmentation of the content (its size; Luan's colours: blue, green, "
                "black, white, red, yellow, grey, lightblue, purple)");
  c->add_option("--style-seg", a->style_seg, "The style's segmentation in --content-seg's colours (its size)");
  c->add_flag("--photo", a->photo, "Photorealistic transfer: the same as --preset photo");
  c->add_option("--init", a->obj.init, "content | noise | style | FILE")->capture_default_str();
  c->add_flag("--luminance-only", a->luminance_only,
              "Transfer on luminance only (style luminance matched to the content's), then the content's chroma "
              "(in --original-colors' space, yuv by default)");
  c->add_flag("--style-stretch", a->style_stretch,
              "Resize each style to exactly the output size (x --style-scale), not keeping its aspect ratio (the same as "
              "--style-fit stretch)");
  c->callback([a, c, warm] { run_on(warm, *a, c, false); });

  auto t = std::make_shared<Args>();
  t->hooks = hooks;
  CLI::App* tc = app.add_subcommand("texture", "Synthesize a texture from noise (style terms only)");
  add_command_options(tc, *t, false);
  tc->add_option("--size", t->obj.size, "Output width and height in pixels")->check(CLI::Range(1, kMaxSide))
      ->capture_default_str();
  tc->add_flag("--native-style-scale", t->obj.native_style_scale,
               "Keep each style at its own size (x --style-scale) instead of scaling it to the output: strokes keep "
               "their pixel size, and a style much larger than the output leaves its edges flat");
  tc->callback([t, tc, warm] {
    t->obj.init = "noise";
    run_on(warm, *t, tc, true);
  });
}

}  // namespace impasto::cli
