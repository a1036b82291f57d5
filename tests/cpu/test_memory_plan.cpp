// tests/cpu/test_memory_plan.cpp — the memory estimate (engine/memory_plan.hpp) against what the CPU backend
// really holds: each part's byte count equals its allocations, a whole run's estimate covers its measured peak
// (and not by much), and the fit check names the largest --size and --history that fit. The CLI refuses a
// run that does not fit with one line and no output, and the size it names then runs.
#include <doctest/doctest.h>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include <regex>
#include <string>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/memory_plan.hpp"
#include "engine/stylize.hpp"
#include "tests/support/cli_run.hpp"
#include "tests/support/pictures.hpp"

using namespace impasto;
using impasto::test::make_content;
using impasto::test::make_style;

namespace {

constexpr std::size_t kMiB = std::size_t(1) << 20;

// One stylization (or texture) with 1 iteration: the estimate must hold the peak the backend measured, and
// (weights aside, which are exact and dominate at these sizes) be within 5 % + 64 KiB of it: an estimate far
// above the truth would refuse runs that fit.
void check_run_estimate(const StylizeOptions& o, const Image* content, const std::vector<Image>& styles,
                        const std::vector<Image>& masks, int texture_size = 0,
                        const std::vector<RegionPair>& regions = {}) {
  CpuBackend be;
  const VggWeights w = random_vgg19_weights(0, layers_needed(o.loss));
  const std::size_t base = be.bytes_in_use();
  be.reset_peak_bytes();
  Stylizer s(be, w, o);
  RunImages images;
  if (content) images.content = {content->h, content->w};
  for (const Image& st : styles) images.styles.push_back({st.h, st.w});
  images.masks = int(masks.size());
  images.regions = int(regions.size());
  StylizeOptions asked = o;
  if (texture_size > 0) asked.size = texture_size;
  const MemoryNeed need = s.memory_needed(asked, images);
  if (content)
    (void)s.run(*content, styles, masks, {}, regions);
  else
    (void)s.synthesize(texture_size, texture_size, styles);
  const std::size_t peak = be.peak_bytes_in_use() - base;
  INFO("estimate " << need.str() << " = " << need.total() << " bytes, measured peak " << peak << " bytes");
  CHECK(need.total() >= peak);
  CHECK(need.weights == s.memory_needed(asked, images).weights);
  CHECK(double(need.total() - need.weights) <= 1.05 * double(peak - need.weights) + 64.0 * 1024);
  MESSAGE("estimate / measured peak: " << double(need.total()) / double(peak));
}

}  // namespace

TEST_CASE("each part's byte count equals what it allocates") {
  CpuBackend be;
  const VggWeights w = random_vgg19_weights(0, 13);
  SUBCASE("VGG-19 plans, at several sizes and taps") {
    const std::vector<std::vector<Tap>> tap_sets = {
        {parse_tap("relu1_1")}, {parse_tap("conv4_2"), parse_tap("relu2_1")}, {parse_tap("relu5_1"), parse_tap("conv1_1")}};
    for (const auto& taps : tap_sets)
      for (auto [h, wd] : {std::pair{64, 64}, {37, 53}, {128, 96}}) {
        CpuBackend fresh;  // a workspace that starts empty
        Vgg19 net(fresh, w, PoolMode::average);
        const VggPlanBytes expect = net.plan_bytes(h, wd, taps);
        const std::size_t before = fresh.bytes_in_use();
        net.plan(h, wd, taps);
        CHECK(fresh.bytes_in_use() - before == expect.buffers + expect.workspace);
        CHECK(net.planned_bytes() == expect.buffers + expect.workspace);
        CHECK(expect.workspace > 0);
      }
  }
  SUBCASE("a plan after a larger one holds only its own bytes (the workspace is trimmed to it)") {
    const std::vector<Tap> taps = {parse_tap("relu4_1"), parse_tap("relu1_1")};
    CpuBackend fresh;
    Vgg19 net(fresh, w, PoolMode::average);
    const std::size_t base = fresh.bytes_in_use();  // the weights
    net.plan_forward(160, 96, taps);                 // a style strip, larger than the output
    const VggPlanBytes big = net.plan_forward_bytes(160, 96, taps);
    CHECK(fresh.bytes_in_use() - base == big.buffers + big.workspace);
    const VggPlanBytes small = net.plan_bytes(48, 40, taps);
    REQUIRE(small.workspace < big.workspace);
    net.plan(48, 40, taps);
    CHECK(fresh.bytes_in_use() - base == small.buffers + small.workspace);
    const VggPlanBytes strip = net.plan_forward_bytes(24, 40, taps);
    net.plan_forward(24, 40, taps);
    CHECK(fresh.bytes_in_use() - base == strip.buffers + strip.workspace);
  }
  SUBCASE("L-BFGS and Adam state") {
    const Shape x{1, 3, 40, 56};  // (1,3,H,W)
    for (auto ls : {LbfgsParams::LineSearch::none, LbfgsParams::LineSearch::strong_wolfe})
      for (int m : {1, 7, 100}) {
        LbfgsParams p;
        p.history = m;
        p.line_search = ls;
        const std::size_t before = be.bytes_in_use();
        Lbfgs opt(be, x, p);
        CHECK(be.bytes_in_use() - before == Lbfgs::state_bytes(x, p));
      }
    const std::size_t before = be.bytes_in_use();
    Adam adam(be, x, AdamParams{});
    CHECK(be.bytes_in_use() - before == Adam::state_bytes(x));
  }
}

