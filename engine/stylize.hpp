// engine/stylize.hpp — the single-image pipeline: load and size the images, compute the targets once, run
// L-BFGS or Adam on the image, report every iteration, and return the stylized RGB image (optionally with
// the content's colors). Backend-neutral: the same code runs on the CPU and the CUDA backend.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/error.hpp"
#include "engine/image.hpp"
#include "engine/losses.hpp"
#include "engine/optimizer.hpp"
#include "engine/vgg19.hpp"
#include "weights/weights.hpp"

namespace impasto {

enum class InitKind { content, noise, style, file };
ColorSpace parse_color_space(const std::string& s);  // yuv | ycrcb | lab | luv

struct StylizeOptions {
  LossConfig loss = LossConfig::defaults();
  PoolMode pooling = PoolMode::average;
  int size = 512;              // longer side of the output; 0 keeps the content's size
  double style_scale = 1.0;    // style longer side = output longer side × style_scale (aspect kept)
  std::vector<float> style_blend_weights;  // one per style; empty = equal
  InitKind init = InitKind::content;
  std::string init_file;
  double noise_ratio = 1.0;    // noise init: ratio·noise + (1 − ratio)·content (neural-style-tf)
  std::uint64_t seed = 0;
  bool use_adam = false;
  LbfgsParams lbfgs;
  AdamParams adam;
  int iterations = 1000;
  std::optional<ColorSpace> original_colors;
};

// One line of the iteration log: the weighted loss terms at an accepted iterate.
struct IterationReport {
  int iteration = 0;
  double loss = 0, content = 0, style = 0, tv = 0;
  double seconds = 0;  // since the optimization started (targets excluded)
};

struct StylizeResult {
  Image image;                 // RGB 0..255 (colors preserved when asked)
  OptimizeResult optimizer;
  IterationReport first, last;
  double seconds = 0;          // optimization wall time
};

class Stylizer {
 public:
  // Called for every accepted iterate (iteration 0 = the initial image); `x` is the current image in
  // network space, to be turned into an RGB image with Stylizer::to_image when wanted.
  using Reporter = std::function<void(const IterationReport&, const Tensor& x)>;

  Stylizer(Backend& backend, const VggWeights& weights, StylizeOptions options);

  // content: RGB image (any size; resized to options.size), styles: one or more RGB images.
  // masks: empty, or one one-channel mask per style (masked transfer).
  StylizeResult run(const Image& content, const std::vector<Image>& styles, const std::vector<Image>& masks = {},
                    const Reporter& report = {});
  // Texture synthesis: style terms only, from noise, output h×w.
  StylizeResult synthesize(int h, int w, const std::vector<Image>& styles, const Reporter& report = {});

  // Network-space image (1,3,H,W) → RGB 0..255.
  Image to_image(const Tensor& x);
  // The output's luminance with the content's chroma (Gatys et al. 2016, "Preserving color").
  Image preserve_colors(const Image& stylized, const Image& content, ColorSpace space);

 private:
  StylizeResult optimize(Tensor& x, StyleObjective& objective, const Reporter& report);
  Tensor upload_image(const Image& rgb);
  Image fit_style(const Image& style, int out_h, int out_w) const;

  Backend& backend_;
  bool bgr_;
  StylizeOptions options_;
  Vgg19 net_;
};

// The optimization hit a non-finite loss or gradient; carries the last good image (RGB) and its iteration.
class DivergedError : public Error {
 public:
  DivergedError(const std::string& message, Image last_good) : Error(message), last_good_(std::move(last_good)) {}
  const Image& last_good() const { return last_good_; }

 private:
  Image last_good_;
};

// The deepest conv index any tap of the config uses, +1: how many weight layers to load.
int layers_needed(const LossConfig& config);

}  // namespace impasto
