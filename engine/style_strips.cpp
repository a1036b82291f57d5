// engine/style_strips.cpp — where a style image's strips begin and end (see style_strips.hpp).
#include "engine/style_strips.hpp"

#include <algorithm>
#include <cstdint>

#include "engine/error.hpp"
#include "weights/weights.hpp"

namespace impasto {

namespace {

constexpr int kAlign = 16;  // 2^4: VGG-19's poolings before block 5

int round_up(int v, int m) { return (v + m - 1) / m * m; }

}  // namespace

int vgg19_pools_before(int conv) {
  int pools = 0;
  for (int i = 0; i < conv; ++i) pools += vgg19_convs()[std::size_t(i)].pool_after ? 1 : 0;
  return pools;
}

int style_strip_halo(int deepest) {
  // A feature row r of the current level reads input rows [r·jump − above, r·jump + below].
  int above = 0, below = 0, jump = 1;
  for (int i = 0; i <= deepest; ++i) {
    above += jump;  // 3×3 convolution, zero padding 1
    below += jump;
    if (vgg19_convs()[std::size_t(i)].pool_after && i < deepest) {
      below += jump;  // a 2×2 window reads rows 2r and 2r + 1 of the level below
      jump *= 2;
    }
  }
  return round_up(std::max(above, below), kAlign);
}

std::vector<StyleStrip> style_strips(int h, int w, int deepest, int core_rows, std::int64_t pass_pixels) {
  IMPASTO_CHECK(h >= 1 && w >= 1, "style image " << w << "x" << h << " is empty");
  const int halo = style_strip_halo(deepest);
  const std::int64_t first_channels = vgg19_convs()[0].cout;
  const std::int64_t index_rows = std::int64_t(INT32_MAX) / (first_channels * w);  // rows whose conv1 maps fit
  const std::int64_t max_rows = pass_pixels > 0 ? std::min(index_rows, pass_pixels / w) : index_rows;
  const auto too_wide = [&](std::int64_t pass_rows) {
    IMPASTO_CHECK(pass_rows <= index_rows, "style image " << w << "x" << h << " is too wide: a strip of " << kAlign
                                               << " rows and its " << halo << "-row halos would exceed the 2^31 values of "
                                               << "VGG-19's first feature maps; use a smaller --style-scale");
  };
  int core = 0;
  if (core_rows > 0) {
    core = round_up(core_rows, kAlign);
  } else if (h <= max_rows) {
    core = h;
  } else {
    const std::int64_t fit = (max_rows - 2 * halo) / kAlign * kAlign;  // the tallest core whose pass fits
    if (fit >= kAlign && max_rows == index_rows && fit < 2 * halo) {
      core = int(fit);  // indexing forces it: strips however thin
    } else {
      core = int(std::max<std::int64_t>(fit, 2 * halo));
      if (h <= index_rows && core + 2 * halo >= h) core = h;  // strips would not make the passes smaller
    }
    too_wide(std::int64_t(std::min(h, core + 2 * halo)));
  }
  std::vector<StyleStrip> strips;
  if (core >= h) {
    strips.push_back({0, h, 0, h});
    return strips;
  }
  for (int begin = 0; begin < h; begin += core) {
    StyleStrip s;
    s.begin = begin;
    s.end = std::min(h, begin + core);
    s.in_begin = std::max(0, begin - halo);
    s.in_end = std::min(h, s.end + halo);
    strips.push_back(s);
  }
  return strips;
}

std::int64_t style_pass_pixels(int out_h, int out_w) { return std::int64_t(out_h) * out_w * 3 / 2; }

}  // namespace impasto
