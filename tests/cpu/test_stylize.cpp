// tests/cpu/test_stylize.cpp — the single-image pipeline end to end on the CPU backend: a 64×64 stylization
// whose total loss falls below 20% of its start within 100 iterations, texture synthesis, color preservation
// and input checks.
#include <doctest/doctest.h>

#include <cmath>

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
