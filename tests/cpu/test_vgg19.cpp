// tests/cpu/test_vgg19.cpp — VGG-19 on the CPU backend: tap names, plan checks, the input gradient against
// central finite differences, and features/gradient against the committed PyTorch fixtures
// (tests/fixtures/make_vgg_fixture.py).
#include <doctest/doctest.h>
#include <algorithm>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/vgg19.hpp"
#include "tests/support/compare.hpp"
#include "tests/support/finite_diff.hpp"

using namespace impasto;

namespace {

std::vector<float> random_vector(std::size_t n, unsigned seed, float scale) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// L(x) = Σ_taps <R_t, F_t(x)> with fixed random R_t, so dL/dF_t = R_t.
struct ProjectionLoss {
  Vgg19& net;
  Backend& be;
  std::vector<Tap> taps;
  std::vector<Tensor> r;
  double value(const Tensor& x) {
    net.forward(x);
    double l = 0;
    for (std::size_t i = 0; i < taps.size(); ++i) l += be.dot(net.feature(taps[i]), r[i]);
    return l;
  }
  void gradient(const Tensor& x, Tensor& dx) {
    net.forward(x);
    net.backward(dx, [&](const Tap& t, Tensor& d, bool accumulate) {  // every planned tap
      const std::size_t i = std::size_t(std::find(taps.begin(), taps.end(), t) - taps.begin());
      REQUIRE(i < taps.size());
      if (accumulate) be.axpy(1.0f, r[i], d);
      else be.copy(r[i], d);
    });
  }
};

void check_finite_differences(PoolMode pool) {
  CpuBackend be;
  const VggWeights w = random_vgg19_weights(3, 5);  // conv1_1 … conv3_1
  Vgg19 net(be, w, pool);
  const int h = 13, wd = 10;  // odd sizes: floor-mode pooling drops a row
  const std::vector<Tap> taps = {parse_tap("relu1_1"), parse_tap("conv1_2"), parse_tap("relu2_1"), parse_tap("conv3_1")};
  net.plan(h, wd, taps);
  ProjectionLoss loss{net, be, taps, {}};
  unsigned seed = 10;
  for (const Tap& t : taps) {
    loss.net.forward(be.zeros(Shape{1, 3, h, wd}));
    const Shape s = net.feature(t).shape();
    loss.r.push_back(be.from_host(random_vector(std::size_t(s.numel()), seed++, 1.0f / float(s.numel())), s));
  }
  const Shape xs{1, 3, h, wd};
  std::vector<float> x0 = random_vector(std::size_t(xs.numel()), 1, 50.0f);
  Tensor x = be.from_host(x0, xs);
  Tensor dx = be.empty(xs);
  loss.gradient(x, dx);
  const std::vector<float> g = be.to_host(dx);

  // Directional derivatives along random directions: (L(x+εv) − L(x−εv)) / 2ε vs <g, v>.
  // L is piecewise linear in x (ReLU, pooling; average pooling exactly linear), so the central difference is
  // exact up to float rounding unless a kink lies within ε; 2% relative tolerance covers the rounding.
  for (unsigned k = 0; k < 4; ++k) {
    const std::vector<float> v = random_vector(x0.size(), 100 + k, 1.0f);
    const auto d = test::directional_derivative(
        x0, g, v, 1e-2f, [&](const std::vector<float>& xx) { return loss.value(be.from_host(xx, xs)); });
    const double fd = d.finite_difference, directional = d.backward;
    INFO("direction " << k << ": finite difference " << fd << ", backward " << directional);
    CHECK(std::fabs(fd - directional) <= 2e-2 * std::fabs(directional) + 1e-6);
  }
  // A few single coordinates, including corners (padding) and the row dropped by floor-mode pooling.
  for (std::size_t i : {std::size_t(0), std::size_t(wd - 1), std::size_t((h - 1) * wd), std::size_t(h * wd + 37),
                        x0.size() - 1}) {
    const float eps = 1e-1f;
    std::vector<float> xp(x0), xm(x0);
    xp[i] += eps;
    xm[i] -= eps;
    const double fd = (loss.value(be.from_host(xp, xs)) - loss.value(be.from_host(xm, xs))) / (2.0 * eps);
    INFO("coordinate " << i << ": finite difference " << fd << ", backward " << g[i]);
    CHECK(std::fabs(fd - g[i]) <= 2e-2 * std::fabs(g[i]) + 2e-5);
  }
}

// ---- the PyTorch fixture (format: tests/fixtures/make_vgg_fixture.py) ------------------------------------
struct FixtureRecord {
  Shape shape;
  double sum = 0, sum_sq = 0;
  std::vector<std::uint32_t> index;
  std::vector<float> value;
};
struct Fixture {
  std::uint32_t seed = 0, height = 0, width = 0, pool = 0;
  std::map<std::string, FixtureRecord> records;
};

template <typename T>
T read_le(std::ifstream& in) {
  T v{};
  in.read(reinterpret_cast<char*>(&v), sizeof v);  // the fixture is little-endian, as is x86-64
  REQUIRE(in.good());
  return v;
}

Fixture read_fixture(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << path);
  char magic[8];
  in.read(magic, 8);
  REQUIRE(std::memcmp(magic, "IMPFIX\0\1", 8) == 0);
  REQUIRE(read_le<std::uint32_t>(in) == 1u);  // version
  Fixture f;
  f.seed = read_le<std::uint32_t>(in);
  f.height = read_le<std::uint32_t>(in);
  f.width = read_le<std::uint32_t>(in);
  f.pool = read_le<std::uint32_t>(in);
  const auto count = read_le<std::uint32_t>(in);
  for (std::uint32_t r = 0; r < count; ++r) {
    std::string name(read_le<std::uint32_t>(in), '\0');
    in.read(name.data(), std::streamsize(name.size()));
    FixtureRecord rec;
    rec.shape.n = read_le<std::int32_t>(in);
    rec.shape.c = read_le<std::int32_t>(in);
    rec.shape.h = read_le<std::int32_t>(in);
    rec.shape.w = read_le<std::int32_t>(in);
    rec.sum = read_le<double>(in);
    rec.sum_sq = read_le<double>(in);
    const auto n = read_le<std::uint32_t>(in);
    for (std::uint32_t k = 0; k < n; ++k) {
      rec.index.push_back(read_le<std::uint32_t>(in));
      rec.value.push_back(read_le<float>(in));
    }
    f.records[name] = std::move(rec);
  }
  return f;
}

