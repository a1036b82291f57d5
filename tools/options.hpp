// tools/options.hpp — the options `impasto stylize`, `texture` and `video` share: the objective (layers,
// weights, TV, pooling, preset), the optimizer, the weights and the device. One place registers them with
// CLI11, applies the preset to the ones the user did not give, and turns them into StylizeOptions.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/stylize.hpp"

namespace impasto::cli {

// Bounds of the numeric options, checked when the command line is parsed: counts stay far from int overflow
// (iterations × levels, snapshot numbers) and sizes within what an image may be (engine/image.hpp).
inline constexpr int kMaxIterations = 10'000'000;
inline constexpr int kMaxCount = 1'000'000;  // frames, passes, history, windows, print and snapshot intervals
inline constexpr double kMaxScale = 64;      // --style-scale (each use also checks the size it makes)

struct ObjectiveArgs {
  std::vector<std::string> styles;
  std::vector<float> style_weights;
  std::string init = "content";
  std::string weights = "random", device = "auto", precision = "auto", preset = "neural-style-tf";
  std::string optimizer = "lbfgs", line_search = "strong-wolfe", tv = "l1", pooling = "avg", noise = "uniform", resize = "area";
  std::string style_fit = "longer-side", tolerance_rule = "sliding";
  std::string content_layers = "conv4_2", content_layer_weights;
  std::string style_layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", style_layer_weights;  // empty: equal
  std::string original_colors;
  int size = 512, iterations = 1000, lbfgs_history = 100, content_loss = 1, tolerance_window = 10;
  double style_scale = 1.0, learning_rate = 1.0, noise_ratio = 1.0, tolerance = 0;
  double content_weight = 5.0, style_weight = 1e4, tv_weight = 1e-3;
  double max_memory = 0;  // GiB the run may take on its device (0: what the device has free)
  bool dry_run = false;   // read and check everything, print the memory plan, then stop (nothing written)
  bool native_style_scale = false;  // texture: the style at its own size × style_scale
  // Photorealistic transfer (stylize; StylizeOptions has their meaning).
  double photo_weight = 0, photo_smooth_eps = 1e-4;
  int photo_iterations = 0, photo_smooth = 0;
  std::uint64_t seed = 0;
  bool lbfgs_history_given = false;  // --lbfgs-history was on the command line (set by apply_preset)
};

enum class Command { stylize, texture, video };

// Registers the shared options on a subcommand. Those that need a content image (--content-weight,
// --content-layers, --content-layer-weights, --content-loss, --original-colors, --noise-ratio) are left out of
// texture; --preset artistic-videos is video's; --preset photo and the photorealism options are stylize's. --size, --iterations, --out, --log, --force and the like stay
// with each command, whose help texts differ.
void add_objective_options(CLI::App* c, ObjectiveArgs& a, Command command);

// Run once the command line is parsed. Records which options the user chose himself; options the user did not
// give take the preset's value (--preset neural-style: jcjohnson/neural-style;
// neural-style-pt: ProGamerGov/neural-style-pt; artistic-videos: manuelruder/artistic-videos, whose objective
// is neural-style's; its video schedule is set by `impasto video`; photo: luanfujun/deep-photo-styletransfer,
// whose objective is neural-style's too, plus its two stages). DESIGN.md and README.md list what each sets.
void apply_preset(const CLI::App* c, ObjectiveArgs& a);
// Whether the user gave option `name` (e.g. "--size") on c: presets set only the others.
bool given(const CLI::App* c, const char* name);

// The pipeline's options from the parsed arguments (validated by StylizeOptions::validate later).
StylizeOptions make_stylize_options(const ObjectiveArgs& a);

// The backend of --device and --precision.
std::unique_ptr<Backend> make_backend(const ObjectiveArgs& a);

// Before a run starts: the memory it needs at --size `size` (need(size, history), engine/memory_plan.hpp) must
// fit what `backend` has free (capped by --max-memory), else a one-line error naming what would fit. Returns
// the lines to print when it fits ("impasto: memory: about ... of ... free") and the need they describe. `what` names the request
// ("a 1024x768 stylization"). With `history` (stylize and texture), an L-BFGS history the user did not give
// that does not fit is shortened to the longest that does (at least kFewestFittedPairs): *history is set and
// the lines say so. A video keeps its history: its state file records it, and a resume must not change it.
struct MemoryFit {
  std::string lines;  // "impasto: memory: about ... of ... free\n" (and the history taken, when shortened)
  MemoryNeed need;    // what the run needs with the history it takes
};
MemoryFit check_memory_fits(const Backend& backend, const ObjectiveArgs& a, const NeedFn& need, int size,
                            const std::string& what, int* history = nullptr);

}  // namespace impasto::cli