TEST_CASE("a run's estimate covers its measured peak") {
  const Image content = resize_area(make_content(96), 88, 64);  // 88x64
  const Image style_a = make_style(64), style_b = resize_area(make_style(96, 40, 0, 0), 96, 72);
  const Image style_tall = resize_area(make_style(96, 40, 0, 0), 48, 160);
  StylizeOptions o = test::small_options(1);
  o.size = 0;  // the content's own size
  SUBCASE("default objective, L-BFGS with strong-Wolfe, two styles") { check_run_estimate(o, &content, {style_a, style_b}, {}); }
  SUBCASE("masked styles") {
    check_run_estimate(o, &content, {style_a, style_b},
                       {test::half_mask(64, 88, true), test::half_mask(64, 88, false)});
  }
  SUBCASE("a style larger than the output (--style-scale 1.6)") {
    o.style_scale = 1.6;
    check_run_estimate(o, &content, {style_b}, {});
  }
  SUBCASE("a portrait style five times the output, through the network in 32-row strips") {
    o.style_scale = 5;  // 132x440: passes of 120 to 224 rows, the largest plans of the run
    o.loss.style_strip_rows = 32;
    const ImageSize fitted = Stylizer::style_size(o, {style_tall.h, style_tall.w}, content.h, content.w);
    CHECK(fitted.h == 440);  // taller than any pass
    check_run_estimate(o, &content, {style_tall}, {});
    check_run_estimate(o, &content, {style_tall}, {test::half_mask(64, 88, true)});
  }
  SUBCASE("a portrait style five times the output, in strips by memory (passes of up to 1.5x its pixels)") {
    o.style_scale = 5;  // 132x440 for an 88x64 output: cores of two 96-row halos, passes of 152 to 344 rows
    const std::vector<int> passes = StyleObjective::style_pass_rows(limit_style_passes(o.loss, 64, 88), 440, 132);
    INFO(passes.size() << " passes, first " << passes.front());
    CHECK(passes == std::vector<int>{288, 344, 152});
    check_run_estimate(o, &content, {style_tall}, {});
  }
  SUBCASE("Adam") {
    o.use_adam = true;
    check_run_estimate(o, &content, {style_a}, {});
  }
  SUBCASE("L-BFGS without line search, history 3, conv taps") {
    o.lbfgs.line_search = LbfgsParams::LineSearch::none;
    o.lbfgs.history = 3;
    o.loss.content_layers = parse_weighted_taps("conv2_2,relu3_1", "", "content");
    check_run_estimate(o, &content, {style_a}, {});
  }
  SUBCASE("a two-level pyramid") {
    o.size = 96;
    o.pyramid_levels = 2;
    check_run_estimate(o, &content, {style_a}, {});
  }
  SUBCASE("region pairs and the photorealism term in a second stage (Luan et al.)") {
    o.loss.photo_weight = 100;
    o.photo_iterations = 1;
    const std::vector<RegionPair> regions{{"left", test::half_mask(64, 88, true), test::half_mask(64, 64, true)},
                                          {"right", test::half_mask(64, 88, false), test::half_mask(64, 64, false)}};
    check_run_estimate(o, &content, {style_a}, {}, 0, regions);
  }
  SUBCASE("a texture") {
    o.loss.content_layers.clear();
    check_run_estimate(o, nullptr, {style_b}, {}, 80);
  }
}

