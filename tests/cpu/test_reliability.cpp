// tests/cpu/test_reliability.cpp — the attacks and faults impasto's files must survive (issue 20), each written
// as the attack or fault it stops: links planted where impasto writes, a stranger's files in a video's --out
// folder, a tampered or missing state file, input frames replaced by others of the same size, a full disk
// (/dev/full, and a file-size limit), and the temp folders a killed run leaves behind.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/backend_factory.hpp"
#include "engine/files.hpp"
#include "engine/flow_io.hpp"
#include "engine/image.hpp"
#include "engine/video.hpp"
#include "tests/support/cli_run.hpp"
#include "weights/weights.hpp"

namespace fs = std::filesystem;
using namespace impasto;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void put(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

Image picture(int w, int h, int seed) {
  Image img{3, h, w, std::vector<float>(std::size_t(3) * h * w)};
  for (std::size_t k = 0; k < img.data.size(); ++k) img.data[k] = float((k * 37 + std::size_t(seed) * 101) % 256);
  return img;
}

// Binary PPM: same size for any pixels (what a folder fingerprint by size alone could not tell apart).
void write_ppm(const fs::path& p, const Image& img) {
  std::string bytes = "P6\n" + std::to_string(img.w) + " " + std::to_string(img.h) + "\n255\n";
  const std::size_t n = std::size_t(img.w) * img.h;
  for (std::size_t k = 0; k < n; ++k)
    for (int c = 0; c < 3; ++c) bytes += char((unsigned char)img.plane(c)[k]);
  put(p, bytes);
}

std::vector<std::string> temp_entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".impasto-tmp-") != std::string::npos)
      names.push_back(e.path().filename().string());
  return names;
}

// A two-frame clip of 24×16 PPM frames with zero flows, and a style, in dir.
void make_clip(const fs::path& dir) {
  fs::create_directories(dir / "frames");
  fs::create_directories(dir / "flow");
  write_ppm(dir / "frames/f1.ppm", picture(24, 16, 1));
  write_ppm(dir / "frames/f2.ppm", picture(24, 16, 2));
  const FlowField zero{16, 24, std::vector<float>(std::size_t(2) * 16 * 24, 0.0f)};
  write_flo(zero, (dir / "flow" / flo_name(0, 1)).string(), true);
  write_flo(zero, (dir / "flow" / flo_name(1, 0)).string(), true);
  write_image(picture(20, 20, 3), (dir / "style.png").string(), true);
}

// The CLI arguments of a small video run (1 iteration per frame, no out.avi unless with_video).
std::string video_cli(const fs::path& dir, const fs::path& out, const std::string& extra = "", bool with_video = false) {
  return "video --input " + (dir / "frames").string() + " --flow-dir " + (dir / "flow").string() + " --style " +
         (dir / "style.png").string() + " --size 0 --iterations 1 --frame-iterations 1 --style-layers relu1_1 "
         "--content-layers relu1_1 --device cpu --quiet --out " + out.string() + " " + extra +
         (with_video ? "" : " --no-video");
}

