// tests/cpu/test_losses.cpp — the style-transfer objective: each term's value against the formula of
// DESIGN.md computed here from the features, and every gradient against central finite differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/losses.hpp"
#include "engine/style_strips.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/counting_backend.hpp"
#include "tests/support/finite_diff.hpp"

using namespace impasto;

namespace {

std::vector<float> random_image(int h, int w, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-60.0f, 60.0f);
  std::vector<float> v(std::size_t(3) * h * w);
  for (float& x : v) x = dist(gen);
  return v;
}

LossConfig small_config() {
  LossConfig c;
  c.content_layers = parse_weighted_taps("relu2_1", "", "content");
  c.style_layers = parse_weighted_taps("relu1_1,conv2_1,relu2_1", "1,2,3", "style");
  return c;
}

// Central differences of objective.evaluate along random directions vs <grad, v>, in double from float
// evaluations. The style term is quartic in the features and the features are piecewise linear (ReLU), and
// L1 TV has kinks, so ε must be small for the difference to be local: at ε = 2e-2 on values ~60 the error
// measured 4–30%, at 5e-3 and 1e-3 it is within 3%, at 2e-4 float rounding of the loss dominates.
// ε = 2e-3 with a 3% tolerance.
void check_gradient(StyleObjective& obj, Backend& be, const std::vector<float>& x0, int h, int w, unsigned seed) {
  const Shape s{1, 3, h, w};
  Tensor grad = be.empty(s);
  obj.evaluate(be.from_host(x0, s), grad);
  const auto g = be.to_host(grad);
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Tensor scratch = be.empty(s);
  for (int k = 0; k < 3; ++k) {
    std::vector<float> v(x0.size());
    for (float& e : v) e = dist(gen);
    const auto d = test::directional_derivative(x0, g, v, 2e-3f, [&](const std::vector<float>& xx) {
      return obj.evaluate(be.from_host(xx, s), scratch).total;
    });
    const double fd = d.finite_difference, directional = d.backward;
    INFO("direction " << k << ": finite difference " << fd << " backward " << directional);
    CHECK(std::fabs(fd - directional) <= 3e-2 * std::fabs(directional) + 1e-9);
  }
}

struct Fixture {
  CpuBackend be;
  VggWeights weights = random_vgg19_weights(11, 3);  // conv1_1 … conv2_1
  int h = 12, w = 14;
};

}  // namespace

TEST_CASE("parse_weighted_taps checks names, counts and numbers") {
  const auto t = parse_weighted_taps("relu1_1, conv4_2", "0.5,2", "layers");
  REQUIRE(t.size() == 2);
  CHECK(t[1].tap == parse_tap("conv4_2"));
  CHECK(t[1].weight == 2.0f);
  CHECK_THROWS_WITH_AS(parse_weighted_taps("relu1_1,relu2_1", "1", "--style-layers"),
                       doctest::Contains("1 weights for 2 layers"), Error);
  CHECK_THROWS_WITH_AS(parse_weighted_taps("relu1_1", "x", "--style-layers"), doctest::Contains("not a number"), Error);
  CHECK_THROWS_AS(parse_weighted_taps("relu9_1", "", "--style-layers"), Error);
  CHECK_THROWS_AS(parse_weighted_taps("relu1_1,relu1_1", "", "--style-layers"), Error);
  CHECK_THROWS_AS(parse_weighted_taps("", "", "--style-layers"), Error);
}

