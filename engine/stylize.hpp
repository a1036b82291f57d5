// engine/stylize.hpp — the single-image pipeline: load and size the images, compute the targets once, run
// L-BFGS or Adam on the image, report every iteration, and return the stylized RGB image (optionally with
// the content's colors). Also: masked styles (one mask per style), texture synthesis, a coarse-to-fine
// resolution pyramid, luminance-only transfer (Gatys et al. 2016, "Preserving color") and a wall-time limit.
// Backend-neutral: the same code runs on the CPU and the CUDA backend.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/error.hpp"
#include "engine/image.hpp"
#include "engine/losses.hpp"
#include "engine/memory_plan.hpp"
#include "engine/optimizer.hpp"
#include "engine/resample.hpp"
#include "engine/vgg19.hpp"
#include "weights/weights.hpp"

namespace impasto {

// The start image: the content, noise (StylizeOptions::noise_ratio, seed), the style, or an image file.
enum class InitKind { content, noise, style, file };
template <>
struct EnumNames<InitKind> {
  static constexpr const char* what = "init";
  static constexpr EnumName<InitKind> table[] = {
      {InitKind::content, "content"}, {InitKind::noise, "noise"}, {InitKind::style, "style"}, {InitKind::file, "file"}};
};

// The noise of the noise init, in network space: uniform in [−20, 20) (neural-style-tf) or normal with
// σ = 0.001, the mean image in effect (jcjohnson/neural-style's and neural-style-pt's randn·0.001).
enum class NoiseKind { uniform, gaussian };
template <>
struct EnumNames<NoiseKind> {
  static constexpr const char* what = "noise";
  static constexpr EnumName<NoiseKind> table[] = {{NoiseKind::uniform, "uniform"}, {NoiseKind::gaussian, "gaussian"}};
};

// How a style is sized for an output of h×w, × style_scale (k):
//   longer_side  its longer side = the output's longer side × k, aspect kept (neural-style's -style_scale)
//   stretch      exactly (h·k)×(w·k), aspect not kept (neural-style-tf); stylize only, a texture keeps the
//                style's proportions
//   area         its area = the output's area × k², aspect kept (artistic-videos' getStyleImages)
enum class StyleFit { longer_side, stretch, area };
template <>
struct EnumNames<StyleFit> {
  static constexpr const char* what = "style fit";
  static constexpr EnumName<StyleFit> table[] = {
      {StyleFit::longer_side, "longer-side"}, {StyleFit::stretch, "stretch"}, {StyleFit::area, "area"}};
};

struct StylizeOptions {
  LossConfig loss = LossConfig::defaults();
  PoolMode pooling = PoolMode::average;
  int size = 512;              // longer side of the output; 0 keeps the content's size
  double style_scale = 1.0;    // the style's size relative to the output's (style_fit says how)
  // Texture only: the style keeps its own size × style_scale instead of being scaled to the output (Gatys et
  // al. 2015 synthesize from a source of about the output's size; a much larger source concentrates its
  // structure in the middle of a small output).
  bool texture_native_scale = false;
  StyleFit style_fit = StyleFit::longer_side;
  std::vector<float> style_blend_weights;  // one per style; empty = equal
  InitKind init = InitKind::content;
  std::string init_file;
  double noise_ratio = 1.0;    // noise init: ratio·noise + (1 − ratio)·content (neural-style-tf)
  NoiseKind noise = NoiseKind::uniform;
  // Network input = RGB 0..255 × pixel_scale − mean (256/255 reproduces jcjohnson/neural-style's ×256).
  double pixel_scale = 1.0;
  // How the content (to `size`) and the styles (to the output's longer side × style_scale) are resized, and
  // how those sizes are rounded (engine/resample.hpp; the presets take their anchor's).
  Resampler resample = Resampler::area;
  std::uint64_t seed = 0;
  bool use_adam = false;
  LbfgsParams lbfgs;
  AdamParams adam;
  int iterations = 1000;        // per pyramid level unless level_iterations is given
  std::optional<ColorSpace> original_colors;
  // Coarse-to-fine: level 0 is the output size / 2^(levels−1), each level doubles it; the targets are
  // recomputed at every level (style and mask scaled with it) and each level starts from the previous
  // level's result, upsampled (bilinear). 1 = a single scale.
  int pyramid_levels = 1;
  std::vector<int> level_iterations;  // empty: `iterations` at every level; else one count per level, coarse first
  // Luminance-only transfer (Gatys et al. 2016, "Preserving color", sec. 2): the network sees the luminance
  // (YUV Y, as three equal channels) of the content and of each style, the style's luminance matched to the
  // content's mean and standard deviation; the result's luminance is put together with the content's chroma
  // (in original_colors' space, YUV by default).
  bool luminance_only = false;
  // Wall-time limit in seconds (0: none), on the clock of IterationReport::seconds: the run stops after the
  // first iterate past it; a pyramid stopped before its last level returns that level's result upsampled.
  double time_limit = 0;
  // Photorealistic transfer (Luan et al. 2017; loss.photo_weight is its λ): photo_iterations > 0 runs the
  // levels above without the matting-Laplacian term, then this many iterations more at the output size with
  // it, from that result (Luan's neuralstyle_seg.lua, then deepmatting_seg.lua); 0 keeps the term on
  // throughout. photo_smooth > 0: the result is guided-filtered with the content as the guide, radius
  // photo_smooth pixels, ε photo_smooth_eps on a 0..1 scale (photo.hpp guided_filter).
  int photo_iterations = 0;
  int photo_smooth = 0;
  double photo_smooth_eps = 1e-4;

