// tests/cpu/test_stylize_features.cpp — the pipeline's options beyond a plain run, on the CPU backend: the
// coarse-to-fine pyramid (level sizes, continuous iteration numbers, upsampled starts), the wall-time limit,
// luminance-only transfer (the content's chroma comes back, the loss falls), style stretch vs aspect.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/stylize.hpp"
#include "tests/support/pictures.hpp"

using namespace impasto;
using namespace impasto::test;


TEST_CASE("pyramid: levels double in size, iterations count on, each level starts from the one below") {
  CpuBackend be;
  StylizeOptions o = small_options(0);
  o.pyramid_levels = 2;
  o.level_iterations = {6, 4};
  Stylizer s(be, random_vgg19_weights(0, layers_needed(o.loss)), o);
  std::vector<IterationReport> reports;
  const StylizeResult r = s.run(make_content(64), {make_style(64)}, {},
                                [&](const IterationReport& rep, const Tensor& x) {
                                  CHECK(x.shape().h == (rep.level == 0 ? 32 : 64));
                                  reports.push_back(rep);
                                });
  REQUIRE(r.levels.size() == 2);
  CHECK(r.levels[0].h == 32);
  CHECK(r.levels[0].w == 32);
  CHECK(r.levels[1].h == 64);
  CHECK(r.image.w == 64);
  CHECK(r.image.h == 64);
  CHECK(r.optimizer.iterations == r.levels[0].optimizer.iterations + r.levels[1].optimizer.iterations);
  CHECK(r.optimizer.iterations <= 10);
  REQUIRE(int(reports.size()) == r.optimizer.iterations + 1);  // one initial image, then every step
  for (std::size_t i = 0; i < reports.size(); ++i) {
    CHECK(reports[i].iteration == int(i));
    if (i > 0) CHECK(reports[i].level >= reports[i - 1].level);
  }
  CHECK(reports.back().level == 1);
  // Level 1 starts from level 0's result, not from the content: its start already carries style.
  CHECK(r.levels[1].first.content > 0.0);
  CHECK(r.levels[1].last.loss < r.levels[1].first.loss);
  CHECK(r.levels[0].last.loss < 0.5 * r.levels[0].first.loss);
  MESSAGE("level 0 (32px): " << r.levels[0].first.loss << " -> " << r.levels[0].last.loss << "; level 1 (64px): "
                             << r.levels[1].first.loss << " -> " << r.levels[1].last.loss);
}

TEST_CASE("pyramid and time limit: checks and an early stop") {
  CpuBackend be;
  StylizeOptions o = small_options(3);
  o.pyramid_levels = 4;  // 8 px at the coarsest level: too small for relu5_1
  Stylizer deep(be, random_vgg19_weights(0, layers_needed(o.loss)), o);
  CHECK_THROWS_WITH_AS(deep.run(make_content(64), {make_style(64)}),
                       doctest::Contains("--pyramid 4: the coarsest level, 8x8, is too small for layer conv5_1"), Error);
  o.pyramid_levels = 2;
  o.level_iterations = {1, 2, 3};
  CHECK_THROWS_WITH_AS(Stylizer(be, random_vgg19_weights(0, 1), o), doctest::Contains("3 counts for 2 levels"), Error);

  // A limit that is over at once: the initial image only, upsampled to the output size.
  o.level_iterations.clear();
  o.time_limit = 1e-9;
  Stylizer quick(be, random_vgg19_weights(0, layers_needed(o.loss)), o);
  const StylizeResult r = quick.run(make_content(64), {make_style(64)});
  CHECK(r.optimizer.iterations == 0);
  CHECK(r.optimizer.stop_reason == "time limit");
  CHECK(r.levels.size() == 1);
  CHECK(r.image.w == 64);
  CHECK(r.image.h == 64);
}

TEST_CASE("luminance-only transfer: the content's chroma comes back and the loss falls") {
  CpuBackend be;
  StylizeOptions o = small_options(10);
  o.luminance_only = true;
  Stylizer s(be, random_vgg19_weights(0, layers_needed(o.loss)), o);
  // Moderate colors, so that the stylized luminance with the content's chroma stays mostly inside the gamut.
  Image content = make_content(64);
  for (float& v : content.data) v = 70.0f + 0.45f * v;
  const StylizeResult r = s.run(content, {make_style(64, 60.0f, -30.0f, -60.0f)});
  CHECK(r.last.loss < 0.5 * r.first.loss);
  const Shape sh{1, 3, 64, 64};
  Tensor out = be.from_host(r.image.data, sh), con = be.from_host(content.data, sh);
  be.color_convert(out, out, ColorSpace::yuv, false);
  be.color_convert(con, con, ColorSpace::yuv, false);
  const auto yo = be.to_host(out), yc = be.to_host(con);
  const int m = 64 * 64;
  int same_chroma = 0;
  double luma_change = 0;
  for (int p = 0; p < m; ++p) {
    same_chroma += std::fabs(yo[m + p] - yc[m + p]) < 1.0f && std::fabs(yo[2 * m + p] - yc[2 * m + p]) < 1.0f;
    luma_change += std::fabs(yo[p] - yc[p]);
  }
  MESSAGE("chroma within 1.0 of the content's at " << same_chroma << " of " << m << " pixels; mean |dY| "
                                                   << luma_change / m);
  CHECK(same_chroma > 0.95 * m);  // the rest: luminance + chroma left the RGB gamut and were clipped
  CHECK(luma_change / m > 5.0);   // the luminance was stylized

  // The style's luminance is matched to the content's mean and standard deviation.
  const Image matched = match_luminance(luminance_rgb(make_style(32)), luminance_rgb(content));
  auto stats = [](const Image& g) {
    const double mean = mean_channel(g, 0, 0, g.w);
    double var = 0;
    for (int p = 0; p < g.h * g.w; ++p) var += (g.plane(0)[p] - mean) * (g.plane(0)[p] - mean);
    return std::pair<double, double>(mean, std::sqrt(var / (g.h * g.w)));
  };
  const auto [mm, ms] = stats(matched);
  const auto [cm, cs] = stats(luminance_rgb(content));
  CHECK(mm == doctest::Approx(cm).epsilon(1e-4));
  CHECK(ms == doctest::Approx(cs).epsilon(1e-4));
  CHECK(matched.plane(1)[5] == matched.plane(0)[5]);  // three equal channels
}

TEST_CASE("style size: aspect kept by default, stretched to the output with StyleFit::stretch") {
  CpuBackend be;
  const Image wide = make_style(64);  // square source; make it 64x16 below
  const Image style = resize_area(wide, 64, 16);
  StylizeOptions o = small_options(0);
  o.style_scale = 0.5;
  Stylizer keep(be, random_vgg19_weights(0, 1), o);
  const Image a = keep.fit_style(style, 48, 96);  // output 96 wide, 48 high
  CHECK(a.w == 48);
  CHECK(a.h == 12);
  o.style_fit = StyleFit::stretch;
  Stylizer stretch(be, random_vgg19_weights(0, 1), o);
  const Image b = stretch.fit_style(style, 48, 96);
  CHECK(b.w == 48);
  CHECK(b.h == 24);
  CHECK_THROWS_WITH_AS(stretch.synthesize(32, 32, {style}), doctest::Contains("--style-stretch"), Error);
}
