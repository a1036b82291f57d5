// engine/losses.hpp — the style-transfer objective of DESIGN.md "The math": content, style (several styles
// with blend weights, optional per-style masks), total variation; targets computed once per image, then one
// evaluate() per optimizer step runs VGG-19 forward, the loss terms with their gradients, VGG-19 backward
// and the TV term. Nothing allocates in evaluate().
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/image.hpp"
#include "engine/photo.hpp"
#include "engine/vgg19.hpp"

namespace impasto {

struct WeightedTap {
  Tap tap;
  float weight = 1.0f;
};
// "relu1_1,relu2_1" and "1,2" (or empty: equal weights) → taps with weights; counts must match.
std::vector<WeightedTap> parse_weighted_taps(const std::string& layers, const std::string& weights,
                                             const char* what);

// How the style term is normalized.
enum class StyleForm {
  gatys,        // E = 1/(4N²M²)·Σ(G−A)², G = F·Fᵀ (Gatys et al. 2016, eq. 4; neural-style-tf)
  mean_squared  // G = F·Fᵀ/(N·M), E = Σ(G−A)²/N² (jcjohnson/neural-style's GramMatrix + MSECriterion)
};
template <>
struct EnumNames<StyleForm> {
  static constexpr const char* what = "style form";
  static constexpr EnumName<StyleForm> table[] = {{StyleForm::gatys, "gatys"}, {StyleForm::mean_squared, "mean_squared"}};
};

struct LossConfig {
  std::vector<WeightedTap> content_layers;  // default conv4_2
  std::vector<WeightedTap> style_layers;    // default relu1_1 … relu5_1
  // 1: K = 1/(2√N√M), 2: K = 1/(N·M), 3: K = 1/2 (neural-style-tf's --content_loss_function).
  int content_variant = 1;
  double content_weight = 5.0, style_weight = 1e4, tv_weight = 1e-3;
  TvMode tv_mode = TvMode::l1;
  StyleForm style_form = StyleForm::gatys;
  // true (neural-style-tf): layer weights normalized to sum 1 and each term divided by the layer count;
  // false (neural-style): raw layer weights, plain sums.
  bool average_layers = true;
  // Several unmasked styles: false (neural-style-tf) sums the per-style losses Σᵢ wᵢ·E(G, Aᵢ); true
  // (jcjohnson/neural-style, neural-style-pt) compares G with one blended target, E(G, Σᵢ wᵢ·Aᵢ) (weights
  // normalized either way: the gradients agree, the loss values differ by a constant).
  bool blend_style_targets = false;
  // false (jcjohnson/neural-style): TV acts through its gradient only; the loss value (the one the optimizer
  // and the log see) counts the other terms, and LossTerms::tv still reports TV's value beside them.
  bool tv_in_total = true;
  // λ of the photorealism term λ·Σ_c V_cᵀ·L·V_c (Luan et al. 2017; L the content's matting Laplacian, V the
  // output on a 0..1 scale); 0: off.
  double photo_weight = 0;
  // How a style image goes through VGG-19 for its Grams (engine/style_strips.hpp), not user options:
  // style_pass_pixels, the most pixels one pass may cover (style_pass_pixels(): 1.5× the output's, set by whoever
  // knows the output's size; 0: no limit but 2^31 values per feature map); style_strip_rows > 0, strips that own
  // that many rows (tests, to hold strips to one pass).
  std::int64_t style_pass_pixels = 0;
  int style_strip_rows = 0;
  void validate() const;  // throws Error naming the bad field
  static LossConfig defaults();
};

// `config` with style_pass_pixels set for an out_h×out_w output: what the objectives of a run and its memory
// estimate are made with.
LossConfig limit_style_passes(LossConfig config, int out_h, int out_w);

// Loss terms as weighted contributions: total = content + style + tv + photo (tv only when
// LossConfig::tv_in_total) + temporal (video: added by its objective, engine/video.cpp).
struct LossTerms {
  double total = 0, content = 0, style = 0, tv = 0, photo = 0, temporal = 0;
};

class StyleObjective {
 public:
  StyleObjective(Vgg19& net, LossConfig config);