void check_against_fixture(const char* file) {
  const Fixture fx = read_fixture(std::string(IMPASTO_FIXTURE_DIR) + "/" + file);
  CpuBackend be;
  Vgg19 net(be, random_vgg19_weights(fx.seed), fx.pool == 0 ? PoolMode::average : PoolMode::max);
  std::vector<Tap> taps;
  for (int i = 0; i < kVggConvCount; ++i) {
    taps.push_back(Tap{i, false});
    taps.push_back(Tap{i, true});
  }
  const int h = int(fx.height), w = int(fx.width);
  net.plan(h, w, taps);
  const FixtureRecord& in = fx.records.at("input");
  REQUIRE(in.shape == (Shape{1, 3, h, w}));
  REQUIRE(in.value.size() == std::size_t(in.shape.numel()));
  const Tensor x = be.from_host(in.value, in.shape);
  net.forward(x);

  // fp32 against fp32 with another summation order (PyTorch's CPU convolution): each tap within 1e-4 of its
  // largest sampled magnitude plus 1e-3 relative, and its full sum and sum of squares to 1e-3 relative.
  for (const Tap& t : taps) {
    const std::string name = tap_name(t);
    const FixtureRecord& rec = fx.records.at(name);
    const Tensor& f = net.feature(t);
    REQUIRE_MESSAGE(f.shape() == rec.shape, name << ": " << f.shape().str() << " vs " << rec.shape.str());
    const std::vector<float> got_all = be.to_host(f);
    std::vector<float> got;
    float peak = 0;
    for (std::size_t k = 0; k < rec.index.size(); ++k) {
      got.push_back(got_all[rec.index[k]]);
      peak = std::max(peak, std::fabs(rec.value[k]));
    }
    double sum = 0, sum_sq = 0;
    for (float v : got_all) {
      sum += v;
      sum_sq += double(v) * v;
    }
    INFO("tap " << name);
    CHECK_CLOSE(got, rec.value, 1e-3, 1e-4 * peak);
    CHECK(std::fabs(sum - rec.sum) <= 1e-3 * std::sqrt(rec.sum_sq * double(got_all.size())) + 1e-6);
    CHECK(std::fabs(sum_sq - rec.sum_sq) <= 1e-3 * rec.sum_sq + 1e-9);
  }

  // Gradient of L = Σ_{t in grad taps} ½‖F_t‖²/numel(F_t): dL/dF_t = F_t / numel(F_t).
  std::vector<Tap> in_loss;
  for (const char* name : {"relu1_1", "conv2_1", "relu3_1", "conv4_2", "relu5_1"}) in_loss.push_back(parse_tap(name));
  Tensor dx = be.empty(in.shape);
  std::vector<Tap> reached;
  net.backward(dx, [&](const Tap& t, Tensor& d, bool accumulate) {
    reached.push_back(t);
    const bool used = std::find(in_loss.begin(), in_loss.end(), t) != in_loss.end();
    const float k = 1.0f / float(net.feature(t).numel());
    if (accumulate) {
      if (used) be.axpy(k, net.feature(t), d);
    } else if (used) {
      be.copy(net.feature(t), d);
      be.scale(d, k);
    } else {
      be.fill(d, 0.0f);  // a tap the loss leaves out
    }
  });
  CHECK(reached.size() == taps.size());  // every planned tap, once
  const FixtureRecord& g = fx.records.at("input_grad");
  REQUIRE(g.value.size() == std::size_t(dx.numel()));
  float peak = 0;
  for (float v : g.value) peak = std::max(peak, std::fabs(v));
  // Backward through 16 layers accumulates more rounding: 1e-3 of the largest component plus 1e-2 relative.
  CHECK_CLOSE(be.to_host(dx), g.value, 1e-2, 1e-3 * peak);
}

}  // namespace

