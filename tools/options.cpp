// tools/options.cpp — see options.hpp.
#include "tools/options.hpp"

#include <cmath>
#include <filesystem>
#include <optional>

#include "engine/backend_factory.hpp"
#include "engine/error.hpp"
#include "tools/commands.hpp"

namespace fs = std::filesystem;

namespace impasto::cli {
namespace {

// The presets whose objective is neural-style's (their GramMatrix/(C·H·W) and MSE, raw layer weights, blended
// targets); of those, the Lua ones read images as 0..1 ×256 and keep TV out of the loss value.
bool is_lua(const std::string& preset) {
  return preset == "neural-style" || preset == "artistic-videos" || preset == "photo";
}
bool is_neural_style(const std::string& preset) { return is_lua(preset) || preset == "neural-style-pt"; }

std::vector<std::string> auto_or(std::vector<std::string> names) {
  names.insert(names.begin(), "auto");
  return names;
}

}  // namespace

bool given(const CLI::App* c, const char* name) { return c->get_option_no_throw(name) && c->count(name) > 0; }

void add_objective_options(CLI::App* c, ObjectiveArgs& a, Command command) {
  const bool with_content = command != Command::texture;
  c->add_option("--style", a.styles, "Style image(s)")->required();
  c->add_option("--style-weights", a.style_weights, "Blend weight per style (normalized), e.g. 3,1")->delimiter(',');
  c->add_option("--style-scale", a.style_scale,
                with_content ? "Style size relative to the output's (see --style-fit)"
                             : "Style size relative to the output's (see --style-fit; with --native-style-scale: to "
                               "the style image's own size)")
      ->check(CLI::Range(1e-3, kMaxScale))->capture_default_str();
  c->add_option("--style-fit", a.style_fit,
                "How a style is sized: longer-side (its longer side = the output's x --style-scale) | stretch "
                "(exactly the output's size x --style-scale) | area (its area = the output's x --style-scale^2, "
                "as artistic-videos)")
      ->check(CLI::IsMember(enum_names<StyleFit>()))->capture_default_str();
  c->add_option("--optimizer", a.optimizer, "lbfgs | adam")->check(CLI::IsMember({"lbfgs", "adam"}))->capture_default_str();
  c->add_option("--lbfgs-history", a.lbfgs_history, "L-BFGS history size m")->check(CLI::Range(1, kMaxCount))
      ->capture_default_str();
  c->add_option("--line-search", a.line_search,
                choices(enum_names<LbfgsParams::LineSearch>()) + " (none: one evaluation per iteration, as Torch)")
      ->check(CLI::IsMember(enum_names<LbfgsParams::LineSearch>()))->capture_default_str();
  c->add_option("--tolerance", a.tolerance,
                "Stop when the relative loss change over --tolerance-window iterations is below this (0: off)");
  c->add_option("--tolerance-window", a.tolerance_window, "Iterations the loss change is measured over")
      ->check(CLI::Range(1, kMaxCount))->capture_default_str();
  c->add_option("--tolerance-rule", a.tolerance_rule,
                "sliding (checked every iteration, relative to max(1, |loss|)) | checkpoints (every window "
                "iterations, relative to the loss a window before, as artistic-videos)")
      ->check(CLI::IsMember(enum_names<LbfgsParams::ToleranceRule>()))->capture_default_str();
  c->add_option("--learning-rate", a.learning_rate, "Adam step size / L-BFGS step scale")->capture_default_str();
  c->add_option("--seed", a.seed, "Seed of the noise image")->capture_default_str();
  c->add_option("--style-weight", a.style_weight, "Style weight β")->capture_default_str();
  c->add_option("--tv-weight", a.tv_weight, "Total-variation weight θ")->capture_default_str();
  c->add_option("--tv", a.tv, choices(enum_names<TvMode>()))->check(CLI::IsMember(enum_names<TvMode>()))
      ->capture_default_str();
  c->add_option("--style-layers", a.style_layers, "Comma-separated style taps")->capture_default_str();
  c->add_option("--style-layer-weights", a.style_layer_weights, "Weight per style tap (default: equal)");
  c->add_option("--pooling", a.pooling, choices(enum_names<PoolMode>()))->check(CLI::IsMember(enum_names<PoolMode>()))
      ->capture_default_str();
  c->add_option("--weights", a.weights, "VGG-19 weights: an HDF5 file (Keras layout) or random[:SEED]")->capture_default_str();
  c->add_option("--device", a.device, "auto (cuda when present) | cpu | cuda")->capture_default_str();
  c->add_option("--max-memory", a.max_memory,
                 "GiB the run may take on its device (default: what is free); a larger need stops before starting, "
                 "naming the --size, --lbfgs-history or --optimizer that fits")
      ->check(CLI::NonNegativeNumber);
  c->add_flag("--dry-run", a.dry_run,
              "Read and check the inputs, the weights and the memory the run needs on the device, print that, and "
              "stop without writing anything");
  c->add_option("--precision", a.precision,
                 "auto (tf32 on cards that have it) | fp32 | tf32 | bf16 (CUDA; experimental: bf16 convolutions, "
                 "fp32 accumulation)")
      ->check(CLI::IsMember(auto_or(enum_names<Precision>())))->capture_default_str();
  std::vector<std::string> presets{"neural-style-tf", "neural-style", "neural-style-pt"};
  std::string preset_help =
      "neural-style-tf (default objective) | neural-style (jcjohnson, Lua) | neural-style-pt (PyTorch)";
  if (command == Command::video) {
    presets.push_back("artistic-videos");
    preset_help += " | artistic-videos (manuelruder: its objective and schedule; with --passes > 1 its multi-pass one)";
  }
  if (command == Command::stylize) {
    presets.push_back("photo");
    preset_help += " | photo (luanfujun/deep-photo-styletransfer: its objective and two stages, the second with the "
                   "matting-Laplacian term)";
    c->add_option("--photo-weight", a.photo_weight,
                  "Photorealism weight: lambda of lambda*sum_c V_c^T L V_c, L the content's matting Laplacian, V the "
                  "output on a 0..1 scale (0: off; --preset photo: 5000, which is Luan's -lambda 1e4: their gradient "
                  "lambda*L*V is that of lambda/2*V^T L V)")
        ->check(CLI::Range(0.0, 1e12))->capture_default_str();
    c->add_option("--photo-iterations", a.photo_iterations,
                  "With --photo-weight: first the run without the term, then this many iterations at the output size "
                  "with it (0: the term from the start; --preset photo: 1000)")
        ->check(CLI::Range(0, kMaxIterations))->capture_default_str();
    c->add_option("--photo-smooth", a.photo_smooth,
                  "Guided-filter the result with the content as the guide, this radius in pixels (0: off): takes the "
                  "content's edges, removing posterization")
        ->check(CLI::Range(0, 1000))->capture_default_str();
    c->add_option("--photo-smooth-eps", a.photo_smooth_eps, "The guided filter's epsilon on a 0..1 scale (smaller: closer to the result)")
        ->check(CLI::Range(1e-9, 1.0))->capture_default_str();
  }
  c->add_option("--preset", a.preset, preset_help)->check(CLI::IsMember(presets))->capture_default_str();
  c->add_option("--resize", a.resize,
                "How the content and styles are resized: area (averaging) | torch (torch7's image.scale, as "
                "neural-style) | pil (Pillow's antialiased bilinear, as neural-style-pt), with their size rounding")
      ->check(CLI::IsMember(enum_names<Resampler>()))->capture_default_str();
  c->add_option("--noise", a.noise, "Noise of the noise init: uniform (in [-20, 20)) | gaussian (sigma 0.001)")
      ->check(CLI::IsMember(enum_names<NoiseKind>()))->capture_default_str();
  if (!with_content) return;
  c->add_option("--noise-ratio", a.noise_ratio, "Noise share of the noise init")->capture_default_str();
  c->add_option("--content-weight", a.content_weight, "Content weight α")->capture_default_str();
  c->add_option("--content-layers", a.content_layers, "Comma-separated content taps")->capture_default_str();
  c->add_option("--content-layer-weights", a.content_layer_weights, "Weight per content tap");
  c->add_option("--content-loss", a.content_loss, "Content normalization 1 | 2 | 3")
      ->check(CLI::IsMember({1, 2, 3}))->capture_default_str();
  c->add_option("--original-colors", a.original_colors, "Keep the content's colors: " + choices(enum_names<ColorSpace>()))
      ->check(CLI::IsMember(enum_names<ColorSpace>()));
}

void apply_preset(const CLI::App* c, ObjectiveArgs& a) {
  a.lbfgs_history_given = given(c, "--lbfgs-history");
  if (!is_neural_style(a.preset)) return;
  auto unset = [&](const char* name) { return c->get_option_no_throw(name) && !given(c, name); };
  if (unset("--style-weight")) a.style_weight = 100;
  if (unset("--content-weight")) a.content_weight = 5;
  if (unset("--tv-weight")) a.tv_weight = 1e-3;
  if (unset("--tv")) a.tv = is_lua(a.preset) ? "squared-interior" : "l1";
  if (unset("--pooling")) a.pooling = "max";
  if (unset("--init")) a.init = a.preset == "photo" ? "content" : "noise";
  if (unset("--noise")) a.noise = "gaussian";
  if (unset("--resize")) a.resize = is_lua(a.preset) ? "torch" : "pil";
  if (unset("--style-fit") && a.preset == "artistic-videos") a.style_fit = "area";
  if (unset("--line-search")) a.line_search = "none";
  if (unset("--content-loss")) a.content_loss = 2;
  if (unset("--content-layers")) a.content_layers = "relu4_2";
  if (a.preset != "photo") return;
  if (unset("--photo-weight")) a.photo_weight = 5000;
  if (unset("--photo-iterations")) a.photo_iterations = 1000;
}

StylizeOptions make_stylize_options(const ObjectiveArgs& a) {
  StylizeOptions o;
  LossConfig& l = o.loss;
  l.content_layers = parse_weighted_taps(a.content_layers, a.content_layer_weights, "--content-layers");
  l.style_layers = parse_weighted_taps(a.style_layers, a.style_layer_weights, "--style-layers");
  l.content_variant = a.content_loss;
  l.content_weight = a.content_weight;
  l.style_weight = a.style_weight;
  l.tv_weight = a.tv_weight;
  l.tv_mode = parse_enum<TvMode>(a.tv);
  if (is_neural_style(a.preset)) {  // their GramMatrix/(C·H·W) and MSE, raw layer weights, blended targets
    l.style_form = StyleForm::mean_squared;
    l.average_layers = false;
    l.blend_style_targets = true;
  }
  if (is_lua(a.preset)) {  // Lua: TV's value is not part of the loss; images read as 0..1, ×256
    l.tv_in_total = false;
    o.pixel_scale = 256.0 / 255.0;
  }
  o.pooling = parse_enum<PoolMode>(a.pooling);
  o.size = a.size;
  o.style_scale = a.style_scale;
  o.texture_native_scale = a.native_style_scale;
  o.style_fit = parse_enum<StyleFit>(a.style_fit);
  IMPASTO_CHECK(a.style_weights.empty() || a.style_weights.size() == a.styles.size(),
                "--style-weights: " << a.style_weights.size() << " weights for " << a.styles.size() << " styles");
  double sum = 0;
  for (float w : a.style_weights) {
    IMPASTO_CHECK(std::isfinite(w) && w >= 0, "--style-weights: " << w << " is not a weight (finite, >= 0)");
    sum += w;
  }
  IMPASTO_CHECK(a.style_weights.empty() || sum > 0, "--style-weights: all weights are 0");
  o.style_blend_weights = a.style_weights;
  const std::optional<InitKind> init = find_enum<InitKind>(a.init);
  if (init && *init != InitKind::file) {
    o.init = *init;
  } else {
    IMPASTO_CHECK(fs::is_regular_file(a.init), "--init '" << a.init << "': not content, noise, style or an existing image file");
    read_image(a.init);  // a broken file fails here, before the weights and the memory check
    o.init = InitKind::file;
    o.init_file = a.init;
  }
  o.noise_ratio = a.noise_ratio;
  o.noise = parse_enum<NoiseKind>(a.noise);
  o.resample = parse_enum<Resampler>(a.resize);
  o.seed = a.seed;
  o.use_adam = a.optimizer == "adam";
  o.lbfgs.history = a.lbfgs_history;
  o.lbfgs.line_search = parse_enum<LbfgsParams::LineSearch>(a.line_search);
  o.lbfgs.learning_rate = a.learning_rate;
  o.lbfgs.tolerance_change = a.tolerance;
  o.lbfgs.tolerance_window = a.tolerance_window;
  o.lbfgs.tolerance_rule = parse_enum<LbfgsParams::ToleranceRule>(a.tolerance_rule);
  o.adam.learning_rate = a.learning_rate;
  o.iterations = a.iterations;
  l.photo_weight = a.photo_weight;
  o.photo_iterations = a.photo_iterations;
  o.photo_smooth = a.photo_smooth;
  o.photo_smooth_eps = a.photo_smooth_eps;
  if (!a.original_colors.empty()) o.original_colors = parse_enum<ColorSpace>(a.original_colors);
  return o;
}

std::unique_ptr<Backend> make_backend(const ObjectiveArgs& a) {
  // One GPU per rank of an MPI job, chosen by its rank on the machine.
  std::unique_ptr<Backend> backend = impasto::make_backend(parse_device(a.device), ranks().local_rank());
  if (a.precision != "auto") backend->set_precision(parse_enum<Precision>(a.precision));
  return backend;
}

MemoryFit check_memory_fits(const Backend& backend, const ObjectiveArgs& a, const NeedFn& need, int size,
                            const std::string& what, int* history) {
  const MemoryBudget budget = memory_budget(backend, a.max_memory);
  const bool lbfgs = a.optimizer == "lbfgs";
  std::string shortened;
  int pairs = lbfgs ? a.lbfgs_history : 0;
  if (lbfgs && history && !a.lbfgs_history_given) {
    pairs = history_that_fits(need, size, pairs, budget);
    if (pairs != a.lbfgs_history)
      shortened = "impasto: memory: L-BFGS history " + std::to_string(pairs) + " pairs, not " +
                  std::to_string(a.lbfgs_history) + ": a longer one does not fit (--lbfgs-history sets it)\n";
    *history = pairs;
  }
  const MemoryNeed fitting = check_memory(need, size, pairs, budget, what);
  return {"impasto: memory: about " + fitting.str() + " of " + format_gib(budget.bytes) + " (" + budget.source + ")\n" +
              shortened,
          fitting};
}

}  // namespace impasto::cli
