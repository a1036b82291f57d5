// engine/stylize.cpp — the single-image pipeline (see stylize.hpp).
#include "engine/stylize.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>

#include "engine/error.hpp"
#include "engine/random.hpp"

namespace impasto {

ColorSpace parse_color_space(const std::string& s) {
  if (s == "yuv") return ColorSpace::yuv;
  if (s == "ycrcb") return ColorSpace::ycrcb;
  if (s == "lab") return ColorSpace::lab;
  if (s == "luv") return ColorSpace::luv;
  IMPASTO_FAIL("unknown color space '" << s << "' (expected yuv, ycrcb, lab or luv)");
}

int layers_needed(const LossConfig& config) {
  int deepest = 0;
  for (const auto& t : config.style_layers) deepest = std::max(deepest, t.tap.conv);
  for (const auto& t : config.content_layers) deepest = std::max(deepest, t.tap.conv);
  return deepest + 1;
}

Stylizer::Stylizer(Backend& backend, const VggWeights& weights, StylizeOptions options)
    : backend_(backend), bgr_(weights.bgr_input), options_(std::move(options)), net_(backend, weights, options_.pooling) {
  options_.loss.validate();
  IMPASTO_CHECK(options_.size >= 0, "--size must be >= 0");
  IMPASTO_CHECK(options_.style_scale > 0 && std::isfinite(options_.style_scale), "--style-scale must be > 0");
  IMPASTO_CHECK(options_.noise_ratio >= 0 && options_.noise_ratio <= 1, "--noise-ratio must be in [0, 1]");
  IMPASTO_CHECK(options_.iterations >= 0, "--iterations must be >= 0");
  options_.lbfgs.max_iterations = options_.iterations;
  options_.adam.max_iterations = options_.iterations;
  options_.lbfgs.validate();
  options_.adam.validate();
}

Tensor Stylizer::upload_image(const Image& rgb) {
  return backend_.from_host(preprocess(rgb, bgr_), Shape{1, 3, rgb.h, rgb.w});  // (1,3,H,W)
}

Image Stylizer::to_image(const Tensor& x) {
  const auto host = backend_.to_host(x);
  return postprocess(host.data(), x.shape().h, x.shape().w, bgr_);
}

Image Stylizer::fit_style(const Image& style, int out_h, int out_w) const {
  const int longer = int(std::lround(std::max(out_h, out_w) * options_.style_scale));
  return resize_longer_side(style, std::max(longer, 1));
}

Image Stylizer::preserve_colors(const Image& stylized, const Image& content, ColorSpace space) {
  IMPASTO_ASSERT(stylized.h == content.h && stylized.w == content.w && stylized.c == 3 && content.c == 3);
  const Shape s{1, 3, stylized.h, stylized.w};  // (1,3,H,W) RGB 0..255
  Tensor out = backend_.from_host(stylized.data, s);
  Tensor con = backend_.from_host(content.data, s);
  backend_.color_convert(out, out, space, false);
  backend_.color_convert(con, con, space, false);
  // Channel 0 is the luminance: keep the output's, take the content's chroma.
  const Shape plane{1, 1, s.h, s.w};  // (1,1,H,W)
  Tensor con_luma = con.prefix(plane);
  backend_.copy(out.prefix(plane), con_luma);
  backend_.color_convert(con, con, space, true);
  Image result{3, s.h, s.w, backend_.to_host(con)};
  for (float& v : result.data) v = std::clamp(v, 0.0f, 255.0f);
  return result;
}

StylizeResult Stylizer::run(const Image& content_in, const std::vector<Image>& styles, const std::vector<Image>& masks,
                            const Reporter& report) {
  IMPASTO_CHECK(!styles.empty(), "no style image given");
  IMPASTO_CHECK(masks.empty() || masks.size() == styles.size(),
                masks.size() << " style masks for " << styles.size() << " styles (give one mask per style)");
  const auto& blend = options_.style_blend_weights;
  IMPASTO_CHECK(blend.empty() || blend.size() == styles.size(),
                blend.size() << " style blend weights for " << styles.size() << " styles");
  const Image content = options_.size > 0 ? resize_longer_side(content_in, options_.size) : content_in;

  StyleObjective objective(net_, options_.loss);
  for (std::size_t i = 0; i < styles.size(); ++i) {
    Tensor s = upload_image(fit_style(styles[i], content.h, content.w));
    objective.add_style(s, blend.empty() ? 1.0f : blend[i], masks.empty() ? nullptr : &masks[i]);
  }
  Tensor content_x = upload_image(content);  // (1,3,H,W)
  objective.set_content(content_x);

  Tensor x = backend_.empty(content_x.shape());  // (1,3,H,W) the image being optimized
  switch (options_.init) {
    case InitKind::content:
      backend_.copy(content_x, x);
      break;
    case InitKind::noise: {
      // neural-style-tf: uniform noise in [−20, 20) blended with the content.
      SplitMix64 rng(options_.seed, 0);
      std::vector<float> noise(std::size_t(x.numel()));
      for (float& v : noise) v = float(rng.uniform() * 40.0 - 20.0);
      backend_.upload(noise.data(), x);
      backend_.axpby(float(1.0 - options_.noise_ratio), content_x, float(options_.noise_ratio), x);
      break;
    }
    case InitKind::style: {
      Image s = resize_area(styles[0], content.w, content.h);
      Tensor t = upload_image(s);
      backend_.copy(t, x);
      break;
    }
    case InitKind::file: {
      Image init = read_image(options_.init_file);
      Tensor t = upload_image(resize_area(init, content.w, content.h));
      backend_.copy(t, x);
      break;
    }
  }

  StylizeResult result = optimize(x, objective, report);
  result.image = to_image(x);
  if (options_.original_colors) result.image = preserve_colors(result.image, content, *options_.original_colors);
  return result;
}

StylizeResult Stylizer::synthesize(int h, int w, const std::vector<Image>& styles, const Reporter& report) {
  IMPASTO_CHECK(h > 0 && w > 0, "texture size " << w << "x" << h << " is empty");
  IMPASTO_CHECK(!styles.empty(), "no style image given");
  LossConfig cfg = options_.loss;
  cfg.content_layers.clear();
  StyleObjective objective(net_, cfg);
  for (std::size_t i = 0; i < styles.size(); ++i) {
    // A texture keeps the style's own scale (× style_scale): its statistics are per position.
    Tensor s = upload_image(fit_style(styles[i], styles[i].h, styles[i].w));
    objective.add_style(s, options_.style_blend_weights.empty() ? 1.0f : options_.style_blend_weights.at(i));
  }
  objective.set_output_size(h, w);
  Tensor x = backend_.empty(Shape{1, 3, h, w});
  SplitMix64 rng(options_.seed, 0);
  std::vector<float> noise(std::size_t(x.numel()));
  for (float& v : noise) v = float(rng.uniform() * 40.0 - 20.0);
  backend_.upload(noise.data(), x);
  StylizeResult result = optimize(x, objective, report);
  result.image = to_image(x);
  return result;
}

StylizeResult Stylizer::optimize(Tensor& x, StyleObjective& objective, const Reporter& report) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  // The terms of the last few evaluations, to name the terms of the iterate the optimizer accepts (a line
  // search may evaluate points it then rejects). Fixed size: nothing allocates in the loop.
  std::array<LossTerms, 32> recent{};  // > the 25 evaluations a line search may make
  std::size_t recent_count = 0;
  Objective f = [&](const Tensor& xx, Tensor& grad) {
    const LossTerms t = objective.evaluate(xx, grad);
    recent[recent_count++ % recent.size()] = t;
    return t.total;
  };
  StylizeResult result;
  IterationCallback callback = [&](const IterationInfo& info, const Tensor& xx) {
    IterationReport r;
    r.iteration = info.iteration;
    r.loss = info.loss;
    for (std::size_t k = 0; k < std::min(recent_count, recent.size()); ++k) {
      const LossTerms& t = recent[(recent_count - 1 - k) % recent.size()];
      if (t.total == info.loss) {
        r.content = t.content;
        r.style = t.style;
        r.tv = t.tv;
        break;
      }
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (info.iteration == 0) result.first = r;
    result.last = r;
    if (report) report(r, xx);
    return true;
  };
  try {
    if (options_.use_adam) {
      Adam adam(backend_, x.shape(), options_.adam);
      result.optimizer = adam.minimize(x, f, callback);
    } else {
      Lbfgs lbfgs(backend_, x.shape(), options_.lbfgs);
      result.optimizer = lbfgs.minimize(x, f, callback);
    }
  } catch (const NonFiniteError& e) {
    // The optimizers restore x to the last good iterate before they throw on a non-finite value.
    throw DivergedError(e.what(), to_image(x));
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace impasto
