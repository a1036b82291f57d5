// tests/emu/test_cli_emulated.cpp — the `impasto` program on the emulated device (impasto_emulated: the CLI
// linked to the engine whose CUDA backend runs over the kernel emulator and the host fakes of tests/emu): the
// pipelines a user runs with --device cuda, end to end, next to the same runs with --device cpu. What the GPU
// suites check op by op, this checks through the CLI: plans, the memory check against the device's free memory,
// precision switches, stills, textures and video.
//
// Tolerances: after 8 L-BFGS iterations the CUDA path's final loss must lie within 10 % of the CPU path's in
// fp32 and tf32 and 25 % in bf16 (trajectories drift apart through rounding; the loss falls by more than 100×
// over these iterations, so a broken path misses by far more).
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/image.hpp"
#include "tests/support/cli_run.hpp"
#include "tests/support/pictures.hpp"

namespace fs = std::filesystem;

namespace impasto {
namespace {

using test::check_fails;
using test::TempDir;

// Shallow taps keep the emulated runs to seconds (the deep layers' 512×512 Gram reductions dominate the
// emulator's time; tests/gpu/test_gpu_pipeline.cpp covers them on the emulated device).
const std::string kLayers = "--style-layers relu1_1,relu2_1 --content-layers relu2_1 ";

// The final loss of a stylize/texture run: "... loss A -> B in N iterations ...".
double final_loss(const std::string& out) {
  const auto arrow = out.rfind(" -> ");
  REQUIRE(arrow != std::string::npos);
  return std::stod(out.substr(arrow + 4));
}

// The start's loss of the same line ("loss A -> B").
double start_loss(const std::string& out) {
  const auto arrow = out.rfind(" -> ");
  const auto loss = out.rfind("loss ", arrow);
  REQUIRE(loss != std::string::npos);
  return std::stod(out.substr(loss + 5, arrow - loss - 5));
}

struct Inputs {
  TempDir dir;
  Inputs() {
    write_image(test::make_content(40), dir / "content.png", false);
    write_image(test::make_style(32), dir / "style.png", false);
  }
  std::string stylize(const std::string& device, const std::string& extra, const std::string& out) const {
    return "stylize --device " + device + " --content " + dir / "content.png" + " --style " + dir / "style.png" +
           " --size 40 --iterations 8 " + kLayers + extra + " --out " + dir / out;
  }
};

TEST_CASE("emulated device: stylize with --device cuda follows --device cpu in fp32, tf32 and bf16") {
  const Inputs in;
  const auto cpu = test::run_cli(in.stylize("cpu", "", "cpu.png"));
  INFO(cpu.out);
  REQUIRE(cpu.status == 0);
  const double want = final_loss(cpu.out);
  for (const auto& [precision, tolerance] : {std::pair{"fp32", 0.10}, std::pair{"tf32", 0.10}, std::pair{"bf16", 0.25}}) {
    CAPTURE(precision);
    const std::string out = std::string("cuda_") + precision + ".png";
    const auto r = test::run_cli(in.stylize("cuda", std::string("--precision ") + precision, out));
    INFO(r.out);
    REQUIRE(r.status == 0);
    CHECK(r.out.find("device: cuda (emulated device") != std::string::npos);
    const double got = final_loss(r.out);
    CHECK(got == doctest::Approx(want).epsilon(tolerance));
    const Image img = read_image(in.dir / out);
    CHECK(img.w == 40);
    CHECK(img.h == 40);
  }
}

TEST_CASE("emulated device: fp32 skips the FFT algorithms cuDNN's heuristics rank first; tf32 takes them") {
  // The fake ranks FFT_TILING first (forward algorithm 5, backward-data 3), as cuDNN 9.19 did for some layers.
  const Inputs in;
  ::setenv("IMPASTO_CUDNN_VERBOSE", "1", 1);
  const auto fp32 = test::run_cli(in.stylize("cuda", "--precision fp32", "fp32.png"));
  const auto tf32 = test::run_cli(in.stylize("cuda", "--precision tf32", "tf32.png"));
  ::unsetenv("IMPASTO_CUDNN_VERBOSE");
  INFO(fp32.out);
  INFO(tf32.out);
  REQUIRE(fp32.status == 0);
  REQUIRE(tf32.status == 0);
  CHECK(fp32.out.find("fp32 (heuristic): chosen algo") != std::string::npos);
  CHECK(fp32.out.find("forward x (1,3,40,40) w (64,3,3,3) NCHW fp32 (heuristic): chosen algo 1,") != std::string::npos);
  CHECK(fp32.out.find("backward-data x (1,64,40,40) w (64,64,3,3) NCHW fp32 (heuristic): chosen algo 1,") !=
        std::string::npos);
  CHECK(tf32.out.find("forward x (1,64,40,40) w (64,64,3,3) NHWC tf32 (heuristic): chosen algo 5,") !=
        std::string::npos);
}

TEST_CASE("emulated device: two masked styles with --device cuda (NHWC features) follow --device cpu") {
  const Inputs in;
  write_image(test::make_style(32, 60, 0, 0), in.dir / "style2.png", false);
  write_image(test::half_mask(40, 40, true), in.dir / "left.png", false);
  write_image(test::half_mask(40, 40, false), in.dir / "right.png", false);
  const std::string masked = " --style " + in.dir / "style2.png" + " --style-mask " + in.dir / "left.png" + " " +
                             in.dir / "right.png";
  // in.stylize's --style names the first style; the second --style adds the other (CLI11 appends).
  // fp32 with NHWC features (IMPASTO_LAYOUT): the masks, Grams and their gradients in the channels-last layout,
  // without TF32's rounding; no line search, whose accept/reject decisions can flip on rounding alone and send
  // two correct runs apart (perf/RESULTS.md). The start's loss (the forward pass) agrees to rounding, the final
  // loss within 5 %.
  const auto cpu = test::run_cli(in.stylize("cpu", "--print-every 1 --line-search none" + masked, "masked_cpu.png"));
  ::setenv("IMPASTO_LAYOUT", "nhwc", 1);
  const auto cuda = test::run_cli(in.stylize("cuda", "--precision fp32 --print-every 1 --line-search none" + masked, "masked_cuda.png"));
  ::unsetenv("IMPASTO_LAYOUT");
  INFO(cpu.out);
  INFO(cuda.out);
  REQUIRE(cpu.status == 0);
  REQUIRE(cuda.status == 0);
  CHECK(start_loss(cuda.out) == doctest::Approx(start_loss(cpu.out)).epsilon(1e-5));
  CHECK(final_loss(cuda.out) == doctest::Approx(final_loss(cpu.out)).epsilon(0.05));
}

TEST_CASE("emulated device: L-BFGS without line search makes progress under TF32 and bf16 rounding") {
  // Torch's first step (1/‖g‖₁) is so short that under TF32 the first gradient difference is rounding noise and
  // every later step shrinks to nothing; under rounding the first step is therefore 1/‖g‖₂ (engine/lbfgs.cpp).
  // In every precision the loss must at least halve in these 8 iterations, which a stalled run does not
  // (perf/RESULTS.md has the factors).
  const Inputs in;
  for (const std::string precision : {"fp32", "tf32", "bf16"}) {
    CAPTURE(precision);
    const auto r = test::run_cli(in.stylize("cuda", "--line-search none --precision " + precision, "none.png"));
    INFO(r.out);
    REQUIRE(r.status == 0);
    const auto from = r.out.rfind("loss ");
    const double first = std::stod(r.out.substr(from + 5));
    CHECK(final_loss(r.out) < first / 2);
    std::filesystem::remove(in.dir / "none.png");
  }
}

TEST_CASE("emulated device: the memory check reads the device's free memory and refuses before any output") {
  const Inputs in;
  const auto dry = test::run_cli(in.stylize("cuda", "--dry-run", "dry.png"));
  INFO(dry.out);
  CHECK(dry.status == 0);
  CHECK(dry.out.find("free on emulated device (CPU)") != std::string::npos);
  CHECK_FALSE(fs::exists(in.dir / "dry.png"));
  // 0.01 GiB is less than the weights alone: one line naming what would fit, nothing written.
  const auto r = test::run_cli(in.stylize("cuda", "--max-memory 0.01", "big.png"));
  check_fails(r, "not enough memory", in.dir / "big.png");
}

TEST_CASE("emulated device: 7680x4320 in bf16 plans within an 80 GB card, its style's Grams in strips") {
  // gpu_check.sh's 8K step, planned only (--dry-run: nothing of that size is allocated): a 16:9 content and a
  // style of starry_night.jpg's proportions (752×600), which at the output's size (7680×6128) would give
  // first feature maps past 2^31 values. The run must fit 79 GiB, with the style in strips and the L-BFGS
  // history cut to what fits.
  const TempDir dir;
  write_image(resize_area(test::make_content(64), 64, 36), dir / "content.png", false);
  write_image(resize_area(test::make_style(96), 94, 75), dir / "style.png", false);
  ::setenv("IMPASTO_EMU_MEMORY_GB", "80", 1);
  const auto r = test::run_cli("stylize --device cuda --precision bf16 --dry-run --max-memory 79 --size 7680 "
                               "--content " + dir / "content.png" + " --style " + dir / "style.png" +
                               " --out " + dir / "uhd.png");
  ::unsetenv("IMPASTO_EMU_MEMORY_GB");
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(r.out.find("7680x4320") != std::string::npos);
  CHECK(r.out.find("style 1 (7680x6128) goes through VGG-19 in 2 strips") != std::string::npos);
  CHECK(r.out.find("L-BFGS history") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "uhd.png"));
}

TEST_CASE("emulated device: memory that runs out after the check stops the run with one line and no output") {
  const Inputs in;
  // The check sees 8 GiB free, but allocations fail past 35 MiB (the run needs about 39, 32 of them cuBLAS's
  // workspace): a device another process filled in the meantime. The run must end with one line, a non-zero
  // exit and no image.
  ::setenv("IMPASTO_EMU_MALLOC_LIMIT_MB", "35", 1);
  const auto r = test::run_cli(in.stylize("cuda", "", "oom.png"));
  ::unsetenv("IMPASTO_EMU_MALLOC_LIMIT_MB");
  // The progress lines of a started run come first; the error is one line, the last.
  INFO(r.out);
  CHECK(r.status != 0);
  const auto last = r.out.rfind("impasto: error: ");
  REQUIRE(last != std::string::npos);
  CHECK(r.out.find("error") == last + 9);  // the only error line
  CHECK(r.out.find("out of GPU memory", last) != std::string::npos);
  CHECK(r.out.find('\n', last) == r.out.size() - 1);
  CHECK_FALSE(fs::exists(in.dir / "oom.png"));
}

TEST_CASE("emulated device: texture synthesis and a two-frame video run with --device cuda") {
  const Inputs in;
  const auto tex = test::run_cli("texture --device cuda --style " + in.dir / "style.png" +
                                 " --size 32 --iterations 6 --style-layers relu1_1,relu2_1 --out " + in.dir / "texture.png");
  INFO(tex.out);
  CHECK(tex.status == 0);
  CHECK(fs::exists(in.dir / "texture.png"));

#ifdef IMPASTO_HAVE_OPENCV  // the video's optical flow (DIS) comes from OpenCV
  fs::create_directories(in.dir.path / "frames");
  write_image(test::make_content(40, 0.30f), in.dir / "frames/f1.png", false);
  write_image(test::make_content(40, 0.36f), in.dir / "frames/f2.png", false);  // the disc moves right
  const auto video = test::run_cli("video --device cuda --input " + in.dir / "frames" + " --style " +
                                   in.dir / "style.png" + " --size 40 --iterations 6 --frame-iterations 6 " + kLayers + "--out " +
                                   in.dir / "video");
  INFO(video.out);
  CHECK(video.status == 0);
  CHECK(fs::exists(in.dir / "video/frame_0001.png"));
  CHECK(fs::exists(in.dir / "video/frame_0002.png"));
#endif
}

}  // namespace
}  // namespace impasto