  void validate() const;  // throws a one-line Error naming the bad option
  int level_iteration_count(int level) const {  // iterations of pyramid level `level` (0 = coarsest)
    return level_iterations.empty() ? iterations : level_iterations.at(std::size_t(level));
  }
  int total_iterations() const {  // all levels and the photorealism stage
    int n = 0;
    for (int l = 0; l < pyramid_levels; ++l) n += level_iteration_count(l);
    return n + photo_iterations;
  }
};

// One line of the iteration log: the weighted loss terms at an accepted iterate.
// Iterations count on across pyramid levels (strictly increasing): iteration 0 is the first level's initial
// image; a later level's initial (upsampled) image is not reported, its first step continues the count.
struct IterationReport {
  int iteration = 0;
  int level = 0;       // pyramid level, 0 = coarsest
  double loss = 0, content = 0, style = 0, tv = 0, photo = 0;  // at this level's size
  double seconds = 0;  // since the run started, the targets of every level included

  // An accepted iterate's number within its optimizer run, loss and terms (level and seconds: the caller's).
  static IterationReport of(const IterationInfo& info, const LossTerms& terms) {
    IterationReport r;
    r.iteration = info.iteration;
    r.loss = info.loss;
    r.content = terms.content;
    r.style = terms.style;
    r.tv = terms.tv;
    r.photo = terms.photo;
    return r;
  }
};

// One pyramid level: its size, its initial and last reported iterate.
struct LevelResult {
  int h = 0, w = 0;
  IterationReport first, last;  // first: the level's initial image (for levels > 0: the upsampled result)
  OptimizeResult optimizer;
  bool photo_stage = false;     // the photorealism stage after the pyramid (StylizeOptions::photo_iterations)
};

struct StylizeResult {
  Image image;                 // RGB 0..255 at the output size (colors preserved when asked)
  OptimizeResult optimizer;    // summed over levels; stop_reason of the last level run ("time limit" when hit)
  IterationReport first, last; // the first level's initial image, the last iterate
  std::vector<LevelResult> levels;
  double seconds = 0;          // optimization wall time, all levels
  // The part of `seconds` spent before each level's first iteration: its objective, targets (the style and
  // content images through the network), network plans (cuDNN's algorithm choice) and initial image.
  double setup_seconds = 0;
  // Σ_c V_cᵀ·L·V_c of `image` on a 0..1 scale, L the content's matting Laplacian at the output size: how far
  // the result is from a locally affine recolouring of the content (stylize only; NaN for a texture).
  double photo_energy = 0;
};

// One level of the resolution pyramid: its output size and iteration count.
struct PyramidLevel {
  int h = 0, w = 0, iterations = 0;
  bool photo = true;  // the photorealism term is on here (when loss.photo_weight > 0)
};
// The pyramid's levels for an output of h×w, coarsest first (options.pyramid_levels of them, the last h×w);
// throws a one-line Error when the coarsest is too small for the deepest layer `config` uses. With
// photo_iterations > 0 the photorealism stage follows as one more level at h×w (the others without the term).
std::vector<PyramidLevel> plan_pyramid(const StylizeOptions& options, const LossConfig& config, int h, int w);

// What a run's memory depends on besides its options: the sizes of its images as given.
struct RunImages {
  ImageSize content;              // stylize: the content image as read; a texture: {0, 0} (options.size square)
  std::vector<ImageSize> styles;  // each style image as read
  int masks = 0;                  // masked styles: 0, or one mask per style
  int regions = 0;                // region pairs of the one style
};

class Stylizer {
 public:
  // Called for every accepted iterate (iteration 0 = the initial image); `x` is the current image in
  // network space, to be turned into an RGB image with Stylizer::to_image when wanted.
  using Reporter = std::function<void(const IterationReport&, const Tensor& x)>;

  Stylizer(Backend& backend, const VggWeights& weights, StylizeOptions options);
  // On a network made elsewhere, whose weights stay uploaded from run to run (`impasto batch`): `net` must hold
  // the layers options.loss uses and outlive the Stylizer; its pooling is set to options.pooling. bgr_input:
  // the channel order of the weights it holds (VggWeights::bgr_input).
  Stylizer(Vgg19& net, bool bgr_input, StylizeOptions options);