TEST_CASE("loss values follow DESIGN.md's formulas") {
  Fixture f;
  Vgg19 net(f.be, f.weights, PoolMode::average);
  const Shape s{1, 3, f.h, f.w};
  const auto content = random_image(f.h, f.w, 1), style = random_image(10, 9, 2), x = random_image(f.h, f.w, 3);

  // Reference features on the host, from a separate plan of the same network.
  auto features = [&](const std::vector<float>& img, int h, int w, const Tap& t) {
    net.plan(h, w, {t});
    net.forward(f.be.from_host(img, Shape{1, 3, h, w}));
    return std::make_pair(f.be.to_host(net.feature(t)), net.feature(t).shape());
  };
  const Tap content_tap = parse_tap("relu2_1"), style_tap = parse_tap("relu1_1");
  const auto [fp, ps] = features(content, f.h, f.w, content_tap);
  const auto [fx, xs] = features(x, f.h, f.w, content_tap);
  const auto [sx, sxs] = features(x, f.h, f.w, style_tap);
  const auto [ss, sss] = features(style, 10, 9, style_tap);
  const double n = ps.c, m = double(ps.plane());
  double sq = 0;
  for (std::size_t i = 0; i < fp.size(); ++i) sq += double(fx[i] - fp[i]) * (fx[i] - fp[i]);
  auto gram = [](const std::vector<float>& feat, const Shape& sh) {
    std::vector<double> g(std::size_t(sh.c) * sh.c, 0.0);
    for (int a = 0; a < sh.c; ++a)
      for (int b = 0; b < sh.c; ++b)
        for (std::int64_t p = 0; p < sh.plane(); ++p) g[a * sh.c + b] += double(feat[a * sh.plane() + p]) * feat[b * sh.plane() + p];
    return g;
  };
  const auto gx = gram(sx, sxs), gs = gram(ss, sss);
  const double ns = sxs.c, mx = double(sxs.plane()), ms = double(sss.plane());
  double style_gatys = 0, style_ms = 0;
  for (std::size_t i = 0; i < gx.size(); ++i) {
    const double a = gs[i] * mx / ms;  // the style Gram expressed at the output's M
    style_gatys += (gx[i] - a) * (gx[i] - a);
    const double d = gx[i] / (ns * mx) - gs[i] / (ns * ms);
    style_ms += d * d;
  }
  style_gatys /= 4.0 * ns * ns * mx * mx;
  style_ms /= ns * ns;

  for (int variant = 1; variant <= 3; ++variant) {
    for (StyleForm form : {StyleForm::gatys, StyleForm::mean_squared}) {
      LossConfig c;
      c.content_layers = {WeightedTap{content_tap, 3.0f}};
      c.style_layers = {WeightedTap{style_tap, 0.7f}};
      c.content_variant = variant;
      c.content_weight = 5.0;
      c.style_weight = 1e4;
      c.tv_weight = 0;
      c.style_form = form;
      StyleObjective obj(net, c);
      obj.add_style(f.be.from_host(style, Shape{1, 3, 10, 9}), 1.0f);
      obj.set_content(f.be.from_host(content, s));
      Tensor grad = f.be.empty(s);
      const LossTerms t = obj.evaluate(f.be.from_host(x, s), grad);
      const double k = variant == 1 ? 1.0 / (2.0 * std::sqrt(n) * std::sqrt(m)) : variant == 2 ? 1.0 / (n * m) : 0.5;
      // One layer: normalized layer weight 1, one layer → factor 1.
      INFO("variant " << variant << " form " << int(form));
      CHECK(t.content == doctest::Approx(5.0 * k * sq).epsilon(1e-4));
      CHECK(t.style == doctest::Approx(1e4 * (form == StyleForm::gatys ? style_gatys : style_ms)).epsilon(1e-3));
      CHECK(t.tv == 0.0);
      CHECK(t.total == doctest::Approx(t.content + t.style));
    }
  }
}

TEST_CASE("content + style gradient matches finite differences") {
  Fixture f;
  Vgg19 net(f.be, f.weights, PoolMode::average);
  StyleObjective obj(net, small_config());
  obj.add_style(f.be.from_host(random_image(16, 11, 5), Shape{1, 3, 16, 11}), 1.0f);
  obj.set_content(f.be.from_host(random_image(f.h, f.w, 6), Shape{1, 3, f.h, f.w}));
  check_gradient(obj, f.be, random_image(f.h, f.w, 7), f.h, f.w, 70);
}

