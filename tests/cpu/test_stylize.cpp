// tests/cpu/test_stylize.cpp — the single-image pipeline end to end on the CPU backend: a 64×64 stylization
// whose total loss falls below 20% of its start within 100 iterations, texture synthesis, color preservation
// and input checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/stylize.hpp"
#include "tests/support/pictures.hpp"

using namespace impasto;
using impasto::test::make_content;
using impasto::test::make_style;
using impasto::test::small_options;

TEST_CASE("a 64x64 stylization drops the loss below 20% of its start within 100 iterations") {
  CpuBackend be;
  StylizeOptions o = small_options(100);
  const VggWeights w = random_vgg19_weights(0, layers_needed(o.loss));
  Stylizer s(be, w, o);
  int reports = 0, last_iteration = -1;
  const StylizeResult r = s.run(make_content(64), {make_style(64)}, {}, [&](const IterationReport& rep, const Tensor&) {
    CHECK(rep.iteration == last_iteration + 1);
    last_iteration = rep.iteration;
    CHECK(rep.loss == doctest::Approx(rep.content + rep.style + rep.tv));
    ++reports;
  });
  MESSAGE("loss " << r.first.loss << " -> " << r.last.loss << " in " << r.optimizer.iterations << " iterations, "
                  << r.seconds << " s (" << r.optimizer.stop_reason << ")");
  CHECK(r.first.iteration == 0);
  CHECK(r.first.content == 0.0);  // content init
  CHECK(r.last.loss < 0.2 * r.first.loss);
  CHECK(r.optimizer.iterations <= 100);
  CHECK(reports == r.optimizer.iterations + 1);
  REQUIRE(r.image.c == 3);
  CHECK(r.image.w == 64);
  CHECK(r.image.h == 64);
  // The output moved away from the content.
  const Image c = make_content(64);
  double diff = 0;
  for (std::size_t i = 0; i < c.data.size(); ++i) diff += std::fabs(c.data[i] - r.image.data[i]);
  CHECK(diff / double(c.data.size()) > 5.0);
}

TEST_CASE("texture synthesis: a 96x96 texture from a 64x64 style") {
  CpuBackend be;
  StylizeOptions o = small_options(40);
  o.loss.content_layers.clear();
  const VggWeights w = random_vgg19_weights(0, layers_needed(o.loss));
  Stylizer s(be, w, o);
  const StylizeResult r = s.synthesize(96, 96, {make_style(64)});
  CHECK(r.image.w == 96);
  CHECK(r.image.h == 96);
  CHECK(r.first.content == 0.0);
  CHECK(r.last.style < 0.2 * r.first.style);
}

namespace {

// A painting-like style n×n: 60 soft strokes (Gaussian blobs) whose size is a fixed share of the picture, so a
// larger n means larger strokes in pixels. Deterministic.
Image stroke_style(int n) {
  Image img{3, n, n, std::vector<float>(std::size_t(3) * n * n, 60.0f)};
  std::uint32_t state = 12345;
  auto next = [&] {  // LCG in [0, 1)
    state = state * 1664525u + 1013904223u;
    return float(state >> 8) / float(1u << 24);
  };
  for (int k = 0; k < 60; ++k) {
    const float cy = next() * n, cx = next() * n, r = (0.04f + 0.06f * next()) * n;
    const float rgb[3] = {255 * next(), 255 * next(), 255 * next()};
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) {
        const float d2 = ((i - cy) * (i - cy) + (j - cx) * (j - cx)) / (r * r);
        if (d2 > 9) continue;
        const float a = std::exp(-d2);
        for (int c = 0; c < 3; ++c) {
          float& v = img.plane(c)[std::size_t(i) * n + j];
          v = (1 - a) * v + a * rgb[c];
        }
      }
  }
  return img;
}