  // content: RGB image (any size; resized to options.size), styles: one or more RGB images.
  // masks: empty, or one one-channel mask per style (masked transfer), any size: each is resized to the
  // feature maps of the output and of its style; a mask that is all zero is an error. regions: empty, or the
  // region pairs of the augmented style loss (one style, no masks; photo.hpp check_regions has their rules).
  StylizeResult run(const Image& content, const std::vector<Image>& styles, const std::vector<Image>& masks = {},
                    const Reporter& report = {}, const std::vector<RegionPair>& regions = {});
  // Texture synthesis: style terms only, from noise, output h×w (pyramid and luminance-only apply).
  StylizeResult synthesize(int h, int w, const std::vector<Image>& styles, const Reporter& report = {});

  // The memory run() (synthesize() for a texture) would hold at its peak with these options and images,
  // computed without allocating (engine/memory_plan.hpp). `options` may differ from the Stylizer's in size,
  // history and optimizer: the CLI asks what a smaller request would need.
  MemoryNeed memory_needed(const StylizeOptions& options, const RunImages& images);

  // Network-space image (1,3,H,W) → RGB 0..255.
  Image to_image(const Tensor& x);
  // The style image as the network sees it for an output of out_h×out_w (sized by style_fit and style_scale).
  Image fit_style(const Image& style, int out_h, int out_w) const;
  // The size fit_style gives a style of size `style` for an output of out_h×out_w under `options`.
  static ImageSize style_size(const StylizeOptions& options, ImageSize style, int out_h, int out_w);
  // The content's working size: longer side `size` (rounded as options.resample does), or its own when 0.
  static ImageSize content_size(const StylizeOptions& options, int h, int w);
  // A texture's style size at a pyramid level of lv_h×lv_w for a texture of h×w: as style_size for the level
  // (longer side × style_scale), or with texture_native_scale the style's own size × style_scale, shrunk with
  // the level.
  static ImageSize texture_style_size(const StylizeOptions& options, ImageSize style, int lv_h, int lv_w, int h, int w);

 private:
  using Level = PyramidLevel;
  // Runs every level: `targets(objective, level)` adds the styles and the content (or output size) at that
  // level's size, `init(level)` gives the first level's start (network space); later levels start from the
  // previous result upsampled. Returns with x at the output size.
  using TargetsFn = std::function<void(StyleObjective&, const Level&)>;
  using InitFn = std::function<Tensor(const Level&)>;
  StylizeResult run_levels(const std::vector<Level>& levels, const LossConfig& config, const TargetsFn& targets,
                           const InitFn& init, const Reporter& report, Tensor& x);
  // One optimization of x on `objective`; iteration numbers continue from `first_iteration` (reported for
  // iteration 0 only when report_initial). Returns false when the time limit stopped it.
  bool optimize(Tensor& x, StyleObjective& objective, int iterations, int level, int first_iteration,
                bool report_initial, const Reporter& report, LevelResult& out);
  Tensor upload_image(const Image& rgb);
  // Network-space x (1,3,h,w) resized to h×w (area when shrinking, bilinear when enlarging).
  Tensor resize_network(const Tensor& x, int h, int w);
  Tensor noise_image(int h, int w);  // options.noise from options.seed

  Backend& backend_;
  bool bgr_;
  StylizeOptions options_;
  std::unique_ptr<Vgg19> own_net_;  // the first constructor's; empty when the network is borrowed
  Vgg19& net_;
  std::chrono::steady_clock::time_point start_;  // of the current run's optimization
};

// Luminance-only transfer helpers (host side). The YUV luminance Y as an RGB image of three equal channels.
Image luminance_rgb(const Image& rgb);
// `gray` (three equal channels) with its mean and standard deviation matched to `reference`'s (Gatys et
// al. 2016: L_s' = σ_c/σ_s·(L_s − μ_s) + μ_c); a constant image only takes the mean.
Image match_luminance(const Image& gray, const Image& reference);

// The optimization hit a non-finite loss or gradient; carries the last good image (RGB) and its iteration.
class DivergedError : public Error {
 public:
  DivergedError(const std::string& message, Image last_good) : Error(message), last_good_(std::move(last_good)) {}
  const Image& last_good() const { return last_good_; }

 private:
  Image last_good_;
};

// The stylized image's luminance with the content's chroma (Gatys et al. 2016, "Preserving color in neural
// artistic style transfer"), both RGB 0..255 of one size, converted on `backend`; the result is clipped.
Image preserve_colors(Backend& backend, const Image& stylized, const Image& content, ColorSpace space);

// A (1,3,h,w) noise image in network space of the given kind (NoiseKind), from stream `stream` of seed `seed`
// (SplitMix64, engine/random.hpp: the same numbers everywhere).
Tensor noise_image(Backend& backend, NoiseKind kind, int h, int w, std::uint64_t seed, std::uint64_t stream);

// The deepest conv index any tap of the config uses, +1: how many weight layers to load.
int layers_needed(const LossConfig& config);

}  // namespace impasto