TEST_CASE("several styles with blend weights: gradient and blend normalization") {
  Fixture f;
  Vgg19 net(f.be, f.weights, PoolMode::max);
  LossConfig c = small_config();
  c.content_weight = 0;
  StyleObjective two(net, c);
  const Shape ss{1, 3, 12, 12};
  const auto s1 = random_image(12, 12, 8), s2 = random_image(12, 12, 9);
  two.add_style(f.be.from_host(s1, ss), 3.0f);
  two.add_style(f.be.from_host(s2, ss), 1.0f);
  two.set_output_size(f.h, f.w);
  const auto x = random_image(f.h, f.w, 10);
  check_gradient(two, f.be, x, f.h, f.w, 71);

  // Blend weights are normalized: (3, 1) equals 0.75·L(style 1) + 0.25·L(style 2).
  Tensor grad = f.be.empty(Shape{1, 3, f.h, f.w});
  const double both = two.evaluate(f.be.from_host(x, Shape{1, 3, f.h, f.w}), grad).style;
  double single[2];
  for (int i = 0; i < 2; ++i) {
    StyleObjective one(net, c);
    one.add_style(f.be.from_host(i == 0 ? s1 : s2, ss), 5.0f);
    one.set_output_size(f.h, f.w);
    single[i] = one.evaluate(f.be.from_host(x, Shape{1, 3, f.h, f.w}), grad).style;
  }
  CHECK(both == doctest::Approx(0.75 * single[0] + 0.25 * single[1]).epsilon(1e-4));
}

TEST_CASE("masked styles: gradient, and a mask of ones equals no mask") {
  Fixture f;
  Vgg19 net(f.be, f.weights, PoolMode::average);
  LossConfig c = small_config();
  c.content_weight = 0;
  const Shape ss{1, 3, f.h, f.w};
  const auto s1 = random_image(f.h, f.w, 12), s2 = random_image(f.h, f.w, 13), x = random_image(f.h, f.w, 14);
  Image left{1, f.h, f.w, std::vector<float>(std::size_t(f.h) * f.w)};
  for (int i = 0; i < f.h; ++i)
    for (int j = 0; j < f.w; ++j) left.data[i * f.w + j] = j < f.w / 2 ? 255.0f : 0.0f;
  Image right = left;
  for (float& v : right.data) v = 255.0f - v;
  {
    StyleObjective obj(net, c);
    obj.add_style(f.be.from_host(s1, ss), 1.0f, &left);
    obj.add_style(f.be.from_host(s2, ss), 1.0f, &right);
    obj.set_output_size(f.h, f.w);
    check_gradient(obj, f.be, x, f.h, f.w, 72);
  }
  Image ones{1, 5, 7, std::vector<float>(35, 0.5f)};  // any constant: divided by its maximum
  Tensor grad_a = f.be.empty(ss), grad_b = f.be.empty(ss);
  StyleObjective masked(net, c), plain(net, c);
  masked.add_style(f.be.from_host(s1, ss), 1.0f, &ones);
  masked.set_output_size(f.h, f.w);
  plain.add_style(f.be.from_host(s1, ss), 1.0f);
  plain.set_output_size(f.h, f.w);
  const double la = masked.evaluate(f.be.from_host(x, ss), grad_a).style;
  const double lb = plain.evaluate(f.be.from_host(x, ss), grad_b).style;
  CHECK(la == doctest::Approx(lb).epsilon(1e-5));
  CHECK_CLOSE(f.be.to_host(grad_a), f.be.to_host(grad_b), 1e-4, 1e-9);

  Image empty{1, 4, 4, std::vector<float>(16, 0.0f)};
  StyleObjective bad(net, c);
  CHECK_THROWS_WITH_AS(bad.add_style(f.be.from_host(s1, ss), 1.0f, &empty), doctest::Contains("empty"), Error);
}

