// tests/cpu/test_photo_transfer.cpp — photorealistic transfer end to end on the CPU (Luan et al. 2017): region
// pairs from segmentations and their checks, region pairs steering each region's colours, the guided filter,
// and `impasto stylize --photo`: the matting-Laplacian term makes the result far more photographic at a
// bounded cost in style, and bad region inputs get one line before any work.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/photo.hpp"
#include "engine/stylize.hpp"
#include "tests/support/cli_run.hpp"
#include "tests/support/pictures.hpp"

using namespace impasto;
using namespace impasto::test;
namespace fs = std::filesystem;

namespace {

// An RGB segmentation (3,H,W): `left` colour on columns < split, `right` on the rest.
Image two_colour_seg(int h, int w, int split, const float left[3], const float right[3]) {
  Image s{3, h, w, std::vector<float>(std::size_t(3) * h * w)};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < h; ++i)
      for (int j = 0; j < w; ++j) s.plane(c)[std::size_t(i) * w + j] = j < split ? left[c] : right[c];
  return s;
}

constexpr float kBlue[3] = {0, 0, 255}, kGreen[3] = {0, 255, 0}, kRed[3] = {250, 10, 5};

// A style whose left half is `left`'s and right half `right`'s (n×n each → n×2n).
Image side_by_side(const Image& left, const Image& right) {
  Image s{3, left.h, 2 * left.w, std::vector<float>(std::size_t(3) * left.h * 2 * left.w)};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < left.h; ++i)
      for (int j = 0; j < 2 * left.w; ++j)
        s.plane(c)[std::size_t(i) * s.w + j] =
            j < left.w ? left.plane(c)[std::size_t(i) * left.w + j] : right.plane(c)[std::size_t(i) * left.w + j - left.w];
  return s;
}

}  // namespace

TEST_CASE("segmentations: one region per colour on the content, matched on the style; missing colours are errors") {
  const Image content = two_colour_seg(6, 8, 3, kBlue, kGreen);
  const Image style = two_colour_seg(5, 7, 5, kGreen, kRed);
  CHECK_THROWS_WITH_AS(regions_from_segmentations(content, style), doctest::Contains("--style-seg has no blue region"),
                       Error);
  const Image style_ok = two_colour_seg(5, 7, 2, kGreen, kBlue);
  const std::vector<RegionPair> r = regions_from_segmentations(content, style_ok);
  REQUIRE(r.size() == 2);
  CHECK(r[0].name == "blue");
  CHECK(r[1].name == "green");
  CHECK(r[0].content.data[0] == 255.0f);          // content column 0 is blue
  CHECK(r[0].content.data[5] == 0.0f);            // content column 5 is green
  CHECK(r[0].style.data[6] == 255.0f);            // style column 6 is blue
  CHECK(r[1].style.data[0] == 255.0f);            // style column 0 is green
  const Image grey = two_colour_seg(4, 4, 2, std::array<float, 3>{60, 200, 90}.data(), std::array<float, 3>{60, 200, 90}.data());
  CHECK_THROWS_WITH_AS(regions_from_segmentations(grey, style_ok), doctest::Contains("none of the segmentation colours"),
                       Error);
}

TEST_CASE("check_regions: masks of the wrong size or empty are one-line errors naming the region and side") {
  const Image full_c{1, 8, 10, std::vector<float>(80, 255.0f)}, full_s{1, 6, 6, std::vector<float>(36, 255.0f)};
  CHECK_NOTHROW(check_regions({{"sky", full_c, full_s}}, {8, 10}, {6, 6}));
  CHECK_THROWS_WITH_AS(check_regions({{"sky", full_c, full_s}}, {8, 12}, {6, 6}),
                       doctest::Contains("sky: the content mask is 10x8, the content image 12x8"), Error);
  CHECK_THROWS_WITH_AS(check_regions({{"sky", full_c, full_s}}, {8, 10}, {7, 6}),
                       doctest::Contains("sky: the style mask is 6x6"), Error);
  const Image empty{1, 6, 6, std::vector<float>(36, 0.0f)};
  CHECK_THROWS_WITH_AS(check_regions({{"sky", full_c, empty}}, {8, 10}, {6, 6}),
                       doctest::Contains("sky: the style mask is empty"), Error);
}

