// engine/photo.hpp — photorealistic transfer (Luan et al. 2017, "Deep Photo Style Transfer"): the matting-
// Laplacian regularizer as a loss term on a backend, the region pairs of the augmented style loss (grayscale
// mask pairs or colour-coded segmentations), and the edge-aware post-smoothing (a colour guided filter, He,
// Sun & Tang 2013) that removes the residual posterization. DESIGN.md "Photorealistic transfer" has the math.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/image.hpp"

namespace impasto {

// Levin et al.'s ε (Luan's getLaplacian1 call): regularizes each 3×3 window's colour covariance.
inline constexpr float kMattingEps = 1e-7f;

// The matting Laplacian L of one guide image (the content at the working size), planned once per size:
// the guide, its per-window statistics and the scratch of L·v live on the backend (30 floats per pixel).
// Images x handed to it are in network space, RGB 0..255 × pixel_scale − mean in either channel order: the
// mean drops out (L·1 = 0) and the order does not matter (the sum runs over channels), so V = x/(255·ps).
class MattingTerm {
 public:
  // guide: RGB 0..255, at least 3×3.
  MattingTerm(Backend& backend, const Image& guide, double pixel_scale, float eps = kMattingEps);
  // Σ_c V_cᵀ·L·V_c of x (1,3,H,W), V on a 0..1 scale: how far the image is from being locally an affine
  // function of the guide's colours (0 when it is one).
  double energy(const Tensor& x);
  // Queues or returns weight·Σ_c V_cᵀ·L·V_c and adds its gradient to grad (shape of x).
  double add(const Tensor& x, double weight, Tensor& grad);
  int height() const { return h_; }
  int width() const { return w_; }
  // What one MattingTerm holds for an h×w guide.
  static std::size_t bytes(int h, int w);

 private:
  Backend& backend_;
  int h_ = 0, w_ = 0;
  double value_scale_ = 1;  // 1/(255·ps)²: network-space values → the 0..1 scale of the energy
  Tensor guide_;            // (1,3,H,W) RGB 0..1
  Tensor stats_;            // (1,15,H,W) per-window mean and regularized covariance (kernels/matting.cuh)
  Tensor coef_;             // (1,12,H,W) scratch of L·v
};

// One region of the augmented style loss: where it is on the content (output) and on the style, each a
// one-channel mask 0..1 (0..255 as read) of its image's size.
struct RegionPair {
  std::string name;  // "region 2", or the segmentation colour ("blue")
  Image content, style;
};

// Luan et al.'s nine segmentation colours (their ExtractMask: each channel within 0.1 of the colour's).
// Returns one pair per colour present in content_seg (RGB 0..255, the content's size), with the style_seg's
// mask of the same colour; a colour on the content that the style segmentation lacks, or a content
// segmentation with none of the colours, is a one-line Error naming the files' roles.
std::vector<RegionPair> regions_from_segmentations(const Image& content_seg, const Image& style_seg);

// Before any work: the pairs' masks are one-channel, of the content's and the style's size, and each has
// some pixels; one-line Errors name the region and the side.
void check_regions(const std::vector<RegionPair>& regions, ImageSize content, ImageSize style);

// The colour guided filter (He, Sun & Tang 2013, eq. 19–21) of every channel of `image` with `guide` (both
// RGB 0..255, one size): within each (2r+1)² window the image is fitted as an affine function of the guide's
// colours (ridge ε on a 0..1 scale) and the fits are averaged. With the content as the guide this keeps the
// stylized colours but takes the content's edges: Luan et al.'s remedy for posterization.
Image guided_filter(const Image& guide, const Image& image, int radius, double eps);

}  // namespace impasto
