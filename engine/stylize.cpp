// engine/stylize.cpp — the single-image pipeline (see stylize.hpp).
#include "engine/stylize.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/error.hpp"
#include "engine/image_optimizer.hpp"
#include "engine/photo.hpp"
#include "engine/random.hpp"
#include "kernels/color.cuh"

namespace impasto {

int layers_needed(const LossConfig& config) {
  int deepest = 0;
  for (const auto& t : config.style_layers) deepest = std::max(deepest, t.tap.conv);
  for (const auto& t : config.content_layers) deepest = std::max(deepest, t.tap.conv);
  return deepest + 1;
}

void StylizeOptions::validate() const {
  loss.validate();
  IMPASTO_CHECK(size >= 0, "--size must be >= 0");
  IMPASTO_CHECK(style_scale > 0 && std::isfinite(style_scale), "--style-scale must be > 0");
  IMPASTO_CHECK(pixel_scale > 0 && std::isfinite(pixel_scale), "pixel scale must be > 0");
  IMPASTO_CHECK(noise_ratio >= 0 && noise_ratio <= 1, "--noise-ratio must be in [0, 1]");
  IMPASTO_CHECK(iterations >= 0, "--iterations must be >= 0");
  IMPASTO_CHECK(pyramid_levels >= 1 && pyramid_levels <= 10, "--pyramid must be 1 to 10 levels, got " << pyramid_levels);
  IMPASTO_CHECK(level_iterations.empty() || int(level_iterations.size()) == pyramid_levels,
                "--pyramid-iterations: " << level_iterations.size() << " counts for " << pyramid_levels << " levels");
  for (int n : level_iterations) IMPASTO_CHECK(n >= 0, "--pyramid-iterations: " << n << " must be >= 0");
  IMPASTO_CHECK(time_limit >= 0 && std::isfinite(time_limit), "--time-limit must be >= 0 seconds");
  IMPASTO_CHECK(photo_iterations >= 0, "--photo-iterations must be >= 0");
  IMPASTO_CHECK(photo_iterations == 0 || loss.photo_weight > 0,
                "--photo-iterations " << photo_iterations << " needs a photorealism weight (--photo-weight > 0)");
  IMPASTO_CHECK(photo_smooth >= 0 && photo_smooth <= 1000, "--photo-smooth must be 0 to 1000 pixels");
  IMPASTO_CHECK(photo_smooth_eps > 0 && std::isfinite(photo_smooth_eps), "--photo-smooth-eps must be > 0");
  lbfgs.validate();
  adam.validate();
  const bool no_line_search = use_adam || lbfgs.line_search == LbfgsParams::LineSearch::none;
  IMPASTO_CHECK(loss.tv_in_total || loss.tv_weight == 0 || no_line_search,
                "a loss value that leaves TV out (--preset neural-style) needs --line-search none: a line search "
                "would test a function whose gradient it is not given");
}

Stylizer::Stylizer(Backend& backend, const VggWeights& weights, StylizeOptions options)
    : backend_(backend),
      bgr_(weights.bgr_input),
      options_(std::move(options)),
      own_net_(std::make_unique<Vgg19>(backend, weights, options_.pooling)),
      net_(*own_net_) {
  options_.validate();
}

Stylizer::Stylizer(Vgg19& net, bool bgr_input, StylizeOptions options)
    : backend_(net.backend()), bgr_(bgr_input), options_(std::move(options)), net_(net) {
  options_.validate();
  IMPASTO_CHECK(layers_needed(options_.loss) <= net_.layer_count(),
                "the network holds " << net_.layer_count() << " layers, the objective needs " << layers_needed(options_.loss));
  net_.set_pooling(options_.pooling);
}

Tensor Stylizer::upload_image(const Image& rgb) {
  return backend_.from_host(preprocess(rgb, bgr_, float(options_.pixel_scale)), Shape{1, 3, rgb.h, rgb.w});
}

Image Stylizer::to_image(const Tensor& x) {
  const auto host = backend_.to_host(x);
  return postprocess(host.data(), x.shape().h, x.shape().w, bgr_, float(options_.pixel_scale));
}

ImageSize Stylizer::style_size(const StylizeOptions& options, ImageSize style, int out_h, int out_w) {
  const double k = options.style_scale;
  switch (options.style_fit) {
    case StyleFit::stretch:
      IMPASTO_CHECK(std::max(out_h, out_w) * k <= kMaxSide, "--style-scale " << k << " makes a style more than "
                                                                            << kMaxSide << " pixels on a side");
      return {std::max(1, int(std::lround(out_h * k))), std::max(1, int(std::lround(out_w * k)))};
    case StyleFit::area:
      return area_matched_size(style, out_h, out_w, k, options.resample);
    case StyleFit::longer_side:
      break;
  }
  return resampled_size(style.h, style.w, scaled_side(std::max(out_h, out_w), k, options.resample), options.resample);
}

ImageSize Stylizer::content_size(const StylizeOptions& options, int h, int w) {
  return options.size > 0 ? resampled_size(h, w, options.size, options.resample) : ImageSize{h, w};
}

ImageSize Stylizer::texture_style_size(const StylizeOptions& options, ImageSize style, int lv_h, int lv_w, int h, int w) {
  if (!options.texture_native_scale) return style_size(options, style, lv_h, lv_w);
  const double f = double(std::max(lv_h, lv_w)) / double(std::max(h, w));
  const ImageSize shrunk{std::max(1, int(std::lround(style.h * f))), std::max(1, int(std::lround(style.w * f)))};
  return style_size(options, style, shrunk.h, shrunk.w);
}

Image Stylizer::fit_style(const Image& style, int out_h, int out_w) const {
  const ImageSize s = style_size(options_, {style.h, style.w}, out_h, out_w);
  return resample(style, s.w, s.h, options_.resample);
}

MemoryNeed Stylizer::memory_needed(const StylizeOptions& options, const RunImages& images) {
  const bool texture = images.content.h == 0;
  LossConfig config = options.loss;
  if (texture) config.content_layers.clear();
  IMPASTO_CHECK(!images.styles.empty(), "no style image given");
  const ImageSize out = texture ? ImageSize{options.size, options.size}
                                : content_size(options, images.content.h, images.content.w);
  // run_levels, level by level: the styles' targets (with the previous level's result alive), then the
  // optimization with x and the content (or init) upload, or the previous level's x.
  RunMemory run(net_, config);
  std::int64_t previous_x = 0;
  const int n_styles = int(images.styles.size());
  for (const Level& lv : plan_pyramid(options, config, out.h, out.w)) {
    for (int i = 0; i < (images.regions > 0 ? 0 : n_styles); ++i) {
      const ImageSize s = texture ? texture_style_size(options, images.styles[std::size_t(i)], lv.h, lv.w, out.h, out.w)
                                  : style_size(options, images.styles[std::size_t(i)], lv.h, lv.w);
      run.style_phase(s, {lv.h, lv.w}, i, i < images.masks, 0, float_bytes(3LL * s.h * s.w + 3 * previous_x));
    }
    const Shape x{1, 3, lv.h, lv.w};  // (1,3,H,W)
    // Region pairs: one forward of the style, then a target per region (the largest phase is the last).
    for (int r = 0; r < images.regions; ++r) {
      const ImageSize s = style_size(options, images.styles.front(), lv.h, lv.w);
      run.style_phase(s, {lv.h, lv.w}, r, true, 0, float_bytes(3LL * s.h * s.w + 3 * previous_x));
    }
    const int targets = images.regions > 0 ? images.regions : n_styles;
    const int masked = images.regions > 0 ? images.regions : images.masks;
    run.output_phase({lv.h, lv.w}, targets, masked, 0, optimizer_bytes(options.use_adam, options.lbfgs, x),
                     float_bytes(2 * x.numel()));
    previous_x = x.numel();
  }
  return run.peak();
}

Tensor noise_image(Backend& backend, NoiseKind kind, int h, int w, std::uint64_t seed, std::uint64_t stream) {
  std::vector<float> noise(std::size_t(3) * h * w);  // (3,H,W)
  if (kind == NoiseKind::uniform) {
    SplitMix64 rng(seed, stream);
    for (float& v : noise) v = float(rng.uniform() * 40.0 - 20.0);
  } else {
    NormalStream rng(seed, stream);
    for (float& v : noise) v = float(rng.normal() * 0.001);
  }
  return backend.from_host(noise, Shape{1, 3, h, w});
}

Tensor Stylizer::noise_image(int h, int w) {
  return impasto::noise_image(backend_, options_.noise, h, w, options_.seed, 0);
}

Tensor Stylizer::resize_network(const Tensor& x, int h, int w) {
  const Shape s = x.shape();
  const Image img{3, s.h, s.w, backend_.to_host(x)};  // network space: channel order and range do not matter
  return backend_.from_host(resize_area(img, w, h).data, Shape{1, 3, h, w});
}

Image luminance_rgb(const Image& rgb) {
  IMPASTO_CHECK(rgb.c == 3, "luminance: expected an RGB image, got " << rgb.c << " channel(s)");
  const std::size_t m = std::size_t(rgb.h) * rgb.w;
  Image out{3, rgb.h, rgb.w, std::vector<float>(3 * m)};  // (3,H,W), three equal channels
  for (std::size_t i = 0; i < m; ++i) {
    const float y = math::luma_601(rgb.plane(0)[i], rgb.plane(1)[i], rgb.plane(2)[i]);
    out.plane(0)[i] = out.plane(1)[i] = out.plane(2)[i] = y;
  }
  return out;
}

Image match_luminance(const Image& gray, const Image& reference) {
  auto stats = [](const Image& img) {
    const std::size_t m = std::size_t(img.h) * img.w;
    double sum = 0, sq = 0;
    for (std::size_t i = 0; i < m; ++i) sum += img.plane(0)[i];
    const double mean = sum / double(m);
    for (std::size_t i = 0; i < m; ++i) sq += (img.plane(0)[i] - mean) * (img.plane(0)[i] - mean);
    return std::pair<double, double>(mean, std::sqrt(sq / double(m)));
  };
  const auto [mean_s, std_s] = stats(gray);
  const auto [mean_c, std_c] = stats(reference);
  const double gain = std_s > 1e-6 ? std_c / std_s : 1.0;
  Image out = gray;
  for (float& v : out.data) v = float((v - mean_s) * gain + mean_c);
  return out;
}

Image preserve_colors(Backend& backend, const Image& stylized, const Image& content, ColorSpace space) {
  IMPASTO_CHECK(stylized.h == content.h && stylized.w == content.w && stylized.c == 3 && content.c == 3,
                "preserve colors: images of " << stylized.w << "x" << stylized.h << " and " << content.w << "x"
                                              << content.h << " differ in size");
  const Shape s{1, 3, stylized.h, stylized.w};  // (1,3,H,W) RGB 0..255
  Tensor out = backend.from_host(stylized.data, s);
  Tensor con = backend.from_host(content.data, s);
  backend.color_convert(out, out, space, false);
  backend.color_convert(con, con, space, false);
  // Channel 0 is the luminance: keep the output's, take the content's chroma.
  const Shape plane{1, 1, s.h, s.w};  // (1,1,H,W)
  Tensor con_luma = con.prefix(plane);
  backend.copy(out.prefix(plane), con_luma);
  backend.color_convert(con, con, space, true);
  Image result{3, s.h, s.w, backend.to_host(con)};
  for (float& v : result.data) v = std::clamp(v, 0.0f, 255.0f);
  return result;
}

std::vector<PyramidLevel> plan_pyramid(const StylizeOptions& options, const LossConfig& config, int h, int w) {
  const int n = options.pyramid_levels;
  std::vector<PyramidLevel> levels;
  const bool photo_stage = options.photo_iterations > 0;
  for (int k = 0; k < n; ++k) {
    const double f = std::ldexp(1.0, k - (n - 1));  // 1 / 2^(levels−1−k)
    levels.push_back({std::max(1, int(std::lround(h * f))), std::max(1, int(std::lround(w * f))),
                      options.level_iteration_count(k), !photo_stage});
  }
  // The coarsest level must keep at least one position at the deepest layer in use.
  const int deepest = layers_needed(config) - 1;
  int side = 1;
  for (int i = 0; i < deepest; ++i)
    if (vgg19_convs()[i].pool_after) side *= 2;
  const PyramidLevel& c = levels.front();
  IMPASTO_CHECK(std::min(c.h, c.w) >= side,
                "--pyramid " << n << ": the coarsest level, " << c.w << "x" << c.h << ", is too small for layer "
                             << vgg19_convs()[deepest].name << " (needs " << side
                             << " px a side); use fewer levels or a larger size");
  if (photo_stage) levels.push_back({h, w, options.photo_iterations, true});
  return levels;
}

StylizeResult Stylizer::run(const Image& content_in, const std::vector<Image>& styles, const std::vector<Image>& masks,
                            const Reporter& report, const std::vector<RegionPair>& regions) {
  IMPASTO_CHECK(!styles.empty(), "no style image given");
  if (!regions.empty()) {
    IMPASTO_CHECK(styles.size() == 1, "region pairs take one style image, got " << styles.size());
    IMPASTO_CHECK(masks.empty(), "region pairs and --style-mask do not go together (the regions are the masks)");
    check_regions(regions, {content_in.h, content_in.w}, {styles[0].h, styles[0].w});
  }
  IMPASTO_CHECK(masks.empty() || masks.size() == styles.size(),
                masks.size() << " style masks for " << styles.size() << " styles (give one mask per style)");
  for (std::size_t i = 0; i < masks.size(); ++i) {
    const Image& m = masks[i];
    IMPASTO_CHECK(m.c == 1 && m.h > 0 && m.w > 0 && m.data.size() == std::size_t(m.h) * m.w,
                  "style mask " << i + 1 << " must be a non-empty one-channel image");
    IMPASTO_CHECK(*std::max_element(m.data.begin(), m.data.end()) > 0,
                  "style mask " << i + 1 << " is empty (all zero): its style would apply nowhere");
  }
  const auto& blend = options_.style_blend_weights;
  IMPASTO_CHECK(blend.empty() || blend.size() == styles.size(),
                blend.size() << " style blend weights for " << styles.size() << " styles");
  const Image content = options_.size > 0 ? resize_longer_side(content_in, options_.size, options_.resample) : content_in;

  // What the network sees: the images themselves, or their luminance (styles matched to the content's).
  const Image net_content = options_.luminance_only ? luminance_rgb(content) : content;
  std::vector<Image> net_styles;
  for (const Image& s : styles)
    net_styles.push_back(options_.luminance_only ? match_luminance(luminance_rgb(s), net_content) : s);
  auto at_level = [](const Image& img, const Level& lv) {
    return img.h == lv.h && img.w == lv.w ? img : resize_area(img, lv.w, lv.h);
  };

  const TargetsFn targets = [&](StyleObjective& objective, const Level& lv) {
    if (!regions.empty()) {
      objective.add_style_regions(upload_image(fit_style(net_styles[0], lv.h, lv.w)), regions);
    } else {
      for (std::size_t i = 0; i < net_styles.size(); ++i)
        objective.add_style(upload_image(fit_style(net_styles[i], lv.h, lv.w)), blend.empty() ? 1.0f : blend[i],
                            masks.empty() ? nullptr : &masks[i]);
    }
    objective.set_content(upload_image(at_level(net_content, lv)));
    objective.set_photo_guide(at_level(content, lv), options_.pixel_scale);  // the colours, also luminance-only
  };
  const InitFn init = [&](const Level& lv) -> Tensor {
    switch (options_.init) {
      case InitKind::noise: {
        // neural-style-tf: ratio·noise + (1 − ratio)·content.
        Tensor x = noise_image(lv.h, lv.w);
        backend_.axpby(float(1.0 - options_.noise_ratio), upload_image(at_level(net_content, lv)),
                       float(options_.noise_ratio), x);
        return x;
      }
      case InitKind::style:
        return upload_image(resize_area(net_styles[0], lv.w, lv.h));
      case InitKind::file: {
        const Image file = read_image(options_.init_file);
        return upload_image(resize_area(options_.luminance_only ? luminance_rgb(file) : file, lv.w, lv.h));
      }
      case InitKind::content:
        break;
    }
    return upload_image(at_level(net_content, lv));
  };

  Tensor x;
  StylizeResult result = run_levels(plan_pyramid(options_, options_.loss, content.h, content.w), options_.loss, targets, init,
                                    report, x);
  result.image = to_image(x);
  x = Tensor();
  if (options_.photo_smooth > 0)
    result.image = guided_filter(content, result.image, options_.photo_smooth, options_.photo_smooth_eps);
  if (options_.luminance_only || options_.original_colors)
    result.image = preserve_colors(backend_, result.image, content, options_.original_colors.value_or(ColorSpace::yuv));
  result.photo_energy = content.h >= 3 && content.w >= 3
                            ? MattingTerm(backend_, content, options_.pixel_scale).energy(upload_image(result.image))
                            : std::nan("");  // no 3×3 window
  return result;
}

StylizeResult Stylizer::synthesize(int h, int w, const std::vector<Image>& styles, const Reporter& report) {
  IMPASTO_CHECK(h > 0 && w > 0, "texture size " << w << "x" << h << " is empty");
  IMPASTO_CHECK(!styles.empty(), "no style image given");
  IMPASTO_CHECK(options_.style_fit != StyleFit::stretch,
                "--style-stretch (--style-fit stretch) needs a content image (a texture keeps the style's "
                "proportions)");
  IMPASTO_CHECK(!options_.luminance_only, "--luminance-only needs a content image to take the colors from");
  IMPASTO_CHECK(options_.loss.photo_weight == 0 && options_.photo_smooth == 0,
                "the photorealism term and --photo-smooth need a content image (a texture has none)");
  const auto& blend = options_.style_blend_weights;
  IMPASTO_CHECK(blend.empty() || blend.size() == styles.size(),
                blend.size() << " style blend weights for " << styles.size() << " styles");
  LossConfig cfg = options_.loss;
  cfg.content_layers.clear();
  const TargetsFn targets = [&](StyleObjective& objective, const Level& lv) {
    // The style scaled to the level's size (or kept at its own scale): its statistics are per position.
    for (std::size_t i = 0; i < styles.size(); ++i) {
      const Image& s = styles[i];
      const ImageSize fit = texture_style_size(options_, {s.h, s.w}, lv.h, lv.w, h, w);
      objective.add_style(upload_image(resample(s, fit.w, fit.h, options_.resample)),
                          blend.empty() ? 1.0f : blend[i]);
    }
    objective.set_output_size(lv.h, lv.w);
  };
  const InitFn init = [&](const Level& lv) { return noise_image(lv.h, lv.w); };
  Tensor x;
  StylizeResult result = run_levels(plan_pyramid(options_, cfg, h, w), cfg, targets, init, report, x);
  result.image = to_image(x);
  result.photo_energy = std::nan("");
  return result;
}

StylizeResult Stylizer::run_levels(const std::vector<Level>& levels, const LossConfig& config,
                                   const TargetsFn& targets, const InitFn& init, const Reporter& report, Tensor& x) {
  start_ = std::chrono::steady_clock::now();
  StylizeResult result;
  result.optimizer.stop_reason = "max iterations";
  int offset = 0;  // iteration number of the current level's initial image
  for (std::size_t k = 0; k < levels.size(); ++k) {
    const Level& lv = levels[k];
    const auto setup_start = std::chrono::steady_clock::now();
    LossConfig level_config = limit_style_passes(config, lv.h, lv.w);
    if (!lv.photo) level_config.photo_weight = 0;
    StyleObjective objective(net_, level_config);
    targets(objective, lv);
    if (k == 0) x = init(lv);
    else if (x.shape().h != lv.h || x.shape().w != lv.w) x = resize_network(x, lv.h, lv.w);
    backend_.synchronize();  // the set-up's device work counts as set-up
    result.setup_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count();
    LevelResult level;
    level.photo_stage = k > 0 && lv.photo && !levels[k - 1].photo;
    const bool go_on = optimize(x, objective, lv.iterations, int(k), offset, k == 0, report, level);
    offset = level.last.iteration;
    result.optimizer.iterations += level.optimizer.iterations;
    result.optimizer.evaluations += level.optimizer.evaluations;
    result.optimizer.curvature_skips += level.optimizer.curvature_skips;
    result.optimizer.stop_reason = level.optimizer.stop_reason;
    result.levels.push_back(level);
    if (!go_on) break;
  }
  result.first = result.levels.front().first;
  result.last = result.levels.back().last;
  result.optimizer.final_loss = result.last.loss;
  const Level& out = levels.back();
  if (x.shape().h != out.h || x.shape().w != out.w) x = resize_network(x, out.h, out.w);  // stopped early
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return result;
}

bool Stylizer::optimize(Tensor& x, StyleObjective& objective, int iterations, int level, int offset,
                        bool report_initial, const Reporter& report, LevelResult& out) {
  bool timed_out = false;
  const ImageOptimizer::OnIteration on_iteration = [&](const IterationInfo& info, const LossTerms& t,
                                                       const Tensor& xx) {
    IterationReport r = IterationReport::of(info, t);
    r.iteration += offset;
    r.level = level;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (info.iteration == 0) out.first = r;
    out.last = r;
    if (report && (info.iteration > 0 || report_initial)) report(r, xx);
    timed_out = options_.time_limit > 0 && r.seconds >= options_.time_limit;
    return !timed_out;
  };
  out.h = x.shape().h;
  out.w = x.shape().w;
  LbfgsParams lbfgs = options_.lbfgs;
  AdamParams adam = options_.adam;
  lbfgs.max_iterations = adam.max_iterations = iterations;
  ImageOptimizer optimizer(backend_, x.shape(), options_.use_adam, lbfgs, adam);
  try {
    // The terms' values ride on the optimizer's round trip (one device→host sync per L-BFGS iteration).
    const ImageOptimizer::QueuedEvaluate f{[&](const Tensor& xx, Tensor& grad) { objective.queue(xx, grad); },
                                           [&](const double* values) { return objective.terms(values); }};
    out.optimizer = optimizer.run(x, iterations, f, on_iteration);
  } catch (const NonFiniteError& e) {
    // The optimizers restore x to the last good iterate before they throw on a non-finite value.
    throw DivergedError(e.what(), to_image(x));
  }
  if (timed_out) out.optimizer.stop_reason = "time limit";
  return !timed_out;
}

}  // namespace impasto
