// engine/resample.hpp — bringing a picture to the working size the way each preset's anchor does, with that
// anchor's rounding of the target size:
//   area   impasto's resize_area (engine/image.hpp: area averaging down, bilinear up); sizes rounded to nearest.
//   torch  torch7's image.scale(img, size, 'bilinear') (jcjohnson/neural-style): separable, rows first, in
//          float; box averaging with fractional end weights when shrinking, align-corners linear when
//          enlarging; sizes truncated.
//   pil    Pillow's Image.resize(BILINEAR) (neural-style-pt, through torchvision's Resize): an antialiased
//          triangle filter, its support widened by the shrink factor, in 22-bit fixed point on 8-bit pixels,
//          horizontal pass first, each pass rounded to 8 bits; sizes truncated.
#pragma once

#include "engine/enum_names.hpp"
#include "engine/image.hpp"

namespace impasto {

enum class Resampler { area, torch, pil };
template <>
struct EnumNames<Resampler> {
  static constexpr const char* what = "resampler";
  static constexpr EnumName<Resampler> table[] = {
      {Resampler::area, "area"}, {Resampler::torch, "torch"}, {Resampler::pil, "pil"}};
};

// The size of an h×w picture whose longer side becomes `size`; the other side by r's rounding: area
// lround(side·size/longer), torch ⌊side·size/longer⌋ (image.scale), pil ⌊size/longer·side⌋ (neural-style-pt).
ImageSize resampled_size(int h, int w, int size, Resampler r);
// The longer side `longer`·k of a scaled picture (a style at --style-scale k): area rounds to nearest, torch
// takes the ceiling (neural-style's math.ceil), pil truncates (neural-style-pt's int()); at least 1.
int scaled_side(int longer, double k, Resampler r);
// The size of a `style` picture whose area is h·w·k², aspect kept (artistic-videos' getStyleImages: each
// side × k·√(h·w / (H·W))); area rounds to nearest, torch and pil truncate (image.scale's sizes); at least 1.
ImageSize area_matched_size(ImageSize style, int h, int w, double k, Resampler r);
// img (C,H,W) resampled to w×h by r. pil reads the values as 8-bit pixels (rounded, clamped to 0..255).
Image resample(const Image& img, int w, int h, Resampler r);
// img resampled by r so that its longer side is `size` (resampled_size), aspect ratio kept.
Image resize_longer_side(const Image& img, int size, Resampler r = Resampler::area);

}  // namespace impasto