TEST_CASE("repeated evaluations start the tap gradients afresh (shared, masked and content taps)") {
  // The first term to reach a tap overwrites its gradient, later ones add (StyleObjective::evaluate): an
  // evaluation must not see the previous one's gradients, whichever terms share a tap.
  Fixture f;
  Vgg19 net(f.be, f.weights, PoolMode::average);
  LossConfig c = small_config();
  c.content_layers = parse_weighted_taps("relu1_1,conv2_1", "1,1", "content");  // both also style taps
  const Shape ss{1, 3, f.h, f.w};
  const auto s1 = random_image(f.h, f.w, 21), s2 = random_image(f.h, f.w, 22), content = random_image(f.h, f.w, 23);
  const auto x1 = random_image(f.h, f.w, 24), x2 = random_image(f.h, f.w, 25);
  Image left{1, f.h, f.w, std::vector<float>(std::size_t(f.h) * f.w)};
  for (int i = 0; i < f.h; ++i)
    for (int j = 0; j < f.w; ++j) left.data[i * f.w + j] = j < f.w / 2 ? 255.0f : 0.0f;
  auto make = [&](StyleObjective& obj) {
    obj.add_style(f.be.from_host(s1, ss), 1.0f);
    obj.add_style(f.be.from_host(s2, ss), 1.0f, &left);
    obj.set_content(f.be.from_host(content, ss));
  };
  StyleObjective reused(net, c);
  make(reused);
  Tensor g = f.be.empty(ss);
  const double l1 = reused.evaluate(f.be.from_host(x1, ss), g).total;
  const auto g1 = f.be.to_host(g);
  const double l2 = reused.evaluate(f.be.from_host(x2, ss), g).total;
  const auto g2 = f.be.to_host(g);
  CHECK(reused.evaluate(f.be.from_host(x1, ss), g).total == l1);
  CHECK(f.be.to_host(g) == g1);
  StyleObjective fresh(net, c);
  make(fresh);
  CHECK(fresh.evaluate(f.be.from_host(x2, ss), g).total == l2);
  CHECK(f.be.to_host(g) == g2);
  // Texture synthesis: content taps planned but no content term; their gradients must read 0, not garbage.
  StyleObjective texture(net, c);
  texture.add_style(f.be.from_host(s1, ss), 1.0f);
  texture.set_output_size(f.h, f.w);
  for (const auto& x : {x1, x2}) {
    const LossTerms t = texture.evaluate(f.be.from_host(x, ss), g);
    CHECK(t.content == 0.0);
    CHECK(std::isfinite(f.be.abs_sum(g)));
  }
}

TEST_CASE("an evaluation reads all its loss terms back at once: one blocking reduction, the same terms") {
  // Two styles (one masked) on three style layers, a content layer and TV: 1 + 2·3 + 1 = 8 loss values.
  const int h = 12, w = 14;
  const Shape ss{1, 3, h, w};
  const VggWeights weights = random_vgg19_weights(11, 3);
  const auto s1 = random_image(h, w, 21), s2 = random_image(h, w, 22), x = random_image(h, w, 23);
  Image half{1, h, w, std::vector<float>(std::size_t(h) * w, 0.0f)};
  for (int i = 0; i < h * w / 2; ++i) half.data[std::size_t(i)] = 255.0f;
  LossTerms t[2];
  std::vector<float> g[2];
  for (int counted = 0; counted < 2; ++counted) {
    test::CountingBackend counting;
    CpuBackend plain;
    Backend& be = counted ? static_cast<Backend&>(counting) : plain;
    Vgg19 net(be, weights, PoolMode::average);
    StyleObjective obj(net, small_config());
    obj.add_style(be.from_host(s1, ss), 1.0f);
    obj.add_style(be.from_host(s2, ss), 2.0f, &half);
    obj.set_content(be.from_host(random_image(h, w, 24), ss));
    const Tensor xt = be.from_host(x, ss);
    Tensor grad = be.empty(ss);
    const int before = counting.syncs();
    t[counted] = obj.evaluate(xt, grad);
    if (counted) CHECK(counting.syncs() - before == 1);
    CHECK_FALSE(be.deferring());
    g[counted] = be.to_host(grad);
  }
  CHECK(t[1].content == t[0].content);
  CHECK(t[1].style == t[0].style);
  CHECK(t[1].tv == t[0].tv);
  CHECK(t[0].content > 0);
  CHECK(t[0].style > 0);
  CHECK(t[0].tv > 0);
  CHECK(g[1] == g[0]);
  // Outside an evaluation the loss ops return their value at once.
  CpuBackend be;
  const Tensor a = be.from_host({1, 2, 3}, Shape{1, 1, 1, 3}), b = be.from_host({1, 1, 1}, Shape{1, 1, 1, 3});
  CHECK(be.sq_diff_loss(a, b, nullptr, 1.0f, nullptr) == doctest::Approx(5.0));
  be.begin_deferred();
  CHECK(be.sq_diff_loss(a, b, nullptr, 2.0f, nullptr) == 0.0);
  CHECK(be.sq_diff_loss(a, b, nullptr, 1.0f, nullptr) == 0.0);
  double out[Backend::kMaxDeferred];
  REQUIRE(be.take_deferred(out) == 2);
  CHECK(out[0] == doctest::Approx(10.0));
  CHECK(out[1] == doctest::Approx(5.0));
  CHECK(be.sq_diff_loss(a, b, nullptr, 1.0f, nullptr) == doctest::Approx(5.0));
}

