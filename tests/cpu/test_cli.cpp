// tests/cpu/test_cli.cpp — the `impasto` program as a user runs it: a small successful run with its log and
// snapshots, and bad input, each of which must give one error line, a non-zero exit and no partial file.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "engine/image.hpp"
#include "tests/support/cli_run.hpp"

namespace fs = std::filesystem;
using namespace impasto;

using test::check_fails;
using test::TempDir;

namespace {

test::CliRun run(const std::string& args) { return test::run_cli(args); }

std::size_t file_count(const TempDir& dir) {
  return std::size_t(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()));
}

Image pattern(int n, int seed) {
  Image img{3, n, n, std::vector<float>(std::size_t(3) * n * n)};
  for (std::size_t i = 0; i < img.data.size(); ++i) img.data[i] = float((i * 37 + std::size_t(seed) * 101) % 256);
  return img;
}

}  // namespace

TEST_CASE("stylize: a small run writes the image, the JSON log and snapshots, and keeps existing files") {
  TempDir dir;
  write_image(pattern(40, 1), dir / "content.png", false);
  write_image(pattern(24, 2), dir / "style.png", false);
  const std::string base = "stylize --content " + dir / "content.png" + " --style " + dir / "style.png" +
                           " --size 32 --iterations 6 --style-layers relu1_1,relu2_1 --content-layers relu2_1 ";
  const auto ok = run(base + "--out " + dir / "out.png" + " --log " + dir / "log.jsonl" + " --save-every 3");
  INFO(ok.out);
  REQUIRE(ok.status == 0);
  CHECK(ok.out.rfind("impasto: weights: random VGG-19 (seed 0)", 0) == 0);  // the first line names the weights
  const Image out = read_image(dir / "out.png");
  CHECK(out.w == 32);
  CHECK(out.h == 32);
  CHECK(fs::exists(dir / "out_0003.png"));
  std::ifstream log(dir / "log.jsonl");
  std::string line;
  int expect = 0;
  nlohmann::json last;
  while (std::getline(log, line)) {
    last = nlohmann::json::parse(line);
    if (last.contains("final")) break;
    CHECK(last.at("iteration").get<int>() == expect++);
    for (const char* key : {"loss", "content", "style", "tv", "photo", "seconds"}) CHECK(last.contains(key));
  }
  CHECK(expect == 7);  // iteration 0 and six steps
  // Then one closing line with the result's photorealism (its matting-Laplacian energy), and nothing after it.
  REQUIRE(last.contains("final"));
  CHECK(last.at("iterations").get<int>() == 6);
  CHECK(last.at("photo_energy").get<double>() > 0);
  CHECK_FALSE(std::getline(log, line));

  // Again without --force: refused before any work, the existing image unchanged.
  const auto before = fs::last_write_time(dir / "out.png");
  const auto again = run(base + "--out " + dir / "out.png");
  CHECK(again.status != 0);
  CHECK(again.lines() == 1);
  CHECK(again.out.find("exists (use --force") != std::string::npos);
  CHECK(fs::last_write_time(dir / "out.png") == before);
}

TEST_CASE("stylize: bad input gives one line, a non-zero exit and no output") {
  TempDir dir;
  write_image(pattern(24, 1), dir / "content.png", false);
  write_image(pattern(24, 2), dir / "style.png", false);
  {
    std::ofstream bad(dir / "corrupt.png", std::ios::binary);
    bad << "\x89PNG\r\n\x1a\n this is not really a png";
  }
  const std::string out = dir / "out.png";
  const std::string style = " --style " + dir / "style.png";
  const std::string content = " --content " + dir / "content.png";
  const std::string tail = " --size 24 --iterations 2 --out " + out;

  check_fails(run("stylize --content " + dir / "missing.png" + style + tail), "missing.png", out);
  check_fails(run("stylize --content " + dir / "corrupt.png" + style + tail), "corrupt.png", out);
  check_fails(run("stylize" + content + style + " --style-weights 1,2" + tail), "2 weights for 1 styles", out);
  check_fails(run("stylize" + content + style + " --style-weights 1 --style-weights 2" + tail), "2 weights for 1 styles", out);
  check_fails(run("stylize" + content + style + " --style-layers relu1_1,relu9_9" + tail), "unknown layer 'relu9_9'", out);
  check_fails(run("stylize" + content + style + " --device cuda" + tail), "--device cuda", out);
  check_fails(run("stylize" + content + style + " --weights " + dir / "corrupt.png" + tail), "corrupt.png", out);
  const std::string unwritable = dir / "no-such-folder/out.png";
  check_fails(run("stylize" + content + style + " --size 24 --out " + unwritable), "does not exist", unwritable);
  check_fails(run("stylize" + content + style + " --size 24 --out " + dir / "out.gif"), "extension", dir / "out.gif");
  CHECK(file_count(dir) == 3);  // nothing but the three inputs: no temporary or partial files
}

TEST_CASE("stylize: a loss that becomes Inf stops with one line and keeps the last good image") {
  TempDir dir;
  write_image(pattern(32, 1), dir / "content.png", false);
  write_image(pattern(32, 2), dir / "style.png", false);
  // Adam with an absurd step size overflows the image at the first step.
  const auto r = run("stylize --content " + dir / "content.png" + " --style " + dir / "style.png" +
                     " --size 32 --iterations 5 --optimizer adam --learning-rate 1e30 --style-layers relu1_1"
                     " --content-layers relu1_1 --quiet --out " + dir / "out.png");
  INFO(r.out);
  CHECK(r.status != 0);
  CHECK(r.lines() == 1);
  CHECK(r.out.find("became Inf at iteration 1") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "out.png"));
  REQUIRE(fs::exists(dir / "out.last-good.png"));
  const Image keep = read_image(dir / "out.last-good.png");  // iteration 0: the content image itself
  CHECK(keep.w == 32);
}