// Mean local contrast (|x − mean of its 3×3 neighbours|, over channels) of the pixels whose distance to the
// border is < band (outer = true) or >= n/4 (the central half).
double local_contrast(const Image& img, int band, bool outer) {
  double sum = 0;
  long count = 0;
  for (int i = 1; i + 1 < img.h; ++i)
    for (int j = 1; j + 1 < img.w; ++j) {
      const int edge = std::min(std::min(i, j), std::min(img.h - 1 - i, img.w - 1 - j));
      if (outer ? edge >= band : edge < img.h / 4) continue;
      for (int c = 0; c < 3; ++c) {
        const float* p = img.plane(c);
        double mean = 0;
        for (int di = -1; di <= 1; ++di)
          for (int dj = -1; dj <= 1; ++dj) mean += p[(i + di) * img.w + j + dj];
        sum += std::fabs(p[i * img.w + j] - mean / 9);
        ++count;
      }
    }
  return sum / double(count);
}

}  // namespace

TEST_CASE("texture: the default scales the style to the output and fills the frame evenly") {
  // Gatys et al. 2015 synthesize from a source of about the output's size. A style kept at 4× the output's
  // size (--native-style-scale) puts its structure in the middle and leaves the border flat; scaled to the
  // output (the default) the texture is as busy at the border as in the centre.
  CpuBackend be;
  StylizeOptions o = small_options(60);
  o.loss.content_layers.clear();
  const VggWeights w = random_vgg19_weights(0, layers_needed(o.loss));
  const Image style = stroke_style(256);
  auto evenness = [&](bool native) {
    o.texture_native_scale = native;
    Stylizer s(be, w, o);
    const StylizeResult r = s.synthesize(64, 64, {style});
    const double ratio = local_contrast(r.image, 8, true) / local_contrast(r.image, 8, false);
    MESSAGE((native ? "native" : "scaled") << " style: outer band / centre local contrast " << ratio);
    return ratio;
  };
  const double scaled = evenness(false), native = evenness(true);
  // Measured here: 0.77 scaled, 0.57 native (the border band of a 64-px output also loses some contrast to the
  // network's zero padding).
  CHECK(scaled > 0.7);
  CHECK(native < 0.85 * scaled);  // the measure sees the difference the option makes
}

TEST_CASE("original colors: output luminance with the content's chroma") {
  CpuBackend be;
  Stylizer s(be, random_vgg19_weights(0, 1), small_options(1));
  // Moderate colors: a luminance from one image with the chroma of another can leave the RGB gamut (then
  // clipping moves the pixel); saturated test images would make that the rule rather than the exception.
  Image content = make_content(16), stylized = make_style(16);
  for (float& v : content.data) v = 100.0f + 0.25f * v;
  for (float& v : stylized.data) v = 90.0f + 0.3f * v;
  for (ColorSpace space : {ColorSpace::yuv, ColorSpace::ycrcb, ColorSpace::lab, ColorSpace::luv}) {
    const Image out = preserve_colors(be, stylized, content, space);
    const Shape sh{1, 3, 16, 16};
    Tensor a = be.from_host(out.data, sh), b = be.from_host(content.data, sh), c = be.from_host(stylized.data, sh);
    be.color_convert(a, a, space, false);
    be.color_convert(b, b, space, false);
    be.color_convert(c, c, space, false);
    const auto ha = be.to_host(a), hb = be.to_host(b), hc = be.to_host(c);
    // Clipping to 0..255 in RGB may move a pixel; most pixels keep the exact split.
    int close = 0;
    for (int p = 0; p < 256; ++p) {
      const bool luma = std::fabs(ha[p] - hc[p]) < 0.5f;
      const bool chroma = std::fabs(ha[256 + p] - hb[256 + p]) < 0.5f && std::fabs(ha[512 + p] - hb[512 + p]) < 0.5f;
      close += luma && chroma;
    }
    INFO("space " << int(space));
    CHECK(close > 240);
  }
}

TEST_CASE("the pipeline rejects mismatched inputs") {
  CpuBackend be;
  StylizeOptions o = small_options(1);
  o.style_blend_weights = {1.0f, 2.0f};
  Stylizer s(be, random_vgg19_weights(0, layers_needed(o.loss)), o);
  CHECK_THROWS_WITH_AS(s.run(make_content(32), {make_style(32)}), doctest::Contains("2 style blend weights for 1 styles"),
                       Error);
  StylizeOptions bad = small_options(1);
  bad.noise_ratio = 2;
  CHECK_THROWS_AS(Stylizer(be, random_vgg19_weights(0, 10), bad), Error);
}