TEST_CASE("TV terms: value and gradient, L1, squared and squared over the interior") {
  Fixture f;
  Vgg19 net(f.be, f.weights, PoolMode::average);
  for (TvMode mode : {TvMode::l1, TvMode::squared, TvMode::squared_interior}) {
    LossConfig c = small_config();
    c.content_weight = 0;
    c.style_weight = 0;
    c.tv_weight = 0.5;
    c.tv_mode = mode;
    StyleObjective obj(net, c);
    obj.add_style(f.be.from_host(random_image(8, 8, 15), Shape{1, 3, 8, 8}), 1.0f);
    obj.set_content(f.be.from_host(random_image(f.h, f.w, 16), Shape{1, 3, f.h, f.w}));
    const auto x = random_image(f.h, f.w, 17);
    double tv = 0;
    for (int ch = 0; ch < 3; ++ch)
      for (int i = 0; i < f.h; ++i)
        for (int j = 0; j < f.w; ++j) {
          const float* p = x.data() + ch * f.h * f.w;
          auto phi = [&](double d) { return mode == TvMode::l1 ? std::fabs(d) : d * d; };
          const double k = mode == TvMode::squared_interior ? 0.5 : 1.0;
          if (mode == TvMode::squared_interior && (i + 1 == f.h || j + 1 == f.w)) continue;
          if (i + 1 < f.h) tv += k * phi(p[(i + 1) * f.w + j] - p[i * f.w + j]);
          if (j + 1 < f.w) tv += k * phi(p[i * f.w + j + 1] - p[i * f.w + j]);
        }
    Tensor grad = f.be.empty(Shape{1, 3, f.h, f.w});
    const LossTerms t = obj.evaluate(f.be.from_host(x, Shape{1, 3, f.h, f.w}), grad);
    CHECK(t.tv == doctest::Approx(0.5 * tv).epsilon(1e-5));
    CHECK(t.content == 0.0);
    check_gradient(obj, f.be, x, f.h, f.w, 73);
  }
}

TEST_CASE("config validation") {
  LossConfig c = LossConfig::defaults();
  c.content_variant = 4;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("content loss variant"), Error);
  c = LossConfig::defaults();
  c.style_weight = -1;
  CHECK_THROWS_AS(c.validate(), Error);
  c = LossConfig::defaults();
  c.style_layers.clear();
  CHECK_THROWS_AS(c.validate(), Error);
}

// ---- region pairs and the photorealism term (Luan et al. 2017) ----------------------------------------------

namespace {

// A one-channel mask (1,H,W) 0..255: white where left_of(j, w) says so, with a soft column at the seam.
Image column_mask(int h, int w, bool left) {
  Image m{1, h, w, std::vector<float>(std::size_t(h) * w)};
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) {
      const float in = j < w / 2 ? 255.0f : j == w / 2 ? 128.0f : 0.0f;
      m.data[std::size_t(i) * w + j] = left ? in : 255.0f - in;
    }
  return m;
}