TEST_CASE("region pairs steer each region to its own part of the style (and crossing the pairs crosses the colours)") {
  CpuBackend be;
  constexpr int n = 48;
  StylizeOptions o;
  o.size = n;
  o.iterations = 10;
  Stylizer s(be, random_vgg19_weights(0, layers_needed(o.loss)), o);
  const Image content = make_content(n, 0.5f);
  const Image style = side_by_side(make_style(n, 90.0f, -40.0f, -90.0f), make_style(n, -90.0f, -40.0f, 90.0f));
  const Image c_left = half_mask(n, n, true), c_right = half_mask(n, n, false);
  const Image s_left = half_mask(n, 2 * n, true), s_right = half_mask(n, 2 * n, false);
  auto warmth_shift = [&](const Image& img, int j0, int j1) {  // (R − B) of the output minus the content's
    return (mean_channel(img, 0, j0, j1) - mean_channel(img, 2, j0, j1)) -
           (mean_channel(content, 0, j0, j1) - mean_channel(content, 2, j0, j1));
  };
  const StylizeResult straight = s.run(content, {style}, {}, {}, {{"l", c_left, s_left}, {"r", c_right, s_right}});
  const StylizeResult crossed = s.run(content, {style}, {}, {}, {{"l", c_left, s_right}, {"r", c_right, s_left}});
  const double sl = warmth_shift(straight.image, 0, n / 2), sr = warmth_shift(straight.image, n / 2, n);
  const double cl = warmth_shift(crossed.image, 0, n / 2), cr = warmth_shift(crossed.image, n / 2, n);
  MESSAGE("R-B shift, pairs left→red, right→blue: left " << sl << ", right " << sr << "; crossed: left " << cl
                                                          << ", right " << cr);
  CHECK(sl > sr + 20.0);  // the left half warmer than the right
  CHECK(cr > cl + 20.0);  // and the other way round when the pairs cross
  CHECK_THROWS_WITH_AS(s.run(content, {style, style}, {}, {}, {{"l", c_left, s_left}}),
                       doctest::Contains("region pairs take one style image"), Error);
}

TEST_CASE("guided filter: reproduces an affine function of the guide, keeps a constant, smooths what the guide lacks") {
  constexpr int h = 24, w = 20;
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(0.0f, 255.0f);
  Image guide{3, h, w, std::vector<float>(std::size_t(3) * h * w)};
  for (float& v : guide.data) v = u(gen);
  // Channel k of the image: an affine function of the guide's colours (inside 0..255).
  Image affine{3, h, w, std::vector<float>(guide.data.size())};
  for (std::size_t i = 0; i < std::size_t(h) * w; ++i) {
    const float r = guide.plane(0)[i], g = guide.plane(1)[i], b = guide.plane(2)[i];
    affine.plane(0)[i] = 0.3f * r + 0.2f * g + 0.1f * b + 20.0f;
    affine.plane(1)[i] = 0.5f * g + 0.4f * b;
    affine.plane(2)[i] = 200.0f - 0.6f * r;
  }
  const Image same = guided_filter(guide, affine, 2, 1e-6);
  double worst = 0;
  for (std::size_t i = 0; i < same.data.size(); ++i) worst = std::max(worst, double(std::fabs(same.data[i] - affine.data[i])));
  CHECK(worst < 0.05);
  const Image flat{3, h, w, std::vector<float>(guide.data.size(), 77.0f)};
  const Image flat_out = guided_filter(guide, flat, 3, 1e-4);
  for (float v : flat_out.data) REQUIRE(v == doctest::Approx(77.0f).epsilon(1e-4));
  // Noise the guide does not explain: the filtered image is far closer to locally affine in the guide.
  Image noisy = affine;
  std::normal_distribution<float> nrm(0.0f, 20.0f);
  for (float& v : noisy.data) v = std::clamp(v + nrm(gen), 0.0f, 255.0f);
  CpuBackend be;
  MattingTerm term(be, guide, 1.0);
  auto energy = [&](const Image& img) { return term.energy(be.from_host(preprocess(img, false), Shape{1, 3, h, w})); };
  const double before = energy(noisy), after = energy(guided_filter(guide, noisy, 2, 1e-4));
  MESSAGE("Laplacian energy of a noisy image " << before << ", guided-filtered " << after);
  CHECK(after < 0.2 * before);
  CHECK_THROWS_WITH_AS(guided_filter(guide, Image{3, h, w + 1, std::vector<float>(std::size_t(3) * h * (w + 1))}, 2, 1e-4),
                       doctest::Contains("differ in size"), Error);
}

