// tests/cpu/test_presets.cpp — each preset held to its anchor's definition: `impasto stylize --preset P` on the
// fixture's images (content and styles resized as the anchor resizes them) against the loss terms that
// tests/fixtures/make_preset_fixture.py computed the way the anchor computes them (jcjohnson/neural-style,
// ProGamerGov/neural-style-pt; float64, from the anchors' code), at the init image (iteration 0) and after the
// first L-BFGS step (torch's min(1, 1/‖g‖₁), no line search); the two resizers against Pillow itself and a
// float32 port of torch7's image.scale. Also what the presets set that the fixture does not reach: the Gaussian
// noise init and the blended style targets (same gradient as the per-style sum, another loss value).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/image.hpp"
#include "engine/resample.hpp"
#include "engine/losses.hpp"
#include "engine/stylize.hpp"
#include "tests/support/cli_run.hpp"
#include "weights/weights.hpp"

using namespace impasto;
using nlohmann::json;

namespace {

const std::string kDir = std::string(IMPASTO_FIXTURE_DIR) + "/presets";

json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  return json::parse(in);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

// The JSON lines of a --log file, by iteration.
std::vector<json> read_log(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  return lines;
}

double rel(double got, double want) { return std::fabs(got - want) / std::fabs(want); }

}  // namespace

TEST_CASE("presets reproduce their anchors' loss terms at the start and after the first L-BFGS step") {
  const json key = read_json(kDir + "/presets.json");
  REQUIRE(key["version"] == 2);
  test::TempDir tmp;
  for (const auto& [preset, want] : key["presets"].items()) {
    CAPTURE(preset);
    const std::string log = (tmp.path / (preset + ".jsonl")).string(), out = (tmp.path / (preset + ".png")).string();
    const test::CliRun r = test::run_cli(replace_all(want["cli"].get<std::string>(), "DIR", kDir) + " --log " + log +
                                         " --out " + out + " --quiet");
    INFO(r.out);
    REQUIRE(r.status == 0);
    const std::vector<json> lines = read_log(log);
    REQUIRE(lines.size() == 2);
    // Iteration 0: every term, and the loss the anchor reports (neural-style: content + style, TV left out),
    // to 1e-5 (float32 against the key's float64; measured: ≤ 3e-7).
    for (const char* term : {"loss", "content", "style", "tv"}) {
      CAPTURE(term);
      CHECK(rel(lines[0][term].get<double>(), want["iteration0"][term].get<double>()) < 1e-5);
      CHECK(rel(lines[1][term].get<double>(), want["iteration1"][term].get<double>()) < 1e-5);
    }
    // The first step moves each term by little (its length is 1/‖g‖₁): its change must match the anchor's,
    // which a wrong step length or direction would not. Allowed: 2 % of the change plus the float32 sums'
    // uncertainty of the terms themselves (1e-6 of the value; measured ≤ 3e-7).
    auto change = [](const json& a, const json& b, const char* term) {
      return a[term].get<double>() - b[term].get<double>();
    };
    for (const char* term : {"loss", "content", "style", "tv"}) {
      CAPTURE(term);
      const double want_change = change(want["iteration1"], want["iteration0"], term);
      const double got_change = change(lines[1], lines[0], term);
      CAPTURE(want_change);
      CAPTURE(got_change);
      CHECK(std::fabs(want_change) > 0);
      CHECK(std::fabs(got_change - want_change) <=
            0.02 * std::fabs(want_change) + 1e-6 * std::fabs(want["iteration0"][term].get<double>()));
    }
  }
}