// The style (10×9) and the content (shape s) of the region tests: as one plain style, or as region pairs.
void set_targets(StyleObjective& o, Backend& be, const std::vector<float>& style, const std::vector<float>& content,
                 const Shape& s, const std::vector<RegionPair>& regions = {}) {
  const Tensor st = be.from_host(style, Shape{1, 3, 10, 9});
  if (regions.empty()) o.add_style(st, 1.0f);
  else o.add_style_regions(st, regions);
  o.set_content(be.from_host(content, s));
}

}  // namespace

TEST_CASE("a region pair covering both images whole is the unmasked style term (both style forms)") {
  Fixture f;
  Vgg19 net(f.be, f.weights, PoolMode::average);
  const auto content = random_image(f.h, f.w, 1), style = random_image(10, 9, 2), x = random_image(f.h, f.w, 3);
  const Shape s{1, 3, f.h, f.w};
  for (StyleForm form : {StyleForm::gatys, StyleForm::mean_squared}) {
    LossConfig c = small_config();
    c.style_form = form;
    StyleObjective plain(net, c), region(net, c);
    set_targets(plain, f.be, style, content, s);
    Tensor g_plain = f.be.empty(s), g_region = f.be.empty(s);
    const LossTerms a = plain.evaluate(f.be.from_host(x, s), g_plain);
    const Image whole_c{1, f.h, f.w, std::vector<float>(std::size_t(f.h) * f.w, 255.0f)};
    const Image whole_s{1, 10, 9, std::vector<float>(90, 255.0f)};
    set_targets(region, f.be, style, content, s, {{"all", whole_c, whole_s}});
    const LossTerms b = region.evaluate(f.be.from_host(x, s), g_region);
    INFO("form " << int(form) << ": style " << a.style << " vs " << b.style);
    CHECK(b.style == doctest::Approx(a.style).epsilon(1e-5));
    CHECK(b.content == doctest::Approx(a.content).epsilon(1e-6));
    const std::vector<float> gr = f.be.to_host(g_region), gp = f.be.to_host(g_plain);
    double gmax = 0;
    for (float v : gp) gmax = std::max(gmax, double(std::fabs(v)));
    CHECK_CLOSE(gr, gp, 1e-4, 1e-5 * gmax);
  }
}

TEST_CASE("region pairs: two regions differ from one style, and their gradient agrees with central differences") {
  Fixture f;
  Vgg19 net(f.be, f.weights, PoolMode::average);
  const auto content = random_image(f.h, f.w, 4), style = random_image(10, 9, 5), x = random_image(f.h, f.w, 6);
  const Shape s{1, 3, f.h, f.w};
  for (StyleForm form : {StyleForm::gatys, StyleForm::mean_squared}) {
    LossConfig c = small_config();
    c.style_form = form;
    StyleObjective obj(net, c), plain(net, c);
    // Crossed pairs: the output's left half takes the style's right half and the other way round.
    set_targets(obj, f.be, style, content, s,
                {{"left", column_mask(f.h, f.w, true), column_mask(10, 9, false)},
                 {"right", column_mask(f.h, f.w, false), column_mask(10, 9, true)}});
    set_targets(plain, f.be, style, content, s);
    Tensor g = f.be.empty(s);
    const double regions = obj.evaluate(f.be.from_host(x, s), g).style;
    const double whole = plain.evaluate(f.be.from_host(x, s), g).style;
    INFO("form " << int(form) << ": two regions " << regions << ", one style " << whole);
    CHECK(regions > 0);
    CHECK(std::fabs(regions - whole) > 1e-3 * whole);
    check_gradient(obj, f.be, x, f.h, f.w, 7);
  }
}