  // Style targets: x (1,3,Hs,Ws) preprocessed; its Gram per style layer is stored per position (G/Ms) so a
  // style image of another size than the output expresses the same statistics. `mask` (one channel, any
  // size, optional) weights where this style applies (masked transfer, DESIGN.md): it is resized to every
  // style layer (area), divided by its maximum, and multiplies both the style's and the output's features
  // before their Grams.
  void add_style(const Tensor& x, float blend_weight, const Image* mask = nullptr);
  // Region pairs (Luan et al. 2017, the augmented style loss), instead of add_style: one style image x
  // (1,3,Hs,Ws) and per region a mask on the style and one on the output (RegionPair, any sizes: each is
  // area-resized to every style layer). Per region and layer the Gram of the style features masked by the
  // style-side mask, normalized by the mask's sum, is the target of the Gram of the output features masked by
  // the output-side mask, normalized by its sum, and the term weighs that mask's share of the layer. A region
  // whose mask vanishes at a layer has no term there.
  void add_style_regions(const Tensor& x, const std::vector<RegionPair>& regions);
  // The photorealism term's guide (LossConfig::photo_weight > 0; ignored otherwise): the content (RGB
  // 0..255) at the output size; pixel_scale as StylizeOptions'. Call after set_content.
  void set_photo_guide(const Image& content, double pixel_scale);
  // Content target at the output size; plans the network for generation. Call after every add_style. A later
  // call with a content of the same size (the next video frame) only replaces the target: nothing allocates.
  void set_content(const Tensor& x);
  // Texture synthesis: no content term; plans the network for an output of h×w.
  void set_output_size(int h, int w);

  // L(x) and dL/dx (grad overwritten), x (1,3,H,W) preprocessed. Needs set_content or set_output_size.
  // One device→host round trip for all the terms' values.
  LossTerms evaluate(const Tensor& x, Tensor& grad);
  // evaluate() in two phases (the QueuedObjective protocol of engine/optimizer.hpp), so that the optimizer's
  // scalars join the terms' values in one round trip: queue() opens the backend's deferral and leaves the
  // values queued in it; terms(values) sums the first values taken from it into the terms.
  void queue(const Tensor& x, Tensor& grad);
  LossTerms terms(const double* values) const;

  // Memory (bytes, without the network's plan) that set_content / set_output_size hold for an output of h×w
  // with `styles` styles of which `masked_styles` have masks: the style targets, mask pyramids, loss scratch
  // and content targets; feature-sized buffers hold `values` (the backend's activation_dtype()).
  static std::size_t output_bytes(const LossConfig& config, int h, int w, int styles, int masked_styles,
                                  DType values);
  // Memory (bytes, without the network's plan) held while add_style runs on an h×w style image after
  // `earlier_styles` others.
  static std::size_t add_style_bytes(const LossConfig& config, int h, int w, int earlier_styles, bool masked,
                                     DType values);
  // The heights of the passes through VGG-19 that add_style makes for an h×w style image, one per strip
  // ({h} when the image goes through at once): the style phase's network plans.
  static std::vector<int> style_pass_rows(const LossConfig& config, int h, int w);

  int height() const { return h_; }
  int width() const { return w_; }
  const LossConfig& config() const { return config_; }
  // Evaluations replayed from a recording of their device work so far (CUDA graphs: queue() records its work
  // on the second evaluation at the same x and gradient buffers and replays it from the third on; never on the
  // CPU, nor while a PhaseObserver times the phases).
  std::int64_t replays() const { return replays_; }

 private:
  struct StyleTarget {
    float blend = 1.0f;
    // With blend_style_targets, plan_output folds the unmasked styles into the first one's target: that one
    // then weighs term_blend (their total weight) and the others are `folded` (no term of their own).
    float term_blend = 1.0f;
    bool folded = false;
    std::vector<Tensor> gram_per_position;  // per style layer (1,1,N,N): G_style / M_style
    std::vector<Tensor> gram;               // per style layer (1,1,N,N): the target at the output size
    bool masked = false;
    int gram_slot = 0;                      // its dL/dG in gram_grads_: gram_index(layer, gram_slot)
    Image mask;                             // (1,Hm,Wm) as given (a region: its output-side mask)
    std::vector<Tensor> output_mask;        // per style layer (1,1,h,w) at the output size
    // Region pairs: the masks are not normalized; the Grams are per masked position (the masks' sums per
    // layer, on the style side and at the output size).
    bool region = false;
    std::vector<double> style_positions, output_positions;
  };
  void plan_output(int h, int w);
  void fold_style_targets();  // blend_style_targets: one target for the unmasked styles (see StyleTarget)
  std::vector<Tap> all_taps() const;
  // mask → per style layer (1,1,h,w) for an input of h×w: area-resized and divided by its maximum (masked
  // styles), or area-resized only with each layer's sum in *sums (region pairs). mask_levels keeps them on
  // the host (one h×w plane each).
  std::vector<Image> mask_levels(const Image& mask, int h, int w, std::vector<double>* sums = nullptr) const;
  std::vector<Tensor> mask_pyramid(const Image& mask, int h, int w, std::vector<double>* sums = nullptr);
  // The unnormalized Gram Σ_p (f_p·m_p)(f_p·m_p)ᵀ of x's features at each style layer, for each set of
  // weights m (mask_levels of x's size; none: one set, m = 1): grams[set][layer] (1,1,N,N). x goes through
  // the network in strips where style_strips says so.
  std::vector<std::vector<Tensor>> style_grams(const Tensor& x, const std::vector<std::vector<Image>>& weights);
  double content_scale(const WeightedTap& t, const Shape& s) const;
  // The style term's factors at a layer of shape s whose Gram counts `positions` positions (the plane's, or a
  // region's masked ones).
  double style_layer_scale(const WeightedTap& t, const Shape& s, double positions) const;
  double gram_factor(const Shape& s, double positions) const;