TEST_CASE("resizers: pil is Pillow's BILINEAR resize exactly; torch is torch7's image.scale 'bilinear'") {
  const json key = read_json(kDir + "/presets.json");
  const Image src = read_image(kDir + "/resize.ppm");  // 23×17
  for (const auto& [kind, sizes] : key["resize"].items()) {
    CAPTURE(kind);
    const Resampler r = parse_enum<Resampler>(kind);
    for (const auto& [size, want] : sizes.items()) {
      CAPTURE(size);
      const int w = std::stoi(size), h = std::stoi(size.substr(size.find('x') + 1));
      const Image got = resample(src, w, h, r);
      REQUIRE(got.data.size() == want.size());
      double worst = 0;  // pil: 8-bit results, exact; torch: float32 in the same order, to an ulp or two
      for (std::size_t i = 0; i < got.data.size(); ++i)
        worst = std::max(worst, std::fabs(double(got.data[i]) - want[i].get<double>()));
      CHECK(worst <= (r == Resampler::pil ? 0.0 : 1e-4));
    }
  }
  // Their size rounding: image.scale and neural-style-pt truncate, impasto rounds; the style side by ceil / int.
  CHECK(resampled_size(37, 48, 40, Resampler::torch).h == 30);
  CHECK(resampled_size(37, 48, 40, Resampler::pil).h == 30);
  CHECK(resampled_size(37, 48, 40, Resampler::area).h == 31);
  CHECK(scaled_side(40, 0.51, Resampler::torch) == 21);
  CHECK(scaled_side(40, 0.51, Resampler::pil) == 20);
  CHECK(scaled_side(40, 0.51, Resampler::area) == 20);
}

TEST_CASE("presets: neural-style leaves TV out of the loss value, so a line search is refused in one line") {
  test::TempDir tmp;
  const std::string out = (tmp.path / "o.png").string();
  const test::CliRun r = test::run_cli("stylize --preset neural-style --line-search strong-wolfe --content " + kDir +
                                       "/content.ppm --style " + kDir + "/style1.ppm --size 40 --iterations 1 "
                                       "--device cpu --out " + out);
  test::check_fails(r, "needs --line-search none", out);
}

TEST_CASE("presets: the Gaussian noise init is randn·0.001 in network space (the mean image, in effect)") {
  CpuBackend be;
  const std::vector<float> x = be.to_host(noise_image(be, NoiseKind::gaussian, 40, 50, 3, 0));
  double sum = 0, sum_sq = 0;
  for (float v : x) {
    sum += v;
    sum_sq += double(v) * v;
  }
  const double n = double(x.size()), mean = sum / n, sd = std::sqrt(sum_sq / n - mean * mean);
  CHECK(std::fabs(mean) < 4 * 0.001 / std::sqrt(n));
  CHECK(sd == doctest::Approx(0.001).epsilon(0.05));
  CHECK(be.to_host(noise_image(be, NoiseKind::gaussian, 40, 50, 3, 0)) == x);  // seeded
}

TEST_CASE("presets: blended style targets give the per-style sum's gradient and another loss value") {
  CpuBackend be;
  LossConfig c = LossConfig::defaults();
  c.style_form = StyleForm::mean_squared;
  c.average_layers = false;
  c.content_weight = 0;
  c.tv_weight = 0;
  const VggWeights w = random_vgg19_weights(2, layers_needed(c));
  Vgg19 net(be, w, PoolMode::max);
  auto picture = [&](int n, float phase) {
    std::vector<float> v(std::size_t(3) * n * n);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = 60.0f * std::sin(0.37f * float(i) + phase);
    return be.from_host(v, Shape{1, 3, n, n});
  };
  auto evaluate = [&](bool blend, std::vector<float>& grad) {
    c.blend_style_targets = blend;
    StyleObjective obj(net, c);
    obj.add_style(picture(24, 0.0f), 3.0f);
    obj.add_style(picture(20, 1.0f), 1.0f);
    obj.set_output_size(24, 24);
    Tensor g = be.empty(Shape{1, 3, 24, 24});
    const LossTerms t = obj.evaluate(picture(24, 2.0f), g);
    grad = be.to_host(g);
    return t;
  };
  std::vector<float> g_sum, g_blend;
  const LossTerms sum = evaluate(false, g_sum), blended = evaluate(true, g_blend);
  double diff = 0, norm = 0;
  for (std::size_t i = 0; i < g_sum.size(); ++i) {
    diff += double(g_sum[i] - g_blend[i]) * (g_sum[i] - g_blend[i]);
    norm += double(g_sum[i]) * g_sum[i];
  }
  CHECK(std::sqrt(diff / norm) < 1e-4);
  CHECK(blended.style < sum.style);  // Σᵢwᵢ(G−Aᵢ)² = (G−Ā)² + Σᵢwᵢ(Aᵢ−Ā)²: the blended value drops the constant
  CHECK(blended.style > 0);
}