TEST_CASE("the photorealism term: λ times the result's Laplacian energy, with its gradient") {
  Fixture f;
  Vgg19 net(f.be, f.weights, PoolMode::average);
  const auto content = random_image(f.h, f.w, 8), style = random_image(10, 9, 9), x = random_image(f.h, f.w, 10);
  const Shape s{1, 3, f.h, f.w};
  LossConfig c = small_config();
  // The energy of this x is ~30 and the style term ~2e7: λ = 2e5 makes the photo term weigh like the style's in
  // the gradient check below (at 0.5 it would pass even with a wrong photo gradient).
  c.photo_weight = 2e5;
  StyleObjective obj(net, c);
  obj.add_style(f.be.from_host(style, Shape{1, 3, 10, 9}), 1.0f);
  const Tensor ct = f.be.from_host(content, s);
  obj.set_content(ct);
  // The guide in RGB 0..255: the preprocessed content plus a mean, channel order irrelevant to L's energy.
  Image guide{3, f.h, f.w, content};
  for (float& v : guide.data) v = std::clamp(v + 128.0f, 0.0f, 255.0f);
  CHECK_THROWS_WITH_AS(obj.set_photo_guide(Image{3, 4, 4, std::vector<float>(48, 1.0f)}, 1.0), doctest::Contains("4x4"),
                       Error);
  obj.set_photo_guide(guide, 1.0);
  Tensor g = f.be.empty(s);
  const LossTerms t = obj.evaluate(f.be.from_host(x, s), g);
  MattingTerm term(f.be, guide, 1.0);
  const double energy = term.energy(f.be.from_host(x, s));
  MESSAGE("photo term " << t.photo << " = 2e5 x energy " << energy << "; style " << t.style << ", content " << t.content);
  CHECK(energy > 0);
  CHECK(t.photo == doctest::Approx(2e5 * energy).epsilon(1e-5));
  CHECK(t.photo > 0.1 * t.style);
  CHECK(t.total == doctest::Approx(t.content + t.style + t.tv + t.photo).epsilon(1e-9));
  check_gradient(obj, f.be, x, f.h, f.w, 11);
}

TEST_CASE("style strips: halos, alignment, coverage, the split at 2^31 values and by memory") {
  CHECK(style_strip_halo(parse_tap("relu5_1").conv) == 96);  // reads 70 rows above, 85 below
  CHECK(style_strip_halo(parse_tap("relu3_1").conv) == 16);
  CHECK(style_strip_halo(parse_tap("relu1_1").conv) == 16);
  auto check_cover = [](const std::vector<StyleStrip>& strips, int h, int halo) {
    REQUIRE(!strips.empty());
    CHECK(strips.front().begin == 0);
    CHECK(strips.back().end == h);
    for (std::size_t k = 0; k < strips.size(); ++k) {
      const StyleStrip& s = strips[k];
      INFO("strip " << k << ": rows [" << s.begin << ", " << s.end << ") through [" << s.in_begin << ", " << s.in_end << ")");
      if (k > 0) CHECK(s.begin == strips[k - 1].end);
      CHECK(s.in_begin % 16 == 0);
      CHECK(s.begin % 16 == 0);
      CHECK((s.in_begin == 0 || s.begin - s.in_begin >= halo));
      CHECK((s.in_end == h || s.in_end - s.end >= halo));
      CHECK(s.in_begin <= s.begin);
      CHECK(s.end <= s.in_end);
    }
  };
  const int deepest = parse_tap("relu5_1").conv;
  const auto forced = style_strips(256, 24, deepest, 40);  // 40 rows round up to 48
  CHECK(forced.size() == 6);
  CHECK(forced[1].begin == 48);
  check_cover(forced, 256, 96);
  CHECK(style_strips(4320, 7680, deepest, 0).size() == 1);  // 64·4320·7680 = 2.12e9 fits
  const auto tall = style_strips(6128, 7680, deepest, 0);   // a portrait style at 8K: 3.0e9
  CHECK(tall.size() > 1);
  check_cover(tall, 6128, 96);
  for (const StyleStrip& s : tall) CHECK(64LL * (s.in_end - s.in_begin) * 7680 <= std::int64_t(INT32_MAX));
  CHECK_THROWS_WITH_AS(style_strips(100, 2000000, deepest, 0), doctest::Contains("too wide"), Error);

  // By memory: a pass covers at most 1.5× the output's pixels (3840×2160 → 12.4M), a strip owns at least two
  // halos, and a style no taller than four halos goes through at once.
  const std::int64_t budget = style_pass_pixels(2160, 3840);
  CHECK(budget == 12441600);
  CHECK(style_strips(2048, 3840, deepest, 0, budget).size() == 1);  // 7.9M pixels: one pass
  const auto big = style_strips(6128, 7680, deepest, 0, budget);     // --style-scale 2 at 4K: 47M pixels
  CHECK(big.size() == 5);
  check_cover(big, 6128, 96);
  for (const StyleStrip& s : big) CHECK(std::int64_t(s.in_end - s.in_begin) * 7680 <= budget);
  const auto small = style_strips(380, 500, deepest, 0, style_pass_pixels(64, 64));  // 4·96 > 380 rows
  CHECK(small.size() == 1);
  const auto thin = style_strips(1000, 500, deepest, 0, style_pass_pixels(64, 64));  // cores of 2·96 rows
  CHECK(thin.size() == 6);
  CHECK(thin[0].end == 192);
  check_cover(thin, 1000, 96);
  // The 2^31 limit still binds where memory allows more (an 8K output: a budget of 49.7M pixels).
  CHECK(style_strips(6128, 7680, deepest, 0, style_pass_pixels(4320, 7680)).size() == tall.size());
}

