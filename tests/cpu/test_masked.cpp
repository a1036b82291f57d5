// tests/cpu/test_masked.cpp — masked style transfer end to end on the CPU backend (masks inside the network,
// DESIGN.md "Masked style"): a style confined to the left half leaves the right half near the content; two
// styles with complementary masks each color their own half; masks of any size are resized to the content
// and the style; empty and miscounted masks are errors.
#include <doctest/doctest.h>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/stylize.hpp"
#include "tests/support/pictures.hpp"

using namespace impasto;
using namespace impasto::test;

namespace {

constexpr int kSide = 64;

// Content init and the default objective: the optimization starts at the content, so any change is the
// style's doing. The content term (α = 5) pulls both halves alike; only the mask tells them apart. (Measured
// without a mask, the same run changes both halves alike: right/left ≈ 0.99.)
StylizeOptions masked_options(int iterations) {
  StylizeOptions o;
  o.size = kSide;
  o.iterations = iterations;
  return o;
}

}  // namespace

TEST_CASE("a style masked to the left half leaves the right half measurably closer to the content") {
  CpuBackend be;
  const StylizeOptions o = masked_options(8);
  Stylizer s(be, random_vgg19_weights(0, layers_needed(o.loss)), o);
  const Image content = make_content(kSide, 0.5f);  // symmetric about the vertical midline
  const StylizeResult r = s.run(content, {make_style(kSide)}, {half_mask(kSide, kSide)});
  const double left = mean_abs_diff(r.image, content, 0, kSide / 2);
  const double right = mean_abs_diff(r.image, content, kSide / 2, kSide);
  MESSAGE("mean |output - content|: masked-in (left) " << left << ", masked-out (right) " << right << ", ratio "
                                                      << right / left << "; loss " << r.first.loss << " -> "
                                                      << r.last.loss << " in " << r.seconds << " s");
  CHECK(r.last.loss < 0.5 * r.first.loss);
  CHECK(left > 20.0);           // the style changed its half (observed ~35)
  CHECK(right < 0.5 * left);    // observed ratio ~0.32: receptive fields near the seam carry some change over
}

TEST_CASE("two styles with complementary masks each color their own half") {
  CpuBackend be;
  const StylizeOptions o = masked_options(8);
  Stylizer s(be, random_vgg19_weights(0, layers_needed(o.loss)), o);
  const Image content = make_content(kSide, 0.5f);
  const Image red = make_style(kSide, 90.0f, -40.0f, -90.0f), blue = make_style(kSide, -90.0f, -40.0f, 90.0f);
  const StylizeResult r =
      s.run(content, {red, blue}, {half_mask(kSide, kSide, true), half_mask(kSide, kSide, false)});
  // Red minus blue, averaged over a half, relative to the content's (which is symmetric).
  auto warmth = [&](const Image& img, int j0, int j1) { return mean_channel(img, 0, j0, j1) - mean_channel(img, 2, j0, j1); };
  const double left = warmth(r.image, 0, kSide / 2) - warmth(content, 0, kSide / 2);
  const double right = warmth(r.image, kSide / 2, kSide) - warmth(content, kSide / 2, kSide);
  MESSAGE("R-B shift: left (red style) " << left << ", right (blue style) " << right << "; style loss "
                                         << r.first.style << " -> " << r.last.style);
  CHECK(r.last.style < 0.5 * r.first.style);
  CHECK(left > right + 40.0);
  CHECK(left > 0.0);
  CHECK(right < 0.0);
}

TEST_CASE("a mask of any size is resized to the content and the style, an empty or extra mask is an error") {
  CpuBackend be;
  const StylizeOptions o = masked_options(0);  // the initial losses only
  Stylizer s(be, random_vgg19_weights(0, layers_needed(o.loss)), o);
  const Image content = make_content(kSide), style = make_style(48);
  // A 128x32 left-half mask is the 64x64 one stretched: both resize to the same layer masks.
  const double exact = s.run(content, {style}, {half_mask(kSide, kSide)}).first.style;
  const double other = s.run(content, {style}, {half_mask(32, 128)}).first.style;
  const double plain = s.run(content, {style}).first.style;
  CHECK(other == doctest::Approx(exact).epsilon(1e-6));
  CHECK(exact != doctest::Approx(plain).epsilon(1e-3));  // the mask matters

  Image empty = half_mask(kSide, kSide);
  for (float& v : empty.data) v = 0.0f;
  CHECK_THROWS_WITH_AS(s.run(content, {style}, {empty}), doctest::Contains("style mask 1 is empty"), Error);
  CHECK_THROWS_WITH_AS(s.run(content, {style}, {half_mask(8, 8), half_mask(8, 8)}),
                       doctest::Contains("2 style masks for 1 styles"), Error);
  Image rgb = content;
  CHECK_THROWS_WITH_AS(s.run(content, {style}, {rgb}), doctest::Contains("one-channel"), Error);
}