// s with every `from` replaced by `to`.
std::string replace_all_args(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("attack: links planted at the target or at old-style temp names never redirect a write") {
  test::TempDir dir;
  const fs::path victim = dir.path / "victim.txt";
  put(victim, "secret");
  const Image img = picture(8, 8, 0);

  // The target itself is a link to the victim: refused without --force; with it the link is replaced.
  fs::create_symlink(victim, dir.path / "out.png");
  CHECK_THROWS_WITH_AS(write_image(img, (dir.path / "out.png").string(), false), doctest::Contains("exists"), Error);
  write_image(img, (dir.path / "out.png").string(), true);
  CHECK(fs::is_regular_file(fs::symlink_status(dir.path / "out.png")));
  CHECK(slurp(victim) == "secret");

  // The names the old writers used (TARGET.tmp-<pid>), planted for this and the next pids.
  for (int k = 0; k < 4; ++k) {
    const std::string pid = std::to_string(::getpid() + k);
    fs::create_symlink(victim, dir.path / ("frame.png.tmp-" + pid));
    fs::create_symlink(victim, dir.path / ("state.json.tmp-" + pid));
  }
  write_image(img, (dir.path / "frame.png").string(), false);
  write_file_atomic((dir.path / "state.json").string(), std::string("{}"), true);
  CHECK(slurp(victim) == "secret");
  CHECK(read_image((dir.path / "frame.png").string()).w == 8);
  CHECK(slurp(dir.path / "state.json") == "{}");
  CHECK(temp_entries(dir.path).empty());
}

TEST_CASE("attack: the temp folder is private, and a library writing by name cannot be redirected") {
  test::TempDir dir;
  const fs::path victim = dir.path / "victim.txt";
  put(victim, "secret");
  {
    AtomicFile f((dir.path / "weights.h5").string());
    const fs::path folder = fs::path(f.temp_path()).parent_path();
    CHECK((fs::status(folder).permissions() & fs::perms::all) == fs::perms::owner_all);
    // Someone who can write to the folder moves the temp folder away and puts a link in its place.
    fs::rename(folder, dir.path / "moved");
    fs::create_directory(folder);
    fs::create_symlink(victim, folder / "weights.h5");
    std::FILE* lib = std::fopen(f.path_for_library().c_str(), "wb");  // as HDF5 or OpenCV would open it
    REQUIRE(lib != nullptr);
    std::fputs("weights", lib);
    std::fclose(lib);
    f.commit(false);
    fs::remove(folder / "weights.h5");
    fs::remove(folder);
  }
  CHECK(slurp(victim) == "secret");
  CHECK(slurp(dir.path / "weights.h5") == "weights");
}

TEST_CASE("fault: a killed run's temp folders are removed on the next run, a live process's are kept") {
  test::TempDir dir;
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // its pid is now a process that is gone
  const fs::path dead = dir.path / ("out.png.impasto-tmp-" + std::to_string(child) + "-abcdef");
  const fs::path live = dir.path / ("out.png.impasto-tmp-" + std::to_string(::getpid()) + "-abcdef");
  fs::create_directory(dead);
  put(dead / "out.png", "half");
  fs::create_directory(live);
  const fs::path user = dir.path / "mine.impasto-tmp-notapid";
  fs::create_directory(user);
  CHECK(remove_stale_temps(dir.path.string()) == 1);
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(live));
  CHECK(fs::exists(user));
}

TEST_CASE("attack: video --force removes only the files its state file lists, never a stranger's") {
  test::TempDir dir;
  make_clip(dir.path);
  const fs::path out = dir.path / "out";
  REQUIRE(test::run_cli(video_cli(dir.path, out)).status == 0);
  fs::create_directories(out / "passwords");
  put(out / "passwords/bank.txt", "1234");
  put(out / "pass_notes.txt", "n");
  put(out / "frame_notes.txt", "n");
  put(out / "frame_0009.png", "not ours");  // a frame name this run never wrote
  const test::CliRun r = test::run_cli(video_cli(dir.path, out, "--style-weight 7 --passes 2 --force"));
  INFO(r.out);
  CHECK(r.status == 0);
  CHECK(slurp(out / "passwords/bank.txt") == "1234");
  CHECK(fs::exists(out / "pass_notes.txt"));
  CHECK(fs::exists(out / "frame_notes.txt"));
  CHECK(slurp(out / "frame_0009.png") == "not ours");
  CHECK(fs::exists(out / "pass1/frame_0002.png"));
}