TEST_CASE("the fit check names the largest --size and --history that fit") {
  // A synthetic need: 100 bytes per pixel of the network, 12·history bytes per pixel of L-BFGS (history 0:
  // Adam, 48 bytes per pixel); sizes below 32 are too small for the network.
  const NeedFn need = [](int size, int history) {
    IMPASTO_CHECK(size >= 32, "image too small for the network");
    MemoryNeed n;
    n.network = std::size_t(size) * size * 100;
    n.optimizer = std::size_t(size) * size * (history == 0 ? 48 : 12 * std::size_t(history));
    return n;
  };
  MemoryBudget budget;
  budget.bytes = 2048 * kMiB;
  budget.source = "the test's budget";
  CHECK(fits(need(1024, 10), budget));
  CHECK_NOTHROW(check_memory(need, 1024, 10, budget, "a test run"));

  // 2048 px, history 100: 5.1 GiB. The largest size is a multiple of 8 that fits while the next one does not;
  // the largest history at 2048 px fits while one more does not.
  std::string message;
  try {
    check_memory(need, 2048, 100, budget, "a 2048x2048 stylization");
    FAIL("no error for a run that does not fit");
  } catch (const OutOfMemoryError& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("not enough memory for a 2048x2048 stylization") == 0);
  CHECK(message.find("2.00 GiB is the test's budget") != std::string::npos);
  CHECK(message.find('\n') == std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(message, m, std::regex("--size (\\d+) fits")));
  const int size = std::stoi(m[1]);
  CHECK(size % 8 == 0);
  CHECK(fits(need(size, 100), budget));
  CHECK_FALSE(fits(need(size + 8, 100), budget));
  REQUIRE(std::regex_search(message, m, std::regex("--lbfgs-history (\\d+) fits at this size")));
  const int history = std::stoi(m[1]);
  CHECK(fits(need(2048, history), budget));
  CHECK_FALSE(fits(need(2048, history + 1), budget));
  CHECK(message.find("or --optimizer adam fits at this size") != std::string::npos);  // 2048² · 148 B = 0.58 GiB
  // A history the user did not choose is shortened to that same longest one; one that fits is kept.
  CHECK(history_that_fits(need, 2048, 100, budget) == history);
  CHECK(history_that_fits(need, 1024, 10, budget) == 10);
  CHECK(history_that_fits(need, 2048, 3, budget) == 3);  // at or below the fewest pairs offered: kept

  // Nothing fits: the smallest valid size is named with its need.
  budget.bytes = 64 * kMiB;
  try {
    check_memory(need, 2048, 100, budget, "a 2048x2048 stylization");
    FAIL("no error for a run that does not fit");
  } catch (const OutOfMemoryError& e) {
    message = e.what();
  }
  CHECK(message.find("nothing smaller fits either (the smallest size, 32,") != std::string::npos);
  // Not even the fewest pairs fit: the history stays as asked, for check_memory to refuse.
  CHECK_FALSE(fits(need(2048, kFewestFittedPairs), budget));
  CHECK(history_that_fits(need, 2048, 100, budget) == 100);
}

TEST_CASE("CLI: an L-BFGS history the user did not choose is shortened to fit, and the run says so") {
  test::TempDir dir;
  write_image(make_content(96), dir / "content.png", false);
  write_image(make_style(64), dir / "style.png", false);
  // At 256 px the default 100 pairs take 0.15 GiB of about 0.28: 0.5 GiB (with its margin) holds some of them.
  const std::string base = "stylize --device cpu --content " + dir / "content.png" + " --style " + dir / "style.png" +
                           " --size 256 --iterations 1 --max-memory 0.5 --out " + dir / "out.png";
  const test::CliRun ok = test::run_cli(base + " --log " + dir / "log.jsonl");
  INFO(ok.out);
  REQUIRE(ok.status == 0);
  std::smatch m;
  REQUIRE(std::regex_search(ok.out, m, std::regex("L-BFGS history (\\d+) pairs, not 100: a longer one does not fit")));
  const int pairs = std::stoi(m[1]);
  CHECK(pairs >= kFewestFittedPairs);
  CHECK(pairs < 100);
  std::ifstream log(dir / "log.jsonl");
  std::string line, last;
  while (std::getline(log, line)) last = line;
  const nlohmann::json final = nlohmann::json::parse(last);
  CHECK(final.at("lbfgs_history") == pairs);
  // Where the time went (tools/cmd_stylize.cpp RunClock): the phases from the process's start add up to the total.
  CHECK(ok.out.find("impasto: time: ") != std::string::npos);
  double sum = 0;
  for (const char* phase : {"start-up", "inputs", "device", "weights", "memory plan", "set-up", "optimization",
                            "result", "write"}) {
    CAPTURE(phase);
    REQUIRE(final.at("timing").contains(phase));
    CHECK(final["timing"][phase].get<double>() >= 0);
    sum += final["timing"][phase].get<double>();
  }
  CHECK(final["timing"]["optimization"].get<double>() > 0);
  // The estimate the run was admitted with against the backend's measured peak (the bar: within 2 %).
  const double estimated = final.at("memory").at("estimated_bytes"), peak = final.at("memory").at("peak_bytes");
  CHECK(estimated / peak == doctest::Approx(1.0).epsilon(0.02));
  CHECK(std::abs(sum - final["timing"]["total"].get<double>()) < 1e-3);
  // The same history chosen by the user is kept, and the refusal names the length that was taken above.
  const test::CliRun refused = test::run_cli(base + " --lbfgs-history 100 --force");
  INFO(refused.out);
  CHECK(refused.status != 0);
  CHECK(refused.out.find("--lbfgs-history " + std::to_string(pairs) + " fits at this size") != std::string::npos);
}

