// tests/cpu/test_cli_features.cpp — the `impasto` program's masked, pyramid, luminance-only, style-stretch
// and texture options as a user runs them: small successful runs (with the JSON log of a pyramid), and bad
// masks and pyramid settings, each of which must give one error line, a non-zero exit and no output file.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/image.hpp"
#include "tests/support/cli_run.hpp"
#include "tests/support/pictures.hpp"

namespace fs = std::filesystem;
using namespace impasto;
using namespace impasto::test;

namespace {

// Small and fast: two shallow style layers, a shallow content layer.
const std::string kFast = " --style-layers relu1_1,relu2_1 --content-layers relu2_1 --size 32";

}  // namespace

TEST_CASE("stylize: two masked styles with a pyramid log strictly increasing iterations with their level") {
  TempDir dir;
  write_image(make_content(40), dir / "content.png", false);
  write_image(make_style(24, 60, 0, -60), dir / "warm.png", false);
  write_image(make_style(20, -60, 0, 60), dir / "cold.png", false);
  // Masks of another size and aspect than the content: resized to it.
  write_image(half_mask(10, 30, true), dir / "left.png", false);
  write_image(half_mask(10, 30, false), dir / "right.png", false);
  const CliRun r = run_cli("stylize --content " + dir / "content.png" + " --style " + dir / "warm.png" + " " +
                           dir / "cold.png" + " --style-mask " + dir / "left.png" + " " + dir / "right.png" + kFast +
                           " --pyramid 2 --pyramid-iterations 3,2 --out " + dir / "out.png" + " --log " +
                           dir / "log.jsonl");
  INFO(r.out);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("level 1 (32x32)") != std::string::npos);
  const Image out = read_image(dir / "out.png");
  CHECK(out.w == 32);
  CHECK(out.h == 32);
  std::ifstream log(dir / "log.jsonl");
  std::string line;
  int last = -1, lines = 0, last_level = 0;
  while (std::getline(log, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("final")) continue;  // the closing line
    const int it = j.at("iteration").get<int>(), level = j.at("level").get<int>();
    CHECK(it > last);
    CHECK(level >= last_level);
    last = it;
    last_level = level;
    ++lines;
  }
  CHECK(last_level == 1);
  CHECK(lines == last + 1);  // 0, 1, 2, … without gaps
  CHECK(lines <= 6);         // the initial image and at most 3 + 2 steps
}

TEST_CASE("stylize --luminance-only --style-stretch and texture --pyramid write their images") {
  TempDir dir;
  write_image(make_content(40), dir / "content.png", false);
  write_image(resize_area(make_style(24), 24, 12), dir / "style.png", false);
  const CliRun lum = run_cli("stylize --content " + dir / "content.png" + " --style " + dir / "style.png" + kFast +
                             " --iterations 2 --luminance-only --style-stretch --out " + dir / "lum.png");
  INFO(lum.out);
  CHECK(lum.status == 0);
  CHECK(fs::exists(dir / "lum.png"));
  const CliRun tex = run_cli("texture --style " + dir / "style.png" +
                             " --style-layers relu1_1,relu2_1 --size 48 --pyramid 2 --iterations 2 --out " +
                             dir / "tex.png");
  INFO(tex.out);
  CHECK(tex.status == 0);
  const Image t = read_image(dir / "tex.png");
  CHECK(t.w == 48);
  CHECK(t.h == 48);
}

TEST_CASE("stylize: bad masks and pyramid settings give one line naming the problem, and no output") {
  TempDir dir;
  write_image(make_content(24), dir / "content.png", false);
  write_image(make_style(24), dir / "style.png", false);
  Image black = half_mask(24, 24);
  for (float& v : black.data) v = 0.0f;
  write_image(black, dir / "black.png", false);
  write_image(half_mask(24, 24), dir / "half.png", false);
  {
    std::ofstream bad(dir / "corrupt.png", std::ios::binary);
    bad << "\x89PNG\r\n\x1a\n not a png at all";
  }
  const std::string out = dir / "out.png";
  const std::string base = "stylize --content " + dir / "content.png" + " --style " + dir / "style.png" + kFast +
                           " --iterations 1 --out " + out;

  check_fails(run_cli(base + " --style-mask " + dir / "black.png"), "black.png': the mask is empty", out);
  check_fails(run_cli(base + " --style-mask " + dir / "missing.png"), "missing.png", out);
  check_fails(run_cli(base + " --style-mask " + dir / "corrupt.png"), "corrupt.png", out);
  check_fails(run_cli(base + " --style-mask " + dir / "half.png " + dir / "half.png"), "--style-mask: 2 masks for 1 styles",
              out);
  check_fails(run_cli(base + " --pyramid 2 --pyramid-iterations 1,2,3"), "3 counts for 2 levels", out);
  check_fails(run_cli("stylize --content " + dir / "content.png" + " --style " + dir / "style.png" +
                      " --size 32 --pyramid 3 --iterations 1 --out " + out),
              "--pyramid 3: the coarsest level, 8x8, is too small for layer conv5_1", out);
  check_fails(run_cli(base + " --pyramid 0"), "--pyramid", out);
  check_fails(run_cli(base + " --time-limit -1"), "--time-limit", out);
}
