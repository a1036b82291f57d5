// engine/resample.cpp — see resample.hpp. The torch and pil paths follow torch7 image's
// generic/image.c (Main_scaleLinear_rowcol, Main_scaleBilinear) and Pillow's libImaging/Resample.c
// (precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc / Vertical_8bpc) step for step,
// in the same precision, so that a preset sees the pixels its anchor sees.
#include "engine/resample.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/error.hpp"

namespace impasto {
namespace {

// torch7's scaleLinear on one line: n_src samples `src_step` apart → n_dst samples `dst_step` apart (float).
void torch_line(const float* src, std::int64_t src_step, int n_src, float* dst, std::int64_t dst_step, int n_dst) {
  if (n_dst > n_src) {  // enlarge: linear between the end samples (align corners)
    const float scale = float(n_src - 1) / float(n_dst - 1);
    for (int d = 0; d < n_dst - 1; ++d) {
      if (n_src == 1) {
        dst[d * dst_step] = src[0];
        continue;
      }
      float f = float(d) * scale;
      const int i = int(f);
      f -= float(i);
      dst[d * dst_step] = (1 - f) * src[i * src_step] + f * src[(i + 1) * src_step];
    }
    dst[(n_dst - 1) * dst_step] = src[(n_src - 1) * src_step];
  } else if (n_dst < n_src) {  // shrink: box average, fractional weights at both ends
    const float scale = float(n_src) / float(n_dst);
    int i0 = 0;
    float f0 = 0;
    for (int d = 0; d < n_dst; ++d) {
      float f1 = float(d + 1) * scale;
      const int i1 = int(f1);
      f1 -= float(i1);
      float acc = (1 - f0) * src[i0 * src_step], n = 1 - f0;
      for (int s = i0 + 1; s < i1; ++s) {
        acc += src[s * src_step];
        n += 1;
      }
      if (i1 < n_src) {
        acc += f1 * src[i1 * src_step];
        n += f1;
      }
      dst[d * dst_step] = acc / n;
      i0 = i1;
      f0 = f1;
    }
  } else {
    for (int d = 0; d < n_dst; ++d) dst[d * dst_step] = src[d * src_step];
  }
}

Image torch_resample(const Image& img, int w, int h) {
  Image out{img.c, h, w, std::vector<float>(std::size_t(img.c) * h * w)};  // (C,h,w)
  std::vector<float> rows(std::size_t(img.h) * w);                          // one channel (H,w)
  for (int c = 0; c < img.c; ++c) {
    const float* p = img.plane(c);
    for (int y = 0; y < img.h; ++y)
      torch_line(p + std::size_t(y) * img.w, 1, img.w, rows.data() + std::size_t(y) * w, 1, w);
    for (int x = 0; x < w; ++x) torch_line(rows.data() + x, w, img.h, out.plane(c) + x, w, h);
  }
  return out;
}

// Pillow: the 8-bit filter taps of one axis, n_in → n_out (BILINEAR: a triangle of support 1, widened by the
// shrink factor), as precompute_coeffs + normalize_coeffs_8bpc.
constexpr int kPrecisionBits = 32 - 8 - 2;
struct PilTaps {
  int size = 0;                  // taps per output sample
  std::vector<int> first, count;  // per output sample: the first input sample and how many
  std::vector<std::int32_t> k;   // n_out × size, fixed point
};
PilTaps pil_taps(int n_in, int n_out) {
  const double scale = double(n_in) / n_out, filterscale = std::max(scale, 1.0), support = 1.0 * filterscale;
  PilTaps t;
  t.size = int(std::ceil(support)) * 2 + 1;
  t.first.resize(std::size_t(n_out));
  t.count.resize(std::size_t(n_out));
  t.k.assign(std::size_t(n_out) * t.size, 0);
  std::vector<double> w(std::size_t(t.size));
  for (int o = 0; o < n_out; ++o) {
    const double center = (o + 0.5) * scale, ss = 1.0 / filterscale;
    const int lo = std::max(int(center - support + 0.5), 0);
    const int n = std::min(int(center + support + 0.5), n_in) - lo;
    double total = 0;
    for (int x = 0; x < n; ++x) {
      const double u = std::fabs((x + lo - center + 0.5) * ss);
      w[std::size_t(x)] = u < 1.0 ? 1.0 - u : 0.0;
      total += w[std::size_t(x)];
    }
    for (int x = 0; x < n; ++x) {
      const double k = total != 0.0 ? w[std::size_t(x)] / total : w[std::size_t(x)];
      const double fixed = k * (1 << kPrecisionBits);
      t.k[std::size_t(o) * t.size + x] = std::int32_t(k < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    t.first[std::size_t(o)] = lo;
    t.count[std::size_t(o)] = n;
  }
  return t;
}

// One Pillow pass over a line of 8-bit samples `step` apart: rounding by the ½ in fixed point, then clip8.
void pil_line(const PilTaps& t, const std::uint8_t* src, std::int64_t src_step, std::uint8_t* dst,
              std::int64_t dst_step, int n_out) {
  for (int o = 0; o < n_out; ++o) {
    std::int32_t acc = 1 << (kPrecisionBits - 1);
    const std::int32_t* k = t.k.data() + std::size_t(o) * t.size;
    const std::uint8_t* s = src + std::int64_t(t.first[std::size_t(o)]) * src_step;
    for (int x = 0; x < t.count[std::size_t(o)]; ++x) acc += std::int32_t(s[x * src_step]) * k[x];
    dst[o * dst_step] = std::uint8_t(std::clamp(acc >> kPrecisionBits, 0, 255));
  }
}

Image pil_resample(const Image& img, int w, int h) {
  // 8-bit planes (C,H,W) → (C,H,w) → (C,h,w); Pillow skips a pass that would not change its axis.
  std::vector<std::uint8_t> pixels(img.data.size()), next;
  for (std::size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = std::uint8_t(std::clamp(std::lround(img.data[i]), 0L, 255L));
  if (w != img.w) {
    const PilTaps tx = pil_taps(img.w, w);
    next.resize(std::size_t(img.c) * img.h * w);
    for (std::size_t row = 0; row < std::size_t(img.c) * img.h; ++row)
      pil_line(tx, pixels.data() + row * img.w, 1, next.data() + row * w, 1, w);
    pixels.swap(next);
  }
  if (h != img.h) {
    const PilTaps ty = pil_taps(img.h, h);
    next.resize(std::size_t(img.c) * h * w);
    for (int c = 0; c < img.c; ++c)
      for (int x = 0; x < w; ++x)
        pil_line(ty, pixels.data() + std::size_t(c) * img.h * w + x, w, next.data() + std::size_t(c) * h * w + x, w, h);
    pixels.swap(next);
  }
  return Image{img.c, h, w, std::vector<float>(pixels.begin(), pixels.end())};
}

}  // namespace

ImageSize resampled_size(int h, int w, int size, Resampler r) {
  const ImageSize rounded = longer_side_size(h, w, size);  // also the checks of size and image
  if (r == Resampler::area) return rounded;
  const int longer = std::max(h, w);
  auto side = [&](int s) {
    const double v = r == Resampler::torch ? double(s) * size / longer : double(size) / longer * s;
    return std::max(1, int(v));
  };
  return {side(h), side(w)};
}

int scaled_side(int longer, double k, Resampler r) {
  const double v = longer * k;
  IMPASTO_CHECK(std::isfinite(v) && v <= kMaxSide,
                "--style-scale " << k << " makes a style " << v << " pixels on a side (the limit is " << kMaxSide << ")");
  const int side = r == Resampler::area ? int(std::lround(v)) : r == Resampler::torch ? int(std::ceil(v)) : int(v);
  return std::max(side, 1);
}

ImageSize area_matched_size(ImageSize style, int h, int w, double k, Resampler r) {
  IMPASTO_CHECK(style.h > 0 && style.w > 0 && h > 0 && w > 0 && k > 0 && std::isfinite(k),
                "area_matched_size: bad sizes " << style.w << "x" << style.h << " for " << w << "x" << h << " x " << k);
  const double s = k * std::sqrt(double(h) * double(w) / (double(style.h) * double(style.w)));
  auto side = [&](int n) {
    const double v = double(n) * s;
    IMPASTO_CHECK(v <= kMaxSide, "--style-scale " << k << " makes a style " << v << " pixels on a side (the limit is "
                                                 << kMaxSide << ")");
    return std::max(1, r == Resampler::area ? int(std::lround(v)) : int(v));
  };
  return {side(style.h), side(style.w)};
}

Image resample(const Image& img, int w, int h, Resampler r) {
  check_image(img, "resize");
  if (w == img.w && h == img.h) return img;
  if (r == Resampler::area) return resize_area(img, w, h);
  IMPASTO_CHECK(w > 0 && h > 0 && (long long)w * h <= kMaxPixels, "resize: bad target size " << w << "x" << h);
  return r == Resampler::torch ? torch_resample(img, w, h) : pil_resample(img, w, h);
}

Image resize_longer_side(const Image& img, int size, Resampler r) {
  check_image(img, "resize_longer_side");
  const ImageSize s = resampled_size(img.h, img.w, size, r);
  return resample(img, s.w, s.h, r);
}

}  // namespace impasto