TEST_CASE("a style image through the network in strips gives one pass's style terms (plain, masked, regions)") {
  // relu5_1 needs a 96-row halo: a 256-row style in 48-row strips takes six passes of up to 240 rows.
  CpuBackend be;
  const VggWeights weights = random_vgg19_weights(5, 13);  // conv1_1 … conv5_1
  Vgg19 net(be, weights, PoolMode::average);
  const int sh = 256, sw = 24, h = 40, w = 36;
  const Shape s{1, 3, h, w};
  const auto style = random_image(sh, sw, 21), content = random_image(h, w, 22), x = random_image(h, w, 23);
  Image ramp{1, sh, sw, std::vector<float>(std::size_t(sh) * sw)};  // a mask that changes down the rows
  for (int i = 0; i < sh; ++i)
    for (int j = 0; j < sw; ++j) ramp.data[std::size_t(i) * sw + j] = 255.0f * float((i * 7 + j) % 97) / 96.0f;
  Image flipped = ramp;
  for (float& v : flipped.data) v = 255.0f - v;
  const Image out_a = column_mask(h, w, true), out_b = column_mask(h, w, false);
  for (const char* kind : {"plain", "masked", "regions"}) {
    auto objective_terms = [&](int strip_rows, std::vector<float>& grad) {
      LossConfig c = LossConfig::defaults();
      c.style_strip_rows = strip_rows;
      StyleObjective o(net, c);
      const Tensor st = be.from_host(style, Shape{1, 3, sh, sw});
      const std::string k = kind;
      if (k == "plain") o.add_style(st, 1.0f);
      if (k == "masked") o.add_style(st, 1.0f, &ramp);
      if (k == "regions") o.add_style_regions(st, {{"a", out_a, ramp}, {"b", out_b, flipped}});
      o.set_content(be.from_host(content, s));
      Tensor g = be.empty(s);
      const LossTerms t = o.evaluate(be.from_host(x, s), g);
      grad = be.to_host(g);
      return t;
    };
    std::vector<float> g_one, g_strips;
    const LossTerms one = objective_terms(0, g_one), strips = objective_terms(48, g_strips);
    INFO(kind << ": style term, one pass " << one.style << ", in strips " << strips.style);
    CHECK(one.style > 0);
    CHECK(strips.style == doctest::Approx(one.style).epsilon(1e-5));
    CHECK(strips.content == doctest::Approx(one.content).epsilon(1e-6));
    double gmax = 0;
    for (float v : g_one) gmax = std::max(gmax, double(std::fabs(v)));
    CHECK_CLOSE(g_strips, g_one, 1e-4, 1e-5 * gmax);
  }
}