TEST_CASE("tap names parse and print") {
  CHECK(parse_tap("conv1_1") == Tap{0, false});
  CHECK(parse_tap("relu5_4") == Tap{15, true});
  CHECK(parse_tap("conv4_2") == Tap{9, false});
  CHECK(tap_name(Tap{12, true}) == "relu5_1");
  CHECK_THROWS_WITH_AS(parse_tap("relu6_1"), doctest::Contains("unknown layer 'relu6_1'"), Error);
  CHECK_THROWS_AS(parse_tap("conv4"), Error);
}

TEST_CASE("plan rejects what cannot run") {
  CpuBackend be;
  Vgg19 net(be, random_vgg19_weights(1, 3), PoolMode::average);
  CHECK_THROWS_WITH_AS(net.plan(16, 16, {parse_tap("relu3_1")}), doctest::Contains("weights hold only 3"), Error);
  CHECK_THROWS_WITH_AS(net.plan(1, 8, {parse_tap("relu2_1")}), doctest::Contains("too small"), Error);
  net.plan(8, 8, {parse_tap("relu2_1")});
  CHECK_THROWS_AS(net.forward(be.zeros(Shape{1, 3, 8, 9})), Error);
  CHECK_THROWS_AS(net.feature(parse_tap("conv1_1")), Error);  // not planned
}