TEST_CASE("attack: a folder without a valid state file is never cleared, --force or not") {
  test::TempDir dir;
  make_clip(dir.path);
  const fs::path victim = dir.path / "victim.png";
  put(victim, "secret");
  const fs::path out = dir.path / "out";
  fs::create_directories(out);
  put(out / "frame_0001.png", "the user's");
  for (const char* state : {"", "not json {", R"({"version":2,"fingerprint":"x","described":{},"complete":false,
                                               "outputs":["../victim.png"]})"}) {
    CAPTURE(state);
    if (*state) put(out / "impasto-video.json", state);
    const test::CliRun r = test::run_cli(video_cli(dir.path, out, "--force"));
    INFO(r.out);
    CHECK(r.status != 0);
    CHECK(r.lines() == 1);
    CHECK(r.out.find("nothing") != std::string::npos);
    CHECK(slurp(out / "frame_0001.png") == "the user's");
    CHECK(slurp(victim) == "secret");
  }
  CHECK_THROWS_WITH_AS(read_video_state((out / "impasto-video.json").string()),
                       doctest::Contains("not a frame or out.avi"), Error);
}

TEST_CASE("fault: input frames replaced by others of the same size are not taken for the frames stylized before") {
  test::TempDir dir;
  make_clip(dir.path);
  const fs::path out = dir.path / "out";
  REQUIRE(test::run_cli(video_cli(dir.path, out)).status == 0);
  const auto size = fs::file_size(dir.path / "frames/f2.ppm");
  write_ppm(dir.path / "frames/f2.ppm", picture(24, 16, 9));
  REQUIRE(fs::file_size(dir.path / "frames/f2.ppm") == size);
  const test::CliRun r = test::run_cli(video_cli(dir.path, out));
  CHECK(r.status != 0);
  CHECK(r.out.find("other options or inputs") != std::string::npos);
}

TEST_CASE("fault: a full disk under --log is a one-line error naming the log, with no output image") {
  test::TempDir dir;
  write_image(picture(24, 24, 1), (dir.path / "content.png").string(), true);
  write_image(picture(20, 20, 2), (dir.path / "style.png").string(), true);
  const std::string out = (dir.path / "o.png").string();
  const test::CliRun r = test::run_cli("stylize --content " + (dir.path / "content.png").string() + " --style " +
                                       (dir.path / "style.png").string() + " --size 24 --iterations 2 --device cpu "
                                       "--quiet --force --log /dev/full --out " + out);
  test::check_fails(r, "log '/dev/full': cannot write", out);
  make_clip(dir.path);
  const test::CliRun v = test::run_cli(video_cli(dir.path, dir.path / "v", "--log /dev/full"));
  CHECK(v.status != 0);
  CHECK(v.out.find("log '/dev/full': cannot write") != std::string::npos);
}

TEST_CASE("fault: out.avi that does not fit is an error, and nothing is left under its name") {
  if (!have_opencv()) {
    MESSAGE("skipped: this build has no OpenCV (no out.avi)");
    return;
  }
  test::TempDir dir;
  make_clip(dir.path);
  const fs::path whole = dir.path / "whole";
  REQUIRE(test::run_cli(video_cli(dir.path, whole, "", true)).status == 0);
  std::uintmax_t others = 0;
  for (const auto& e : fs::recursive_directory_iterator(whole))
    if (e.is_regular_file() && e.path().filename() != "out.avi") others = std::max(others, e.file_size());
  const std::uintmax_t avi = fs::file_size(whole / "out.avi");
  REQUIRE(avi > others + 2048);  // room for a limit between the two (in KiB blocks)
  const std::uintmax_t limit_kib = (others + 1023) / 1024 + 1;
  REQUIRE(limit_kib * 1024 < avi);
  // The file-size limit stands in for a full disk: writes past it fail (EFBIG) instead of killing the process.
  const fs::path cut = dir.path / "cut";
  const test::CliRun r = test::run_shell("bash -c \"trap '' XFSZ; ulimit -f " + std::to_string(limit_kib) + "; exec " +
                                   std::string(IMPASTO_CLI_PATH) + " " + video_cli(dir.path, cut, "", true) + "\"");
  INFO(r.out);
  CHECK(r.status != 0);
  CHECK(r.out.find("cannot write '" + (cut / "out.avi").string() + "'") != std::string::npos);
  CHECK_FALSE(fs::exists(cut / "out.avi"));
  CHECK(fs::exists(cut / "frame_0002.png"));
  CHECK(temp_entries(cut).empty());
}

