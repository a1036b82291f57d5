// tests/cpu/test_presets.cpp — each preset held to its anchor's definition: `impasto stylize --preset P` on the
// fixture's images (content and styles resized as the anchor resizes them) against the loss terms that
// tests/fixtures/make_preset_fixture.py computed the way the anchor computes them (jcjohnson/neural-style,
// ProGamerGov/neural-style-pt; float64, from the anchors' code), at the init image (iteration 0) and after the
// first L-BFGS step (torch's min(1, 1/‖g‖₁), no line search); the two resizers against Pillow itself and a
// float32 port of torch7's image.scale. Also what the presets set that the fixture does not reach: the Gaussian
// noise init and the blended style targets (same gradient as the per-style sum, another loss value). For video,
// `impasto video --preset artistic-videos`: frame 2 of a clip with zero flows (its objective with the temporal
// term, at the start and after the first step), the schedules it sets (one pass and multi-pass) and its style
// sizing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
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

// The JSON lines of a --log file, by iteration (without stylize's closing "final" line).
std::vector<json> read_log(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    if (!j.contains("final")) lines.push_back(std::move(j));
  }
  return lines;
}

double rel(double got, double want) { return std::fabs(got - want) / std::fabs(want); }

}  // namespace

TEST_CASE("presets reproduce their anchors' loss terms at the start and after the first L-BFGS step") {
  const json key = read_json(kDir + "/presets.json");
  REQUIRE(key["version"] == 3);
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

namespace {

// The JSON line of frame `frame` (1-based) in a video --log.
json frame_line(const std::vector<json>& lines, int frame) {
  for (const json& l : lines)
    if (l.contains("frame") && l["frame"] == frame) return l;
  FAIL("no log line for frame " << frame);
  return {};
}

}  // namespace

TEST_CASE("presets: artistic-videos reproduces its anchor's frame objective with the temporal term") {
  const json key = read_json(kDir + "/presets.json");
  REQUIRE(key["version"] == 3);
  const json& want = key["video"]["artistic-videos"];
  test::TempDir tmp;
  json got[2];
  for (int iterations : {0, 1}) {
    const std::string out = (tmp.path / ("o" + std::to_string(iterations))).string();
    const test::CliRun r = test::run_cli(replace_all(want["cli"].get<std::string>(), "DIR", kDir) +
                                         " --frame-iterations " + std::to_string(iterations) + " --out " + out +
                                         " --log " + out + ".jsonl --quiet");
    INFO(r.out);
    REQUIRE(r.status == 0);
    got[iterations] = frame_line(read_log(out + ".jsonl"), 2);
    // Frame 1 (no iterations) is its randn·0.001 start: the mean pixel, the ω the key was computed with.
    const Image prev = read_image(out + "/frame_0001.png");
    for (int c = 0; c < 3; ++c) {
      const auto [lo, hi] = std::minmax_element(prev.plane(c), prev.plane(c) + std::size_t(prev.h) * prev.w);
      CHECK(*lo == want["prev_pixel"][c].get<float>());
      CHECK(*hi == want["prev_pixel"][c].get<float>());
    }
    // What the preset set and the command line did not: the run's state file records it.
    const json o = read_json(out + "/impasto-video.json")["described"]["options"];
    CHECK(o["temporal_weight"] == 1000.0);
    CHECK(o["size"] == 0);
    CHECK(o["style_fit"] == "area");
    CHECK(o["resample"] == "torch");
    CHECK(o["first_frame_init"] == "noise");
    CHECK(o["warp_fill"] == "mean-pixel");
    CHECK(o["optimizer"]["lbfgs"][3] == 1e-4);
    CHECK(o["optimizer"]["lbfgs"][4] == 50);
    CHECK(o["optimizer"]["lbfgs"][5] == "checkpoints");
  }
  // Iteration 0 (frame 2 at itself: the content term is 0) and after the first L-BFGS step; the loss is
  // content + style + temporal (TV only in the gradient). Float32 against the key's float64: 1e-5 of the
  // objective (terms near 0 are held to that too).
  const double scale = want["iteration0"]["loss"].get<double>();
  CHECK(rel(got[1]["loss_first"].get<double>(), scale) < 1e-5);
  for (const char* term : {"loss", "content", "style", "tv", "temporal"}) {
    CAPTURE(term);
    const double w0 = want["iteration0"][term].get<double>(), w1 = want["iteration1"][term].get<double>();
    const double g0 = got[0][term].get<double>(), g1 = got[1][term].get<double>();
    CHECK(std::fabs(g0 - w0) <= 1e-5 * std::max(std::fabs(w0), 0.01 * scale));
    CHECK(std::fabs(g1 - w1) <= 1e-5 * std::max(std::fabs(w1), 0.01 * scale));
    // The first step's change, as for the stills (2 % of it, plus 1e-6 of the objective for float32 sums).
    CAPTURE(w1 - w0);
    CAPTURE(g1 - g0);
    CHECK(std::fabs((g1 - g0) - (w1 - w0)) <= 0.02 * std::fabs(w1 - w0) + 1e-6 * scale);
  }
}

TEST_CASE("presets: artistic-videos' schedules, one pass and multi-pass, as a dry run reports them") {
  const json key = read_json(kDir + "/presets.json");
  auto options = [&](const std::string& extra) {
    const std::string cli = replace_all(key["video"]["artistic-videos"]["cli"].get<std::string>(), "DIR", kDir);
    // Without the fixture's overrides of the iteration counts and the frame init.
    const std::string base = replace_all(replace_all(cli, " --iterations 0", ""), " --frame-init content", "");
    test::TempDir tmp;
    const test::CliRun r = test::run_cli(base + " --out " + (tmp.path / "o").string() + " --dry-run" + extra);
    INFO(r.out);
    REQUIRE(r.status == 0);
    const std::size_t at = r.out.find("impasto: options: ");
    REQUIRE(at != std::string::npos);
    const std::size_t from = at + std::string("impasto: options: ").size();
    CHECK_FALSE(std::filesystem::exists(tmp.path / "o"));
    return json::parse(r.out.substr(from, r.out.find('\n', from) - from));
  };
  const json one = options("");
  CHECK(one["passes"] == 1);
  CHECK(one["iterations"] == 2000);
  CHECK(one["frame_iterations"] == 1000);
  CHECK(one["frame_init"] == "warped");
  CHECK(one["temporal_weight"] == 1000.0);
  CHECK(one["optimizer"]["lbfgs"][3] == 1e-4);
  CHECK_FALSE(one.contains("photometric_threshold"));  // the anchor's reliability: the flows' test alone
  const json multi = options(" --passes 15");
  CHECK(multi["passes"] == 15);
  CHECK(multi["iterations"] == 100);
  CHECK(multi["frame_iterations"] == 100);
  CHECK(multi["frame_init"] == "noise");
  CHECK(multi["temporal_from_pass"] == 8);
  CHECK(multi["temporal_weight"] == 500.0);
  CHECK(multi["pass_blend"] == 0.5);
  CHECK(multi["pass_blend_rule"] == "normalized");
  CHECK(multi["optimizer"]["lbfgs"][3] == 0.0);
  // The user's options win over the preset's.
  const json mine = options(" --temporal-weight 7 --tolerance-rule sliding");
  CHECK(mine["temporal_weight"] == 7.0);
  CHECK(mine["optimizer"]["lbfgs"][5] == "sliding");
  CHECK(mine["iterations"] == 2000);
}

TEST_CASE("presets: the area style fit is artistic-videos' getStyleImages sizing") {
  // Each side × k·√(h·w / (H·W)), truncated for torch and pil, rounded for area.
  auto anchor = [](int sh, int sw, int h, int w, double k) {
    const double s = std::sqrt(double(h) * w / (double(sw) * sh)) * k;
    return ImageSize{int(sh * s), int(sw * s)};
  };
  for (const auto& [sh, sw, h, w, k] : {std::tuple{60, 60, 30, 40, 1.0}, std::tuple{45, 30, 30, 40, 1.0},
                                        std::tuple{752, 600, 288, 384, 0.8}, std::tuple{17, 23, 480, 640, 1.5}}) {
    CAPTURE(sh); CAPTURE(sw); CAPTURE(k);
    const ImageSize want = anchor(sh, sw, h, w, k);
    const ImageSize got = area_matched_size({sh, sw}, h, w, k, Resampler::torch);
    CHECK(got.h == want.h);
    CHECK(got.w == want.w);
    const ImageSize near = area_matched_size({sh, sw}, h, w, k, Resampler::area);
    CHECK(std::abs(near.h - want.h) <= 1);
    CHECK(std::abs(double(near.h) * near.w - double(h) * w * k * k) <= double(near.h + near.w) * 1.0 + 1);
  }
  StylizeOptions o;
  o.style_fit = StyleFit::area;
  o.resample = Resampler::torch;
  const ImageSize s = Stylizer::style_size(o, {60, 60}, 30, 40);  // the fixture's style 1: 34×34
  CHECK(s.h == 34);
  CHECK(s.w == 34);
}
