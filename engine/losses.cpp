// engine/losses.cpp — the style-transfer objective (see losses.hpp and DESIGN.md "The math").
//
// Style term per layer with N channels and M positions (Gatys et al. 2016, eq. 3–5):
//   E = s·Σ(c·G − A)², G = F·Fᵀ, with (c, s) = (1, 1/(4N²M²)) for StyleForm::gatys and
//   (1/(N·M), 1/N²) for StyleForm::mean_squared; dE/dF = (dE/dG + dE/dGᵀ)·F, dE/dG = 2·s·c·(c·G − A).
// The targets A are kept per position (G_style/M_style) and rescaled to the output's M, so a style image
// of another size than the output describes the same statistics.
#include "engine/losses.hpp"

#include <algorithm>
#include <cmath>

#include "engine/error.hpp"
#include "engine/text.hpp"
#include "engine/profile.hpp"
#include "engine/style_strips.hpp"

namespace impasto {

namespace {

// Normalized layer weights (neural-style-tf) or raw ones, divided by the layer count when averaging.
double layer_factor(const std::vector<WeightedTap>& layers, const WeightedTap& t, bool average) {
  if (!average) return t.weight;
  double total = 0;
  for (const auto& l : layers) total += l.weight;
  return t.weight / total / double(layers.size());
}

}  // namespace

std::vector<WeightedTap> parse_weighted_taps(const std::string& layers, const std::string& weights,
                                             const char* what) {
  const auto names = split_list(layers);
  const auto values = split_list(weights);
  IMPASTO_CHECK(!names.empty(), what << ": no layers given");
  IMPASTO_CHECK(values.empty() || values.size() == names.size(),
                what << ": " << values.size() << " weights for " << names.size() << " layers");
  std::vector<WeightedTap> out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    WeightedTap t{parse_tap(names[i]), 1.0f};
    if (!values.empty()) {
      try {
        std::size_t used = 0;
        t.weight = std::stof(values[i], &used);
        IMPASTO_CHECK(used == values[i].size(), "");
      } catch (const std::exception&) {
        IMPASTO_FAIL(what << ": weight '" << values[i] << "' is not a number");
      }
      IMPASTO_CHECK(t.weight >= 0 && std::isfinite(t.weight), what << ": weight " << values[i] << " must be >= 0");
    }
    for (const auto& o : out)
      IMPASTO_CHECK(!(o.tap == t.tap), what << ": layer " << names[i] << " given twice");
    out.push_back(t);
  }
  return out;
}

LossConfig LossConfig::defaults() {
  LossConfig c;
  c.content_layers = parse_weighted_taps("conv4_2", "", "content layers");
  c.style_layers = parse_weighted_taps("relu1_1,relu2_1,relu3_1,relu4_1,relu5_1", "0.2,0.2,0.2,0.2,0.2", "style layers");
  return c;
}

void LossConfig::validate() const {
  IMPASTO_CHECK(content_variant >= 1 && content_variant <= 3,
                "content loss variant " << content_variant << " (expected 1, 2 or 3)");
  IMPASTO_CHECK(std::isfinite(content_weight) && content_weight >= 0, "content weight must be >= 0");
  IMPASTO_CHECK(std::isfinite(style_weight) && style_weight >= 0, "style weight must be >= 0");
  IMPASTO_CHECK(std::isfinite(tv_weight) && tv_weight >= 0, "TV weight must be >= 0");
  IMPASTO_CHECK(std::isfinite(photo_weight) && photo_weight >= 0, "photorealism weight must be >= 0");
  IMPASTO_CHECK(style_strip_rows >= 0 && style_pass_pixels >= 0, "style strip rows and pass pixels must be >= 0");
  IMPASTO_CHECK(!style_layers.empty(), "no style layers");
  auto positive_sum = [](const std::vector<WeightedTap>& v) {
    double s = 0;
    for (const auto& t : v) s += t.weight;
    return v.empty() || s > 0;
  };
  IMPASTO_CHECK(positive_sum(style_layers), "style layer weights sum to 0");
  IMPASTO_CHECK(positive_sum(content_layers), "content layer weights sum to 0");
}