// ---- values checked before any work --------------------------------------------------------------------------

namespace {

std::uint32_t crc32(const unsigned char* p, std::size_t n) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// A PNG whose header (with a valid CRC) claims w×h; no pixel data follows.
std::string png_header(std::uint32_t w, std::uint32_t h) {
  auto be32 = [](std::uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  std::string chunk = "IHDR" + be32(w) + be32(h) + std::string{8, 2, 0, 0, 0};
  const std::uint32_t crc = crc32(reinterpret_cast<const unsigned char*>(chunk.data()), chunk.size());
  return std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + chunk + be32(crc);
}

}  // namespace

TEST_CASE("bad input: sizes, streams and devices are named in one line, before any decoding or work") {
  test::TempDir dir;
  put(dir.path / "huge.png", png_header(100000, 100000));
  CHECK_THROWS_WITH_AS(read_image((dir.path / "huge.png").string()), doctest::Contains("100000x100000 pixels is too large"),
                       Error);
  put(dir.path / "empty.ppm", "P6\n0 0\n255\n");
  CHECK_THROWS_WITH_AS(read_image((dir.path / "empty.ppm").string()), doctest::Contains("no pixels"), Error);
  // A FIFO would block the read forever, /dev/zero would fill memory: only regular files are read.
  REQUIRE(::mkfifo((dir.path / "fifo.png").c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(read_image((dir.path / "fifo.png").string()), doctest::Contains("not a regular file"), Error);
  CHECK_THROWS_WITH_AS(read_image("/dev/zero"), doctest::Contains("not a regular file"), Error);
  CHECK_THROWS_WITH_AS(read_flo((dir.path / "fifo.png").string()), doctest::Contains("not a regular file"), Error);

  write_image(picture(24, 24, 1), (dir.path / "c.png").string(), true);
  const std::string base = "stylize --content " + (dir.path / "c.png").string() + " --style " +
                           (dir.path / "c.png").string() + " --size 24 --iterations 1 --device cpu ";
  const std::string out = (dir.path / "o.png").string();
  struct Case {
    std::string args, expect;
  };
  fs::create_directory(dir.path / "folder.png");
  fs::create_symlink(dir.path / "nowhere.png", dir.path / "dangling.png");
  put(dir.path / "broken.png", "\x89PNG\r\n\x1a\n broken");
  for (const Case& c : std::vector<Case>{
           {"--out " + (dir.path / "folder.png").string() + " --force", "is a folder"},
           {"--out " + (dir.path / "dangling.png").string(), "exists"},
           {"--out " + out + " --style-weights -1", "is not a weight"},
           {"--out " + out + " --style " + (dir.path / "c.png").string() + " --style-weights 1,nan", "is not a weight"},
           {"--out " + out + " --style " + (dir.path / "c.png").string() + " --style-weights 0,0", "all weights are 0"},
           {"--out " + out + " --init " + (dir.path / "broken.png").string(), "broken.png"},
           {"--out " + out + " --iterations 2147483647 --save-every 1500000000 --dry-run", "--iterations"},
           {"--out " + out + " --pyramid 2 --iterations 1200000000", "--iterations"},
           {"--out " + out + " --style-scale 1.3e7", "--style-scale"},
           {"--out " + out + " --size 100000", "--size"},
       }) {
    CAPTURE(c.args);
    const test::CliRun r = test::run_cli(base + c.args);
    INFO(r.out);
    CHECK(r.status != 0);
    CHECK(r.lines() == 1);  // before the weights and memory lines
    CHECK(r.out.find(c.expect) != std::string::npos);
    CHECK_FALSE(fs::exists(out));
  }
  CHECK(fs::is_symlink(dir.path / "dangling.png"));
}

TEST_CASE("bad input: NaN or Inf in weights and in .flo files stop the run before any frame is computed") {
  test::TempDir dir;
  VggWeights w = random_vgg19_weights(0, 1);
  w.convs[0].w[5] = std::numeric_limits<float>::quiet_NaN();
  const std::string h5 = (dir.path / "nan.h5").string();
  save_keras_vgg19(w, h5, false);
  CHECK_THROWS_WITH_AS(load_keras_vgg19(h5, 1), doctest::Contains("NaN or Inf"), Error);

  make_clip(dir.path);
  // write_flo refuses such values: the bytes by hand (a .flo from another tool).
  std::string flo = "PIEH";
  const std::int32_t size[2] = {24, 16};
  flo.append(reinterpret_cast<const char*>(size), 8);
  std::vector<float> uv(std::size_t(2) * 16 * 24, 0.0f);
  uv[100] = std::numeric_limits<float>::infinity();
  flo.append(reinterpret_cast<const char*>(uv.data()), uv.size() * sizeof(float));
  put(dir.path / "flow" / flo_name(1, 0), flo);
  const fs::path out = dir.path / "out";
  const test::CliRun r = test::run_cli(video_cli(dir.path, out));
  CHECK(r.status != 0);
  CHECK(r.out.find("infinite") != std::string::npos);
  CHECK_FALSE(fs::exists(out / "frame_0001.png"));
}

TEST_CASE("bad input: a truncated video is refused, not taken for a short one") {
  if (!have_opencv()) {
    MESSAGE("skipped: this build has no OpenCV");
    return;
  }
  test::TempDir dir;
  make_clip(dir.path);
  REQUIRE(test::run_cli(video_cli(dir.path, dir.path / "v", "", true)).status == 0);
  const std::string avi = slurp(dir.path / "v/out.avi");
  CHECK(load_frames((dir.path / "v/out.avi").string(), 0, 0).frames.size() == 2);
  put(dir.path / "cut.avi", avi.substr(0, avi.size() * 6 / 10));
  CHECK_THROWS_AS(load_frames((dir.path / "cut.avi").string(), 0, 0), Error);
}

TEST_CASE("fault: after a crash, stylize --save-every reruns over its own snapshots but not over a stranger's file") {
  test::TempDir dir;
  write_image(picture(24, 24, 1), (dir.path / "c.png").string(), true);
  write_image(picture(20, 20, 7), (dir.path / "s.png").string(), true);
  const std::string out = (dir.path / "o.png").string();
  const std::string cli = "stylize --content " + (dir.path / "c.png").string() + " --style " +
                          (dir.path / "s.png").string() + " --size 24 --iterations 3 --save-every 1 --device cpu "
                          "--quiet --out " + out;
  REQUIRE(test::run_cli(cli).status == 0);
  CHECK(fs::exists(dir.path / "o_0001.png"));
  fs::remove(out);  // as if the run had died after its snapshots
  const test::CliRun again = test::run_cli(cli);
  INFO(again.out);
  CHECK(again.status == 0);
  CHECK(fs::exists(out));
  const std::string other = (dir.path / "p.png").string();
  put(dir.path / "p_0002.png", "the user's");
  const test::CliRun r = test::run_cli(replace_all_args(cli, out, other));
  test::check_fails(r, "p_0002.png' exists", other);
  CHECK(slurp(dir.path / "p_0002.png") == "the user's");
}

TEST_CASE("bad input: --device cuda without a usable GPU says so and what to do") {
  if (cuda_available()) {
    MESSAGE("skipped: a CUDA device is present");
    return;
  }
  test::TempDir dir;
  write_image(picture(24, 24, 1), (dir.path / "c.png").string(), true);
  const std::string out = (dir.path / "o.png").string();
  const test::CliRun r = test::run_cli("stylize --content " + (dir.path / "c.png").string() + " --style " +
                                       (dir.path / "c.png").string() + " --device cuda --out " + out);
  test::check_fails(r, "use --device cpu", out);
}