TEST_CASE("CLI: a run that does not fit stops before starting, naming a size that then runs") {
  test::TempDir dir;
  write_image(make_content(96), dir / "content.png", false);
  write_image(make_style(64), dir / "style.png", false);
  const std::string base = "stylize --device cpu --content " + dir / "content.png" + " --style " + dir / "style.png" +
                           " --iterations 1 --max-memory 0.45 --out " + dir / "out.png" + " --log " + dir / "log.jsonl";
  const test::CliRun refused = test::run_cli(base + " --size 512");
  test::check_fails(refused, "not enough memory for a 512x512 stylization", dir / "out.png");
  CHECK_FALSE(std::filesystem::exists(dir / "log.jsonl"));
  CHECK(refused.out.find("allowed by --max-memory") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(refused.out, m, std::regex("--size (\\d+) fits")));
  const int size = std::stoi(m[1]);
  CHECK(size >= 64);
  CHECK(size < 512);
  const test::CliRun ok = test::run_cli(base + " --size " + std::to_string(size));
  INFO(ok.out);
  CHECK(ok.status == 0);
  CHECK(ok.out.find("impasto: memory: about") != std::string::npos);
  CHECK(read_image(dir / "out.png").w == size);
}

TEST_CASE("CLI: a video that does not fit stops before its output folder exists") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "frames");
  std::filesystem::create_directories(dir / "flow");  // --flow-dir: no OpenCV needed; never read (the run stops first)
  for (int t = 0; t < 3; ++t) write_image(make_content(64, 0.3f + 0.1f * float(t)), dir / ("frames/f" + std::to_string(t) + ".png"), false);
  write_image(make_style(48), dir / "style.png", false);
  const test::CliRun refused =
      test::run_cli("video --device cpu --input " + dir / "frames" + " --style " + dir / "style.png" +
                    " --size 400 --max-memory 0.5 --flow-dir " + dir / "flow" + " --out " + dir / "out");
  test::check_fails(refused, "not enough memory for a 400x400 video", dir / "out");
  CHECK(refused.out.find("--size ") != std::string::npos);
}

TEST_CASE("CLI: --dry-run checks inputs and memory, prints the plan and writes nothing") {
  test::TempDir dir;
  write_image(make_content(96), dir / "content.png", false);
  write_image(make_style(64), dir / "style.png", false);
  std::filesystem::create_directories(dir / "frames");
  std::filesystem::create_directories(dir / "flow");  // --flow-dir: no OpenCV needed; never read in a dry run
  for (int t = 0; t < 2; ++t) write_image(make_content(48), dir / ("frames/f" + std::to_string(t) + ".png"), false);
  const test::CliRun still = test::run_cli("stylize --device cpu --dry-run --content " + dir / "content.png" + " --style " +
                                           dir / "style.png" + " --size 200 --out " + dir / "out.png" + " --log " + dir / "log.jsonl");
  INFO(still.out);
  CHECK(still.status == 0);
  CHECK(still.out.find("impasto: memory: about") != std::string::npos);
  CHECK(still.out.find("dry run: a 200x200 stylization fits; nothing written") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "out.png"));
  CHECK_FALSE(std::filesystem::exists(dir / "log.jsonl"));
  const test::CliRun video = test::run_cli("video --device cpu --dry-run --input " + dir / "frames" + " --style " +
                                           dir / "style.png" + " --flow-dir " + dir / "flow" + " --out " + dir / "clip");
  INFO(video.out);
  CHECK(video.status == 0);
  CHECK(video.out.find("dry run: it fits; nothing written") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "clip"));
  // A bad input still fails in a dry run.
  test::check_fails(test::run_cli("stylize --device cpu --dry-run --content " + dir / "missing.png" + " --style " +
                                  dir / "style.png" + " --out " + dir / "out.png"),
                    "missing.png", dir / "out.png");
}
