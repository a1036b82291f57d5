// engine/temporal.hpp — the per-frame math of the video pipeline on the backend (Ruder, Dosovitskiy & Brox,
// GCPR 2016; IJCV 2018): the reliability of a flow, the photometric test of the input frames (scene cuts,
// flashes, fades), the long-term weights, warping, the temporal loss, the multi-pass blend, and the warping
// error that measures flicker. DESIGN.md "Temporal".
#pragma once

#include <vector>

#include "engine/backend.hpp"
#include "engine/enum_names.hpp"
#include "engine/flow_io.hpp"
#include "engine/image.hpp"

namespace impasto {

// c (1,1,H,W) = clip(blur_σ(consistency(fwd, bwd)), 0, 1): fwd previous → current, bwd current → previous,
// each (1,2,H,W). tmp (1,1,H,W) scratch.
void reliability(Backend& b, const Tensor& fwd, const Tensor& bwd, float sigma, Tensor& tmp, Tensor& c);
// The photometric test (issue 14; math::photometric_distance_at): the flows can pass the forward-backward test
// where the picture does not follow them (a scene cut, a flash, a fade, a change of lighting). For the current
// input frame `cur` against the previous input frame `prev` warped along bwd (cur → prev), RGB 0..255, all of
// one size: mask (H·W, when given) = 0 where the colours differ by more than `threshold` (Euclidean RGB
// distance on the 0..255 scale), else 1 (also where p + bwd(p) leaves the frame: no evidence). Returns the
// fraction of the pixels whose source lies inside the frame that failed (1 when none does: nothing of prev is
// seen). Host math over H·W values, once per frame and neighbour.
double photometric_mask(const Image& prev, const Image& cur, const FlowField& bwd, float threshold,
                        std::vector<float>* mask);
// c (1,1,H,W) ⊙= mask (H·W host values, uploaded into tmp (1,1,H,W)).
void apply_mask(Backend& b, const std::vector<float>& mask, Tensor& tmp, Tensor& c);
// Long-term weights (Ruder et al. 2016, eq. 8): c holds c(j) for ascending j on entry and c_long(j) on return;
// sum (1,1,H,W) scratch.
void long_term_weights(Backend& b, std::vector<Tensor>& c, Tensor& sum);
// fill (1,C,1,1) = the per-channel mean of x (1,C,H,W): the value warping gives pixels from outside the frame.
void channel_mean(Backend& b, const Tensor& x, Tensor& fill);

// What warping gives the pixels it brings from outside the frame: the per-channel mean of the frame warped
// (frame-mean), or the network's mean pixel, 0 in network space (mean-pixel: artistic-videos' warpImage pads
// with it).
enum class WarpFill { frame_mean, mean_pixel };
template <>
struct EnumNames<WarpFill> {
  static constexpr const char* what = "warp fill";
  static constexpr EnumName<WarpFill> table[] = {{WarpFill::frame_mean, "frame-mean"},
                                                 {WarpFill::mean_pixel, "mean-pixel"}};
};
// fill (1,C,1,1) for warping x (1,C,H,W) under `how`.
void warp_fill(Backend& b, WarpFill how, const Tensor& x, Tensor& fill);

// The multi-pass init of a frame from its own previous-pass result and its warped neighbour ω where that is
// reliable (c), with δ the own share:
//   linear      x = own + (1 − δ)·c ⊙ (ω − own)
//   normalized  x = (δ·own + (1 − δ)·c ⊙ ω) / (δ + (1 − δ)·c): artistic_video_multiPass.lua's
//               (own + a·c ⊙ ω) / (1 + a·c) with blendWeight a = (1 − δ)/δ (its default a = 1 is δ = 0.5)
// The two agree where c is 0 or 1 (δ = 0.5); in between, normalized gives the neighbour more.
enum class PassBlend { linear, normalized };
template <>
struct EnumNames<PassBlend> {
  static constexpr const char* what = "pass blend";
  static constexpr EnumName<PassBlend> table[] = {{PassBlend::linear, "linear"}, {PassBlend::normalized, "normalized"}};
};
// x (1,3,H,W) = the blend of own and warped (1,3,H,W) with weights c (1,1,H,W); diff (1,3,H,W) and weight
// (1,1,H,W) scratch.
void blend_pass(Backend& b, PassBlend rule, double delta, const Tensor& own, const Tensor& warped, const Tensor& c,
                Tensor& diff, Tensor& weight, Tensor& x);

// The temporal terms Σ_j (γ/D)·Σ c_j ⊙ (x − ω_j)², D = numel of x (H·W·3), with their gradient.
class TemporalLoss {
 public:
  TemporalLoss(Backend& backend, double weight) : backend_(backend), weight_(weight) {}
  void clear() { terms_.clear(); }
  // target ω (1,3,H,W) and its weights c (1,1,H,W); both kept by handle (not copied).
  void add(const Tensor& target, const Tensor& c) { terms_.push_back({target, c}); }
  bool empty() const { return terms_.empty(); }
  // Returns the loss; grad (shape of x) += its gradient.
  double evaluate(const Tensor& x, Tensor& grad);
  // evaluate() inside the backend's open deferral (StyleObjective::queue opened it): one value queued per term;
  // total(values) sums them, values starting at the first one queued here.
  void queue(const Tensor& x, Tensor& grad);
  double total(const double* values) const;

 private:
  struct Term {
    Tensor target, c;
  };
  Backend& backend_;
  double weight_;
  std::vector<Term> terms_;
};

// The flicker of one pair of output frames: the mean warping error over reliable pixels,
//   E = Σ_{p: c(p) > 0.5} Σ_ch ((cur − ω(prev))/255)² / (3·N_reliable),
// ω(prev) = prev warped to cur along bwd (cur → prev), c = reliability(fwd, bwd) with σ. Images RGB 0..255.
// (Lai et al., "Learning blind video temporal consistency", ECCV 2018, eq. 9, per channel.) Returns 0 when
// no pixel is reliable; *reliable_fraction (if given) = N_reliable / (H·W).
double warping_error(Backend& b, const Image& prev, const Image& cur, const FlowField& fwd, const FlowField& bwd,
                     float sigma, double* reliable_fraction = nullptr);

}  // namespace impasto