// A network serves runs that differ in pooling (`impasto batch`): a plan keeps the same buffers for both poolings
// (forward writes the pooling's masks), so it stays, and computes from the next forward on what a network made
// with the new pooling does; planned again, the same.
TEST_CASE("a change of pooling keeps the plan; the gradient is the new pooling's") {
  CpuBackend be;
  const VggWeights w = random_vgg19_weights(5, 5);  // conv1_1 … conv3_1
  const std::vector<Tap> taps = {parse_tap("relu3_1"), parse_tap("relu1_1")};
  const int h = 21, wd = 18;
  const Shape xs{1, 3, h, wd};
  const Tensor x = be.from_host(random_vector(std::size_t(xs.numel()), 8, 40.0f), xs);
  std::vector<Tensor> r;
  for (const Tap& t : taps) {
    const Shape s = vgg19_feature_shape(t, h, wd);
    r.push_back(be.from_host(random_vector(std::size_t(s.numel()), 9, 0.01f), s));
  }
  auto gradient = [&](Vgg19& net) {
    ProjectionLoss loss{net, be, taps, r};
    Tensor dx = be.empty(xs);
    loss.gradient(x, dx);
    return be.to_host(dx);
  };
  Vgg19 max_net(be, w, PoolMode::max);
  max_net.plan(h, wd, taps);
  const std::vector<float> expected = gradient(max_net);

  Vgg19 net(be, w, PoolMode::average);
  net.plan(h, wd, taps);
  const std::vector<float> average = gradient(net);
  CHECK(average != expected);
  const std::size_t planned = net.planned_bytes();
  net.set_pooling(PoolMode::max);
  CHECK(net.planned_bytes() == planned);
  CHECK(gradient(net) == expected);
  net.plan(h, wd, taps);
  CHECK(gradient(net) == expected);
  net.set_pooling(PoolMode::average);
  CHECK(gradient(net) == average);
}