  Vgg19& net_;
  Backend& backend_;
  LossConfig config_;
  std::vector<StyleTarget> styles_;
  std::vector<Tensor> content_targets_;  // per content layer (1,C,h,w)
  Tensor gram_;                          // scratch (1,1,1,max N²): G of the layer at hand
  // dL/dG (1,1,N,N) per style layer and Gram, index gram_index(layer, StyleTarget::gram_slot): slot 0 the
  // unmasked styles' shared Gram when plain_gram_, then one per masked style.
  std::vector<Tensor> gram_grads_;
  bool plain_gram_ = false;
  int grams_per_layer_ = 0;
  std::size_t gram_index(std::size_t layer, int k) const { return layer * std::size_t(grams_per_layer_) + std::size_t(k); }
  Tensor masked_, masked_grad_;          // scratch (1,1,1,max N·M) for masked styles
  std::unique_ptr<MattingTerm> photo_;   // the photorealism term at the output size (photo_weight > 0)
  int h_ = 0, w_ = 0;
  bool ready_ = false;
  // queue() / evaluate(): the loss values read back at once and the term each belongs to (fixed size: no
  // allocation).
  enum class TermKind : unsigned char { content, style, tv, photo };
  std::array<double, Backend::kMaxDeferred> term_values_{};
  std::array<unsigned char, Backend::kMaxDeferred> term_kind_{};
  int queued_ = 0;
  void queue_term(TermKind kind, double value);  // a deferred loss value (0 now) of this kind
  // Whether style `st` has a term at style layer l (folded styles share the first's; a region may vanish).
  bool term_at(const StyleTarget& st, std::size_t l) const;
  void queue_work(const Tensor& x, Tensor& grad);  // queue()'s device work: forward, losses, backward, TV, photo
  void style_terms();  // evaluate()'s style terms: losses queued, dL/dG kept in gram_grads_
  // Vgg19::backward's TapGradient: the style and content terms' dL/dfeature at `tap` into d (content losses
  // are queued here, with their gradients).
  void tap_gradient(const Tap& tap, Tensor& d, bool accumulate);

  // Recorded evaluations (Backend::record). The key holds what the recorded kernels' arguments depend on besides
  // device memory: the buffers of x and the gradient, the network's plan and pooling (Vgg19::generation), this
  // objective's buffers (generation_: every plan_output and photorealism guide) and the precision. A content
  // replaced in place (the next video frame, set_content at the same size) keeps the key.
  struct RecordKey {
    const float* x = nullptr;
    const float* grad = nullptr;
    std::uint64_t net = 0, objective = 0, workspace = 0;
    Precision precision = Precision::fp32;
    bool operator==(const RecordKey& o) const {
      return x == o.x && grad == o.grad && net == o.net && objective == o.objective && workspace == o.workspace &&
             precision == o.precision;
    }
  };
  struct Recorded {
    RecordKey key;
    int eager_runs = 0;       // evaluations run eagerly with this key (the first warms up: algorithms, workspace)
    bool recordable = true;   // false once the backend returned no recording
    std::unique_ptr<Backend::Recording> recording;
    int queued = 0;           // queued_ after the recorded work
  };
  static constexpr std::size_t kMaxRecorded = 4;  // keys kept (L-BFGS with a line search alternates two x's)
  Recorded* recorded_for(const Tensor& x, const Tensor& grad);  // nullptr: run eagerly, record nothing
  std::vector<Recorded> recorded_;
  std::uint64_t generation_ = 0;
  std::int64_t replays_ = 0;
};

}  // namespace impasto