namespace {

// The last JSON line's "style" and the stderr line's Laplacian energy of a finished CLI run.
struct PhotoRun {
  double style = -1, energy = -1;
};
PhotoRun photo_run(const std::string& args, const fs::path& log) {
  const CliRun r = run_cli(args + " --log " + log.string());
  INFO(r.out);
  REQUIRE(r.status == 0);
  PhotoRun p;
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, std::regex("matting-Laplacian energy of the result ([0-9.e+-]+)")));
  p.energy = std::stod(m[1]);
  // The last iteration's line, then the closing line with the same energy.
  std::ifstream in(log);
  std::string line, last_iteration, closing;
  while (std::getline(in, line)) (line.find("\"final\"") != std::string::npos ? closing : last_iteration) = line;
  REQUIRE(std::regex_search(last_iteration, m, std::regex("\"style\":([0-9.e+-]+)")));
  p.style = std::stod(m[1]);
  REQUIRE(std::regex_search(closing, m, std::regex("\"photo_energy\":([0-9.e+-]+)")));
  CHECK(std::stod(m[1]) == doctest::Approx(p.energy).epsilon(1e-4));
  return p;
}

}  // namespace

TEST_CASE("impasto stylize --photo: far more photographic than the same run without the term, at a bounded style cost") {
  const std::string data = "/usr/share/doc/opencv-doc/examples/data/";
  REQUIRE_MESSAGE(fs::exists(data + "leuvenA.jpg"), "test data missing (install opencv-doc: tools/setup.sh)");
  TempDir dir;
  const std::string base = "stylize --content " + data + "leuvenA.jpg --style " + data + "home.jpg --size 64 --device cpu " +
                           "--photo --force --out " + (dir.path / "out.png").string();
  // Both 60 iterations: 30 without the term, then 30 with it (Luan's two stages); or 60 without it.
  const PhotoRun with = photo_run(base + " --iterations 30 --photo-iterations 30", dir.path / "with.jsonl");
  const PhotoRun without = photo_run(base + " --iterations 60 --photo-weight 0 --photo-iterations 0", dir.path / "without.jsonl");
  MESSAGE("Laplacian energy with the term " << with.energy << ", without " << without.energy << " (ratio "
                                            << with.energy / without.energy << "); style loss " << with.style << " vs "
                                            << without.style << " (ratio " << with.style / without.style << ")");
  CHECK(with.energy <= 0.2 * without.energy);  // the target
  CHECK(with.style <= 3.0 * without.style);
}

TEST_CASE("impasto stylize: region inputs that do not match get one line before any work") {
  TempDir dir;
  const std::string content = (dir.path / "c.png").string(), style = (dir.path / "s.png").string();
  write_image(make_content(24), content, true);
  write_image(make_style(20), style, true);
  const Image white{1, 24, 24, std::vector<float>(576, 255.0f)};
  write_image(white, (dir.path / "m24.png").string(), true);
  write_image(Image{1, 20, 20, std::vector<float>(400, 255.0f)}, (dir.path / "m20.png").string(), true);
  const std::string out = (dir.path / "o.png").string();
  const std::string base = "stylize --content " + content + " --style " + style + " --size 24 --iterations 1 --device cpu --out " + out;
  const std::string m24 = (dir.path / "m24.png").string(), m20 = (dir.path / "m20.png").string();
  check_fails(run_cli(base + " --content-mask " + m24 + "," + m24 + " --style-region-mask " + m20),
              "--content-mask: 2 masks for 1 --style-region-mask", out);
  check_fails(run_cli(base + " --content-mask " + m20 + " --style-region-mask " + m20),
              "the content mask is 20x20, the content image 24x24", out);
  check_fails(run_cli(base + " --content-seg " + content + " --style-seg " + content), "--style-seg '", out);
  check_fails(run_cli(base + " --content-mask " + m24 + " --style-region-mask " + m20 + " --style " + style),
              "region pairs take one --style image, got 2", out);
  check_fails(run_cli(base + " --photo-iterations 5"), "needs a photorealism weight", out);
  check_fails(run_cli(base + " --photo --preset neural-style"), "--photo is --preset photo", out);
  const CliRun ok = run_cli(base + " --content-mask " + m24 + " --style-region-mask " + m20 + " --photo --photo-iterations 1");
  INFO(ok.out);
  CHECK(ok.status == 0);
  CHECK(fs::exists(out));
}