StyleObjective::StyleObjective(Vgg19& net, LossConfig config)
    : net_(net), backend_(net.backend()), config_(std::move(config)) {
  config_.validate();
}

LossConfig limit_style_passes(LossConfig config, int out_h, int out_w) {
  config.style_pass_pixels = style_pass_pixels(out_h, out_w);
  return config;
}

std::vector<Tap> StyleObjective::all_taps() const {
  std::vector<Tap> taps;
  for (const auto& t : config_.style_layers) taps.push_back(t.tap);
  for (const auto& t : config_.content_layers) taps.push_back(t.tap);
  return taps;
}

std::vector<Image> StyleObjective::mask_levels(const Image& mask, int h, int w, std::vector<double>* sums) const {
  // The size of each style layer's feature map for an input of h×w (VGG-19's poolings halve, floor).
  std::vector<Image> out;
  if (sums) sums->clear();
  for (const auto& t : config_.style_layers) {
    const Shape fs = vgg19_feature_shape(t.tap, h, w);
    Image m = resize_area(mask, fs.w, fs.h);
    if (sums) {  // a region: 0..1, summed
      double sum = 0;
      for (float& v : m.data) sum += (v /= 255.0f);
      sums->push_back(sum);
    } else {
      const float peak = *std::max_element(m.data.begin(), m.data.end());
      IMPASTO_CHECK(peak > 0, "style mask is empty (all zero) at layer " << tap_name(t.tap));
      for (float& v : m.data) v /= peak;
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<Tensor> StyleObjective::mask_pyramid(const Image& mask, int h, int w, std::vector<double>* sums) {
  std::vector<Tensor> out;
  for (const Image& m : mask_levels(mask, h, w, sums))
    out.push_back(backend_.from_host(m.data, Shape{1, 1, m.h, m.w}));  // (1,1,h,w)
  return out;
}

double StyleObjective::gram_factor(const Shape& s, double positions) const {
  return config_.style_form == StyleForm::gatys ? 1.0 : 1.0 / (double(s.c) * positions);
}

double StyleObjective::style_layer_scale(const WeightedTap& t, const Shape& s, double positions) const {
  const double n = s.c, m = positions;
  const double form = config_.style_form == StyleForm::gatys ? 1.0 / (4.0 * n * n * m * m) : 1.0 / (n * n);
  return form * layer_factor(config_.style_layers, t, config_.average_layers);
}

double StyleObjective::content_scale(const WeightedTap& t, const Shape& s) const {
  const double n = s.c, m = double(s.plane());
  const double k = config_.content_variant == 1   ? 1.0 / (2.0 * std::sqrt(n) * std::sqrt(m))
                   : config_.content_variant == 2 ? 1.0 / (n * m)
                                                  : 0.5;
  return k * layer_factor(config_.content_layers, t, config_.average_layers);
}

namespace {

int deepest_style_conv(const LossConfig& config) {
  int deepest = 0;
  for (const auto& t : config.style_layers) deepest = std::max(deepest, t.tap.conv);
  return deepest;
}

// Sums over the style layers' feature maps for an input of h×w: Gram elements (N²), planes (h·w), and the
// largest Gram, plane and feature map — what the objective's buffers are sized by.
struct StyleLayerSums {
  std::int64_t grams = 0, planes = 0, max_gram = 1, max_plane = 1, max_feature = 1;
};
StyleLayerSums style_layer_sums(const LossConfig& config, int h, int w) {
  StyleLayerSums s;
  for (const auto& t : config.style_layers) {
    const Shape fs = vgg19_feature_shape(t.tap, h, w);  // (1,N,h,w)
    s.grams += std::int64_t(fs.c) * fs.c;
    s.planes += fs.plane();
    s.max_gram = std::max<std::int64_t>(s.max_gram, std::int64_t(fs.c) * fs.c);
    s.max_plane = std::max<std::int64_t>(s.max_plane, fs.plane());
    s.max_feature = std::max<std::int64_t>(s.max_feature, fs.numel());
  }
  return s;
}

// A strip's h×w weight plane at one layer: on its owned rows [lo, hi) the whole image's weights m (rows from
// first_row on; none: 1), 0 on the halos.
void owned_weights(std::vector<float>& plane, int h, int w, int lo, int hi, const Image* m, int first_row) {
  plane.assign(std::size_t(h) * w, 0.0f);
  for (int r = lo; r < hi; ++r)
    for (int c = 0; c < w; ++c)
      plane[std::size_t(r) * w + c] = m ? m->data[std::size_t(first_row + r) * w + c] : 1.0f;
}

int tallest_pass(const std::vector<StyleStrip>& strips) {
  int rows = 0;
  for (const StyleStrip& s : strips) rows = std::max(rows, s.in_end - s.in_begin);
  return rows;
}

}  // namespace

std::vector<std::vector<Tensor>> StyleObjective::style_grams(const Tensor& x,
                                                             const std::vector<std::vector<Image>>& weights) {
  const Shape s = x.shape();  // (1,3,H,W)
  std::vector<Tap> taps;
  for (const auto& t : config_.style_layers) taps.push_back(t.tap);
  const std::vector<StyleStrip> strips = style_strips(s.h, s.w, deepest_style_conv(config_), config_.style_strip_rows,
                                                       config_.style_pass_pixels);
  const bool striped = strips.size() > 1, weighted = !weights.empty();
  const std::size_t sets = weighted ? weights.size() : 1, layers = taps.size();
  std::vector<std::vector<Tensor>> grams(sets);
  for (auto& set : grams)
    for (const Tap& t : taps) {
      const int n = vgg19_feature_shape(t, s.h, s.w).c;
      set.push_back(backend_.empty(Shape{1, 1, n, n}));  // (1,1,N,N)
    }
  // Scratch, sized once by the tallest pass: the strip's rows of x, one weight plane, one weighted feature
  // map and one strip's Gram.
  const int tallest = tallest_pass(strips);
  const StyleLayerSums most = style_layer_sums(config_, tallest, s.w);
  const Tensor rows_x = striped ? backend_.empty(Shape{1, 3, tallest, s.w}) : Tensor();  // (1,3,rows,W)
  const Tensor plane = weighted || striped ? backend_.empty(Shape{1, 1, 1, int(most.max_plane)}) : Tensor();
  const Tensor product = weighted || striped ? backend_.empty_typed(Shape{1, 1, 1, int(most.max_feature)},
                                                                    backend_.activation_dtype(), Layout::nchw)
                                              : Tensor();  // the features' type (Vgg19::dtype)
  const Tensor part = striped ? backend_.empty(Shape{1, 1, 1, int(most.max_gram)}) : Tensor();
  std::vector<float> host_plane;
  int planned_rows = 0;
  for (std::size_t k = 0; k < strips.size(); ++k) {
    const StyleStrip& st = strips[k];
    const int rows = st.in_end - st.in_begin;
    Tensor xs = x;
    if (striped) {
      xs = rows_x.prefix(Shape{1, 3, rows, s.w});
      for (int c = 0; c < 3; ++c) {
        Tensor dst = xs.slice(std::int64_t(c) * rows * s.w, Shape{1, 1, rows, s.w});
        backend_.copy(x.slice((std::int64_t(c) * s.h + st.in_begin) * s.w, Shape{1, 1, rows, s.w}), dst);
      }
    }
    if (rows != planned_rows) net_.plan_forward(rows, s.w, taps);
    planned_rows = rows;
    net_.forward_taps(xs, [&](const Tap& tap, const Tensor& f) {  // f (1,N,h,w) of the strip
      const Shape fs = f.shape();
      // The strip's own rows of this layer, and where they sit in the whole image's map.
      const int pools = vgg19_pools_before(tap.conv);
      const int lo = (st.begin - st.in_begin) >> pools;
      const int hi = st.end == s.h ? fs.h : (st.end - st.in_begin) >> pools;
      const int first_row = st.in_begin >> pools;
      for (std::size_t l = 0; l < layers; ++l) {
        if (!(taps[l] == tap)) continue;
        for (std::size_t set = 0; set < sets; ++set) {
          Tensor src = f;
          if (weighted || striped) {
            owned_weights(host_plane, fs.h, fs.w, lo, hi, weighted ? &weights[set][l] : nullptr, first_row);
            Tensor m = plane.prefix(Shape{1, 1, fs.h, fs.w});  // (1,1,h,w)
            backend_.upload(host_plane.data(), m);
            src = product.prefix(fs).with_layout(f.layout());  // (1,N,h,w)
            backend_.mul_mask(f, m, src);
          }
          Tensor& g = grams[set][l];
          if (k == 0) {
            backend_.gram(src, g);
          } else {
            Tensor p = part.prefix(g.shape());  // (1,1,N,N)
            backend_.gram(src, p);
            backend_.axpy(1.0f, p, g);
          }
        }
      }
    });
  }
  return grams;
}

void StyleObjective::add_style(const Tensor& x, float blend_weight, const Image* mask) {
  IMPASTO_CHECK(std::isfinite(blend_weight) && blend_weight >= 0, "style blend weight must be >= 0");
  const Shape s = x.shape();
  StyleTarget target;
  target.blend = blend_weight;
  std::vector<std::vector<Image>> weights;
  if (mask) {
    IMPASTO_CHECK(mask->c == 1 && mask->h > 0 && mask->w > 0, "style mask must be a non-empty one-channel image");
    target.masked = true;
    target.mask = *mask;
    weights.push_back(mask_levels(*mask, s.h, s.w));
  }
  target.gram_per_position = std::move(style_grams(x, weights)[0]);
  for (std::size_t l = 0; l < config_.style_layers.size(); ++l) {
    const Shape fs = vgg19_feature_shape(config_.style_layers[l].tap, s.h, s.w);  // (1,N,h,w)
    backend_.scale(target.gram_per_position[l], float(1.0 / double(fs.plane())));
  }
  styles_.push_back(std::move(target));
}

void StyleObjective::add_style_regions(const Tensor& x, const std::vector<RegionPair>& regions) {
  IMPASTO_CHECK(!regions.empty(), "region pairs: no region given");
  const Shape s = x.shape();
  std::vector<std::vector<Image>> weights;
  std::vector<StyleTarget> targets(regions.size());
  for (std::size_t r = 0; r < regions.size(); ++r) {
    StyleTarget& target = targets[r];
    target.masked = target.region = true;
    target.mask = regions[r].content;
    weights.push_back(mask_levels(regions[r].style, s.h, s.w, &target.style_positions));
  }
  std::vector<std::vector<Tensor>> grams = style_grams(x, weights);  // the network runs once for every region
  for (std::size_t r = 0; r < regions.size(); ++r) {
    StyleTarget& target = targets[r];
    target.gram_per_position = std::move(grams[r]);
    for (std::size_t l = 0; l < config_.style_layers.size(); ++l) {  // G_style / (its masked positions)
      const double positions = target.style_positions[l];
      backend_.scale(target.gram_per_position[l], positions > 0 ? float(1.0 / positions) : 0.0f);
    }
    styles_.push_back(std::move(target));
  }
}

void StyleObjective::set_photo_guide(const Image& content, double pixel_scale) {
  if (config_.photo_weight <= 0) return;
  IMPASTO_CHECK(ready_ && content.h == h_ && content.w == w_,
                "photorealism guide of " << content.w << "x" << content.h << " for an output of " << w_ << "x" << h_);
  photo_ = std::make_unique<MattingTerm>(backend_, content, pixel_scale);
  ++generation_;
}


void StyleObjective::plan_output(int h, int w) {
  IMPASTO_CHECK(!styles_.empty(), "no style image given");
  double blend_total = 0;
  for (const auto& st : styles_) blend_total += st.blend;
  IMPASTO_CHECK(blend_total > 0, "style blend weights sum to 0");
  net_.plan(h, w, all_taps());
  ++generation_;
  h_ = h;
  w_ = w;
  // Per-layer shapes at the output size, from the plan.
  std::vector<Shape> shapes;
  for (const auto& t : config_.style_layers) shapes.push_back(vgg19_feature_shape(t.tap, h, w));  // (1,N,h,w)
  const StyleLayerSums sums = style_layer_sums(config_, h, w);
  const std::int64_t max_gram = sums.max_gram, max_feature = sums.max_feature;
  bool any_mask = false;
  for (auto& st : styles_) {
    st.output_mask.clear();
    if (st.masked) {
      st.output_mask = mask_pyramid(st.mask, h, w, st.region ? &st.output_positions : nullptr);
      any_mask = true;
    }
    st.gram.clear();
    for (std::size_t l = 0; l < shapes.size(); ++l) {
      // A_eff = c·M·(G_style/M_style), c the form's Gram factor; a region counts its masked positions.
      const double positions = st.region ? st.output_positions[l] : double(shapes[l].plane());
      Tensor a = backend_.empty(st.gram_per_position[l].shape());
      backend_.copy(st.gram_per_position[l], a);
      backend_.scale(a, positions > 0 ? float(gram_factor(shapes[l], positions) * positions) : 0.0f);
      st.gram.push_back(a);
    }
  }
  fold_style_targets();
  gram_ = backend_.empty(Shape{1, 1, 1, int(max_gram)});
  // dL/dG per style layer and Gram (the unmasked styles' shared one, then each masked style's), kept from the
  // losses to the backward pass: one buffer, sliced.
  plain_gram_ = false;
  for (const auto& st : styles_) plain_gram_ |= !st.masked;
  grams_per_layer_ = plain_gram_ ? 1 : 0;
  for (auto& st : styles_) st.gram_slot = st.masked ? grams_per_layer_++ : 0;
  gram_grads_.clear();
  const Tensor dgrams = backend_.empty(Shape{1, 1, 1, int(std::max<std::int64_t>(1, sums.grams * grams_per_layer_))});
  std::int64_t offset = 0;
  for (std::size_t l = 0; l < shapes.size(); ++l)
    for (int k = 0; k < grams_per_layer_; ++k) {
      const Shape gs{1, 1, shapes[l].c, shapes[l].c};  // (1,1,N,N)
      gram_grads_.push_back(dgrams.slice(offset, gs));
      offset += gs.numel();
    }
  const Shape features{1, 1, 1, int(max_feature)};  // of the features' type
  masked_ = any_mask ? backend_.empty_typed(features, net_.dtype(), net_.layout()) : Tensor();
  masked_grad_ = any_mask ? backend_.empty_typed(features, net_.dtype(), net_.layout()) : Tensor();
  content_targets_.clear();
  ready_ = true;
}

void StyleObjective::fold_style_targets() {
  StyleTarget* first = nullptr;
  double total = 0;  // the unmasked styles' weight
  for (auto& st : styles_) {
    st.term_blend = st.blend;
    st.folded = false;
    if (st.masked) continue;
    total += st.blend;
    if (first == nullptr) first = &st;
  }
  if (!config_.blend_style_targets || first == nullptr || total <= 0) return;
  // A = Σᵢ (wᵢ/W)·Aᵢ into the first unmasked style's targets (its own Aᵢ first, scaled; then the others').
  for (std::size_t l = 0; l < first->gram.size(); ++l) backend_.scale(first->gram[l], float(first->blend / total));
  for (auto& st : styles_) {
    if (st.masked || &st == first) continue;
    for (std::size_t l = 0; l < st.gram.size(); ++l) backend_.axpy(float(st.blend / total), st.gram[l], first->gram[l]);
    st.folded = true;
  }
  first->term_blend = float(total);
}

std::size_t StyleObjective::output_bytes(const LossConfig& config, int h, int w, int styles, int masked_styles,
                                         DType values) {
  // What plan_output and set_content allocate, layer by layer, plus the styles' per-position Grams.
  const StyleLayerSums s = style_layer_sums(config, h, w);
  std::size_t content = 0;  // the content targets
  for (const auto& t : config.content_layers) content += storage_bytes(vgg19_feature_shape(t.tap, h, w).numel(), values);
  const std::int64_t floats = 2 * s.grams * styles                      // G_style/M_style and the target, per style
                              + s.planes * masked_styles                 // the output-size mask pyramids
                              + s.max_gram                               // gram_
                              + std::max<std::int64_t>(1, s.grams * (masked_styles + (styles > masked_styles ? 1 : 0)));  // gram_grads_
  const std::size_t masked = masked_styles > 0 ? 2 * storage_bytes(s.max_feature, values) : 0;  // masked_, masked_grad_
  const std::size_t photo = config.photo_weight > 0 && !config.content_layers.empty() ? MattingTerm::bytes(h, w) : 0;
  return std::size_t(floats) * sizeof(float) + masked + content + photo;
}

std::size_t StyleObjective::add_style_bytes(const LossConfig& config, int h, int w, int earlier_styles, bool masked,
                                            DType values) {
  // The Grams of the styles added before and this style's, and style_grams' scratch: with a mask or in strips
  // one weight plane and one weighted feature map; in strips also the strip's rows of x and one strip's Gram.
  const StyleLayerSums s = style_layer_sums(config, h, w);
  const std::vector<StyleStrip> strips = style_strips(h, w, deepest_style_conv(config), config.style_strip_rows, config.style_pass_pixels);
  const bool striped = strips.size() > 1;
  const int tallest = tallest_pass(strips);
  const StyleLayerSums most = style_layer_sums(config, tallest, w);
  std::int64_t floats = s.grams * (earlier_styles + 1);
  std::size_t product = 0;  // one weighted feature map
  if (masked || striped) {
    floats += most.max_plane;
    product = storage_bytes(most.max_feature, values);
  }
  if (striped) floats += 3LL * tallest * w + most.max_gram;
  return std::size_t(floats) * sizeof(float) + product;
}

std::vector<int> StyleObjective::style_pass_rows(const LossConfig& config, int h, int w) {
  std::vector<int> rows;
  for (const StyleStrip& s : style_strips(h, w, deepest_style_conv(config), config.style_strip_rows, config.style_pass_pixels))
    rows.push_back(s.in_end - s.in_begin);
  return rows;
}

void StyleObjective::set_content(const Tensor& x) {
  const Shape s = x.shape();
  IMPASTO_CHECK(s.n == 1 && s.c == 3, "content must be (1,3,H,W), got " << s.str());
  // A new content of the planned size (the next video frame) reuses the plan and the target buffers.
  const bool reuse = ready_ && s.h == h_ && s.w == w_ && content_targets_.size() == config_.content_layers.size();
  if (!reuse) plan_output(s.h, s.w);
  net_.forward(x);
  for (std::size_t l = 0; l < config_.content_layers.size(); ++l) {
    const Tensor& f = net_.feature(config_.content_layers[l].tap);
    if (!reuse) content_targets_.push_back(backend_.empty_typed(f.shape(), f.dtype(), f.layout()));  // (1,C,h,w)
    backend_.copy(f, content_targets_[l]);
  }
}

void StyleObjective::set_output_size(int h, int w) { plan_output(h, w); }

void StyleObjective::queue_term(TermKind kind, double value) {
  IMPASTO_ASSERT(value == 0.0 && queued_ < Backend::kMaxDeferred);  // deferred: the value comes later
  term_kind_[std::size_t(queued_++)] = static_cast<unsigned char>(kind);
}

bool StyleObjective::term_at(const StyleTarget& st, std::size_t l) const {
  if (st.masked) return !(st.region && (st.output_positions[l] <= 0 || st.style_positions[l] <= 0));  // vanished here
  return !st.folded;
}

void StyleObjective::style_terms() {
  // Per layer, the unmasked styles share one Gram; each masked style (and region) has its own. The losses are
  // queued and dL/dG is kept per layer and Gram (gram_grads_); the backward pass turns it into dL/dF when it
  // reaches the layer (tap_gradient).
  double blend_total = 0;
  for (const auto& st : styles_) blend_total += st.blend;
  for (std::size_t l = 0; l < config_.style_layers.size(); ++l) {
    const WeightedTap& t = config_.style_layers[l];
    const Tensor& f = net_.feature(t.tap);  // (1,N,h,w)
    const Shape fs = f.shape();
    const Shape gs{1, 1, fs.c, fs.c};
    Tensor g = gram_.prefix(gs);  // (1,1,N,N)
    const double plane = double(fs.plane());
    const double layer_scale = config_.style_weight * style_layer_scale(t, fs, plane);
    // Queues the loss of style `st` on the Gram in g and leaves dL/dG·c in dg. A region's term is normalized
    // by its masked positions and weighs their share of the layer (Luan et al.'s StyleLossWithSeg).
    auto style_term = [&](const StyleTarget& st, Tensor& dg) {
      double term_scale = layer_scale * st.term_blend / blend_total;
      if (st.region) {
        const double m = st.output_positions[l];
        term_scale = config_.style_weight * style_layer_scale(t, fs, m) * (m / plane);
      }
      queue_term(TermKind::style, backend_.sq_diff_loss(g, st.gram[l], nullptr, float(term_scale), &dg));
    };
    if (plain_gram_) {
      Tensor& dg = gram_grads_[gram_index(l, 0)];
      const float c = float(gram_factor(fs, plane));
      backend_.gram(f, g);
      backend_.scale(g, c);
      backend_.fill(dg, 0.0f);
      for (const auto& st : styles_)
        if (!st.masked && term_at(st, l)) style_term(st, dg);
      backend_.scale(dg, c);
    }
    for (const auto& st : styles_) {
      if (!st.masked || !term_at(st, l)) continue;
      Tensor& dg = gram_grads_[gram_index(l, st.gram_slot)];
      const float c = float(gram_factor(fs, st.region ? st.output_positions[l] : plane));
      Tensor fm = masked_.prefix(fs).with_layout(f.layout());  // (1,N,h,w)
      backend_.mul_mask(f, st.output_mask[l], fm);
      backend_.gram(fm, g);
      backend_.scale(g, c);
      backend_.fill(dg, 0.0f);
      style_term(st, dg);
      backend_.scale(dg, c);
    }
  }
}

void StyleObjective::tap_gradient(const Tap& tap, Tensor& d, bool accumulate) {
  // d (1,N,h,w) += dL/dF of every term at this tap: (dG + dGᵀ)·F per Gram (masked: through the mask), then
  // the content terms α·(layer factor)·K·2(F − P). The first write overwrites unless `accumulate`.
  bool add = accumulate;
  for (std::size_t l = 0; l < config_.style_layers.size(); ++l) {
    if (!(config_.style_layers[l].tap == tap)) continue;
    const Tensor& f = net_.feature(tap);
    const Shape fs = f.shape();
    if (plain_gram_) {
      backend_.gram_backward(gram_grads_[gram_index(l, 0)], f, d, add ? 1.0f : 0.0f);
      add = true;
    }
    for (const auto& st : styles_) {
      if (!st.masked || !term_at(st, l)) continue;
      const Tensor& dg = gram_grads_[gram_index(l, st.gram_slot)];
      Tensor fm = masked_.prefix(fs).with_layout(f.layout());        // (1,N,h,w)
      Tensor dfm = masked_grad_.prefix(fs).with_layout(f.layout());  // (1,N,h,w)
      backend_.mul_mask(f, st.output_mask[l], fm);
      backend_.gram_backward(dg, fm, dfm, 0.0f);
      backend_.mul_mask(dfm, st.output_mask[l], dfm);
      if (add) backend_.axpy(1.0f, dfm, d);
      else backend_.copy(dfm, d);
      add = true;
    }
  }
  for (std::size_t l = 0; l < content_targets_.size(); ++l) {
    const WeightedTap& t = config_.content_layers[l];
    if (!(t.tap == tap)) continue;
    const Tensor& f = net_.feature(t.tap);
    if (!add) backend_.fill(d, 0.0f);
    add = true;
    const double scale = config_.content_weight * content_scale(t, f.shape());
    queue_term(TermKind::content, backend_.sq_diff_loss(f, content_targets_[l], nullptr, float(scale), &d));
  }
  if (!add) backend_.fill(d, 0.0f);  // a tap no term reaches now (a region that vanished at this layer)
}

LossTerms StyleObjective::evaluate(const Tensor& x, Tensor& grad) {
  queue(x, grad);
  const int n = backend_.take_deferred(term_values_.data());
  IMPASTO_ASSERT(n == queued_);
  return terms(term_values_.data());
}

void StyleObjective::queue(const Tensor& x, Tensor& grad) {
  IMPASTO_CHECK(ready_, "StyleObjective::evaluate before set_content / set_output_size");
  // Every loss term's value is queued on the backend and read back once at the end (one device→host
  // transfer per evaluation instead of one per term); term_kind_ says which sum each queued value joins.
  backend_.begin_deferred();
  try {
    Recorded* r = recorded_for(x, grad);
    if (r != nullptr && r->recording) {
      ProfileRange phase("replay");
      backend_.replay(*r->recording);
      queued_ = r->queued;  // term_kind_ is as the recorded run left it
      ++replays_;
    } else if (r != nullptr && r->recordable && r->eager_runs > 0) {
      r->recording = backend_.record([&] { queue_work(x, grad); });
      r->recordable = r->recording != nullptr;
      r->queued = queued_;
    } else {
      queue_work(x, grad);
      if (r != nullptr) ++r->eager_runs;
    }
  } catch (...) {
    backend_.cancel_deferred();  // the queue is the caller's only when queue() returns
    throw;
  }
}

StyleObjective::Recorded* StyleObjective::recorded_for(const Tensor& x, const Tensor& grad) {
  if (phase_observer() != nullptr) return nullptr;  // it synchronizes at every phase boundary
  const RecordKey key{x.data(), grad.data(), net_.generation(), generation_, backend_.workspace_generation(),
                      backend_.precision()};
  for (Recorded& r : recorded_)
    if (r.key == key) return &r;
  if (recorded_.size() == kMaxRecorded) recorded_.erase(recorded_.begin());  // the oldest key
  recorded_.push_back(Recorded{key, 0, true, nullptr, 0});
  return &recorded_.back();
}

void StyleObjective::queue_work(const Tensor& x, Tensor& grad) {
  queued_ = 0;
  ProfileRange phase("forward");  // NVTX ranges / phase timing (engine/profile.hpp)
  net_.forward(x);
  phase.next("losses");
  style_terms();
  phase.next("backward");  // the content terms' values come with their gradients, inside the backward pass
  net_.backward(grad, [this](const Tap& tap, Tensor& d, bool accumulate) { tap_gradient(tap, d, accumulate); });
  phase.next("tv");
  if (config_.tv_weight > 0)
    queue_term(TermKind::tv, backend_.tv_loss(x, config_.tv_mode, float(config_.tv_weight), &grad));
  if (photo_) {
    phase.next("photo");
    queue_term(TermKind::photo, photo_->add(x, config_.photo_weight, grad));
  }
}

LossTerms StyleObjective::terms(const double* values) const {
  LossTerms terms;
  for (int i = 0; i < queued_; ++i) {
    const double v = values[i];
    switch (TermKind(term_kind_[std::size_t(i)])) {
      case TermKind::content: terms.content += v; break;
      case TermKind::style: terms.style += v; break;
      case TermKind::tv: terms.tv += v; break;
      case TermKind::photo: terms.photo += v; break;
    }
  }
  terms.total = terms.content + terms.style + (config_.tv_in_total ? terms.tv : 0.0) + terms.photo;
  return terms;
}

}  // namespace impasto