// The network's memory at the default taps (style relu1_1…relu5_1, content conv4_2; 256², NCHW on the CPU), in
// floats per input pixel. Backward keeps the taps' features (relu2_1 32, relu3_1 16, relu4_1 8, relu5_1 2, conv4_2's
// copy 8; relu1_1 lives in the backward scratch and is recomputed) and of every other ReLU only its mask, one bit
// per element (relu1_2 64, relu2_2 32, relu3_2…3_4 48, relu4_2…4_4 24 bits: 5.25 floats); forward passes those
// ReLU outputs and the poolings through two transient buffers (64 and 16), which backward then uses for its
// gradients beside the scratch (conv1's 64): 215.25. Keeping every ReLU output and pooling made 330; two
// scratch buffers and relu1_1's own (the plan before) 456. Max pooling keeps the same: below a pooling the mask is
// the pooling's (where each window's gradient lands) instead of the ReLU's; keeping max pooling's input and output
// made 313.5. The plan holds exactly what it counted.
TEST_CASE("the plan holds 215.25 floats per pixel at the default taps, with either pooling") {
  std::vector<Tap> taps;
  for (const char* name : {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1", "conv4_2"})
    taps.push_back(parse_tap(name));
  const int h = 256, w = 256;
  for (const auto& [pool, quarter_floats] : {std::pair{PoolMode::average, 861}, {PoolMode::max, 861}}) {
    const std::string name = enum_name(pool);
    CAPTURE(name);
    CpuBackend be;  // a workspace that starts empty
    Vgg19 net(be, random_vgg19_weights(7), pool);
    const VggPlanBytes bytes = net.plan_bytes(h, w, taps);
    MESSAGE(name << ": " << double(bytes.buffers) / (double(h) * w * sizeof(float)) << " floats per pixel");
    CHECK(bytes.buffers == std::size_t(quarter_floats) * h * w * sizeof(float) / 4);
    const std::size_t before = be.bytes_in_use();
    net.plan(h, w, taps);
    CHECK(be.bytes_in_use() - before == bytes.buffers + bytes.workspace);
    CHECK(net.planned_bytes() == bytes.buffers + bytes.workspace);
  }
}

// The style targets' forward-only plan: the largest activation twice (conv1's 64 channels: 128 floats per pixel
// at any taps), every tap's feature handed over in network order and equal to the full plan's, and nothing else
// of the full plan usable.
TEST_CASE("a forward-only plan holds 128 floats per pixel and hands over the full plan's features") {
  CpuBackend be;
  Vgg19 net(be, random_vgg19_weights(7), PoolMode::max);
  std::vector<Tap> taps;
  for (const char* name : {"relu5_1", "conv2_1", "relu1_1", "relu2_1", "conv4_2", "relu3_1", "relu4_1"})
    taps.push_back(parse_tap(name));
  const int h = 37, w = 50;  // odd: floor-mode poolings
  Tensor x = be.from_host(random_vector(3 * h * w, 9, 40.0f), Shape{1, 3, h, w});  // (1,3,H,W)
  net.plan(h, w, taps);
  net.forward(x);
  std::map<std::string, std::vector<float>> full;
  for (const Tap& t : taps) full[tap_name(t)] = be.to_host(net.feature(t));

  const VggPlanBytes bytes = net.plan_forward_bytes(h, w, taps);
  CHECK(bytes.buffers == std::size_t(128) * h * w * sizeof(float));
  {  // measured alone: on a backend whose workspace the full plan has not reserved yet
    CpuBackend fresh;
    Vgg19 alone(fresh, random_vgg19_weights(7), PoolMode::max);
    const std::size_t before = fresh.bytes_in_use();
    alone.plan_forward(h, w, taps);
    CHECK(fresh.bytes_in_use() - before == bytes.buffers + bytes.workspace);
  }
  net.plan_forward(h, w, taps);
  CHECK(net.planned_bytes() == bytes.buffers + bytes.workspace);

  std::vector<std::string> order;
  net.forward_taps(x, [&](const Tap& t, const Tensor& f) {
    order.push_back(tap_name(t));
    CHECK(f.shape() == vgg19_feature_shape(t, h, w));
    INFO(tap_name(t));
    CHECK(be.to_host(f) == full[tap_name(t)]);  // the same ops on the same inputs: equal to the bit
  });
  CHECK(order == std::vector<std::string>{"relu1_1", "conv2_1", "relu2_1", "relu3_1", "relu4_1", "conv4_2", "relu5_1"});
  CHECK_THROWS_AS(net.forward(x), Error);
  CHECK_THROWS_AS(net.feature(parse_tap("relu1_1")), Error);
  Tensor dx = be.zeros(Shape{1, 3, h, w});
  CHECK_THROWS_AS(net.backward(dx, [](const Tap&, Tensor&, bool) {}), Error);
  net.plan(h, w, taps);
  CHECK_THROWS_AS(net.forward_taps(x, [](const Tap&, const Tensor&) {}), Error);
}

TEST_CASE("relu taps are the rectified conv taps and the plan is truncated") {
  CpuBackend be;
  Vgg19 net(be, random_vgg19_weights(5, 4), PoolMode::max);
  net.plan(9, 11, {parse_tap("conv2_2"), parse_tap("relu2_2"), parse_tap("conv1_1")});
  Tensor x = be.from_host(random_vector(3 * 9 * 11, 2, 40.0f), Shape{1, 3, 9, 11});
  net.forward(x);
  const auto conv = be.to_host(net.feature(parse_tap("conv2_2")));
  auto relu = be.to_host(net.feature(parse_tap("relu2_2")));
  REQUIRE(conv.size() == relu.size());
  CHECK(net.feature(parse_tap("conv2_2")).shape() == (Shape{1, 128, 4, 5}));
  std::vector<float> expect(conv.size());
  for (std::size_t i = 0; i < conv.size(); ++i) expect[i] = std::max(conv[i], 0.0f);
  CHECK_CLOSE(relu, expect, 0.0, 0.0);
  // Four convs of 2·Cin·Cout·9 FLOPs per position.
  const double flops = 2.0 * 9 * (3 * 64 * 99 + 64 * 64 * 99 + 64 * 128 * 20 + 128 * 128 * 20);
  CHECK(net.conv_flops() == doctest::Approx(flops));
}

TEST_CASE("input gradient matches central finite differences (average pooling)") {
  check_finite_differences(PoolMode::average);
}

TEST_CASE("input gradient matches central finite differences (max pooling)") {
  check_finite_differences(PoolMode::max);
}

// backward() keeps its gradients in whatever plan_backward chose for the tap set — the scratch, dead activations,
// the spare, relu1_1 recomputed — so each choice is checked, for 24 random sets of one to five taps over all 32
// through all 16 layers (35×22: every pooling drops a row or column): (1) the gradient of the set is the sum of
// its taps' gradients each planned alone (backward is linear in the tap gradients; a buffer still in use being
// written would break it), to rounding; (2) along the gradient itself the central difference equals ‖g‖²
// (average pooling keeps L piecewise linear; random directions cancel too much for float differences here).
// Max pooling's masks (where each window's gradient lands) take the same paths: 12 more sets check (1) with it.
TEST_CASE("input gradient of random tap sets: the sum of single taps, and ‖g‖² along g") {
  CpuBackend be;
  Vgg19 net(be, random_vgg19_weights(3), PoolMode::average);
  const int h = 35, wd = 22;
  const Shape xs{1, 3, h, wd};
  std::mt19937 gen(2024);
  auto gradient = [&](const std::vector<Tap>& taps, const std::vector<Tensor>& r, const std::vector<float>& x0) {
    net.plan(h, wd, taps);
    ProjectionLoss loss{net, be, taps, r};
    Tensor dx = be.empty(xs);
    loss.gradient(be.from_host(x0, xs), dx);
    return be.to_host(dx);
  };
  for (int set = 0; set < 36; ++set) {
    const bool max_pooling = set >= 24;
    net.set_pooling(max_pooling ? PoolMode::max : PoolMode::average);
    std::vector<Tap> taps;
    const int count = 1 + int(gen() % 5);
    while (int(taps.size()) < count) {
      const Tap t{int(gen() % kVggConvCount), gen() % 2 == 1};
      if (std::find(taps.begin(), taps.end(), t) == taps.end()) taps.push_back(t);
    }
    std::string names = max_pooling ? "max: " : "average: ";
    for (const Tap& t : taps) names += tap_name(t) + " ";
    CAPTURE(names);
    std::vector<Tensor> r;
    for (std::size_t i = 0; i < taps.size(); ++i) {
      const Shape s = vgg19_feature_shape(taps[i], h, wd);
      r.push_back(be.from_host(random_vector(std::size_t(s.numel()), 300 + unsigned(set * 8 + int(i)),
                                             1.0f / float(s.numel())), s));
    }
    const std::vector<float> x0 = random_vector(std::size_t(xs.numel()), 7 + unsigned(set), 50.0f);
    const std::vector<float> g = gradient(taps, r, x0);
    std::vector<double> sum(g.size(), 0.0);
    for (std::size_t i = 0; i < taps.size(); ++i) {
      const std::vector<float> gi = gradient({taps[i]}, {r[i]}, x0);
      for (std::size_t k = 0; k < g.size(); ++k) sum[k] += gi[k];
    }
    float peak = 0;
    double worst = 0;
    for (std::size_t k = 0; k < g.size(); ++k) {
      peak = std::max(peak, std::fabs(g[k]));
      worst = std::max(worst, std::fabs(double(g[k]) - sum[k]));
    }
    INFO("largest difference from the sum of single taps " << worst << " of " << peak);
    CHECK(worst <= 1e-4 * peak);
    if (max_pooling) continue;  // max pooling's kinks lie closer than float differences can step

    net.plan(h, wd, taps);
    ProjectionLoss loss{net, be, taps, r};
    const float eps = 0.05f / peak;  // moves x by at most 0.05 (x is ~50)
    const auto d = test::directional_derivative(
        x0, g, g, eps, [&](const std::vector<float>& xx) { return loss.value(be.from_host(xx, xs)); });
    INFO("along g: finite difference " << d.finite_difference << ", ‖g‖² " << d.backward);
    CHECK(std::fabs(d.finite_difference - d.backward) <= 2e-2 * d.backward);
  }
}

TEST_CASE("features and input gradient match PyTorch (average pooling)") { check_against_fixture("vgg19_avg.bin"); }

TEST_CASE("features and input gradient match PyTorch (max pooling)") { check_against_fixture("vgg19_max.bin"); }
