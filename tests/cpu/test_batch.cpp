// tests/cpu/test_batch.cpp — `impasto batch JOBS.jsonl` as a user runs it: a failing job in the middle leaves the
// others' outputs and a log line per job and exits non-zero; a malformed line and an unknown key are bad jobs,
// not crashes; shared outputs and a missing file stop the batch before any work; and a job's result equals,
// bit for bit, that of the same `impasto stylize` command after another job ran on the warm engine.
//
// IMPASTO_TEST_LAUNCHER (ctest cpu.batch_mpi: "mpiexec --oversubscribe -np 2") runs the batches under a launcher,
// where mpirun adds lines of its own, so line counts are checked only without it.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/image.hpp"
#include "tests/support/cli_run.hpp"

namespace fs = std::filesystem;
using namespace impasto;

using test::TempDir;

namespace {

Image pattern(int n, int seed) {
  Image img{3, n, n, std::vector<float>(std::size_t(3) * n * n)};
  for (std::size_t i = 0; i < img.data.size(); ++i) img.data[i] = float((i * 37 + std::size_t(seed) * 101) % 256);
  return img;
}

std::string launcher() {
  const char* l = std::getenv("IMPASTO_TEST_LAUNCHER");
  return l ? std::string(l) + " " : "";
}

test::CliRun batch(const std::string& args) {
  return test::run_shell(launcher() + IMPASTO_CLI_PATH + " batch " + args);
}

// A quick job of `command` writing `out` (relative to the JSONL's folder), with extra keys.
nlohmann::json job(const std::string& command, const std::string& out, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json j = {{"command", command}, {"style", {"style.png"}}, {"out", out}, {"size", 32}, {"iterations", 3},
                      {"style-layers", "relu1_1,relu2_1"}, {"device", "cpu"}, {"quiet", true}};
  if (command == "stylize") {
    j["content"] = "content.png";
    j["content-layers"] = "relu2_1";
  }
  j.update(extra);
  return j;
}

// A folder with the inputs and JOBS.jsonl of these lines (strings as they are, JSON objects dumped).
void write_jobs(const TempDir& dir, const std::vector<nlohmann::json>& lines) {
  write_image(pattern(40, 1), dir / "content.png", false);
  write_image(pattern(24, 2), dir / "style.png", false);
  std::ofstream f(dir / "jobs.jsonl");
  for (const auto& l : lines) f << (l.is_string() ? l.get<std::string>() : l.dump()) << "\n";
}

std::vector<nlohmann::json> log_lines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string s; std::getline(in, s);) lines.push_back(nlohmann::json::parse(s));
  return lines;
}

}  // namespace

TEST_CASE("batch: a failing job in the middle: the others finish, one log line each, a non-zero exit") {
  TempDir dir;
  write_jobs(dir, {job("stylize", "a.png"), job("stylize", "b.png", {{"style", {"missing.png"}}}),
                   job("texture", "c.png")});
  const auto r = batch(dir / "jobs.jsonl");
  INFO(r.out);
  CHECK(r.status != 0);
  for (const char* out : {"a.png", "c.png"}) {
    const Image img = read_image(dir / out);
    CHECK(img.w == 32);
  }
  CHECK_FALSE(fs::exists(dir / "b.png"));
  // The bad job's one line names the file, its line and the problem; the closing line counts the jobs.
  CHECK(r.out.find("impasto: error: " + dir / "jobs.jsonl" + ":2: image 'missing.png': no such file") != std::string::npos);
  CHECK(r.out.find("impasto: batch: 3 jobs, 1 failed, in ") != std::string::npos);
  // The jobs are "quiet": a line per finished job, the error and the closing line.
  CHECK(r.out.find("impasto: batch: " + dir / "jobs.jsonl" + ":3: done in ") != std::string::npos);
  if (launcher().empty()) CHECK(r.lines() == 4);
  const auto log = log_lines(dir / "jobs.log.jsonl");
  REQUIRE(log.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(log[std::size_t(i)].at("line").get<int>() == i + 1);
    CHECK(log[std::size_t(i)].at("ok").get<bool>() == (i != 1));
    CHECK(log[std::size_t(i)].contains("seconds"));
    CHECK(log[std::size_t(i)].contains("rank"));
  }
  CHECK(log[1].at("error").get<std::string>() == "image 'missing.png': no such file");

  // Again: the log is kept without --force, stopping the batch before any work.
  const auto again = batch(dir / "jobs.jsonl");
  CHECK(again.status != 0);
  CHECK(again.out.find("log '" + dir / "jobs.log.jsonl" + "' exists (use --force") != std::string::npos);
}

TEST_CASE("batch: a malformed line and an unknown key are bad jobs, named by line; the good job finishes") {
  TempDir dir;
  write_jobs(dir, {nlohmann::json("{\"command\": \"stylize\", "), nlohmann::json(""), job("texture", "t.png"),
                   job("stylize", "x.png", {{"colour", "red"}}), nlohmann::json("[1, 2]")});
  const auto r = batch(dir / "jobs.jsonl --log " + dir / "run.log");
  INFO(r.out);
  CHECK(r.status != 0);
  CHECK(fs::exists(dir / "t.png"));
  CHECK(r.out.find("jobs.jsonl:1: not a JSON object: parse error") != std::string::npos);
  CHECK(r.out.find("jobs.jsonl:4: unknown key 'colour' (not an option of impasto stylize)") != std::string::npos);
  CHECK(r.out.find("jobs.jsonl:5: not a JSON object") != std::string::npos);
  CHECK(r.out.find("impasto: batch: 4 jobs, 3 failed") != std::string::npos);  // line 2 is blank: no job
  const auto log = log_lines(dir / "run.log");
  REQUIRE(log.size() == 4);
  CHECK(log[1].at("line").get<int>() == 3);
  CHECK(log[1].at("ok").get<bool>());
}

TEST_CASE("batch: shared outputs, a missing file and no jobs stop the batch before any work") {
  TempDir dir;
  write_jobs(dir, {job("stylize", "a.png"), job("texture", "sub/../same.png"), job("stylize", "same.png")});
  const auto r = batch(dir / "jobs.jsonl");
  INFO(r.out);
  CHECK(r.status != 0);
  if (launcher().empty()) CHECK(r.lines() == 1);
  CHECK(r.out.find("jobs.jsonl:3: 'same.png' is also line 2's --out") != std::string::npos);
  CHECK_FALSE(fs::exists(dir / "a.png"));
  CHECK_FALSE(fs::exists(dir / "jobs.log.jsonl"));

  const auto missing = batch(dir / "none.jsonl");
  CHECK(missing.status != 0);
  CHECK(missing.out.find("impasto: error: jobs '" + dir / "none.jsonl" + "': no such file") != std::string::npos);
  std::ofstream(dir / "empty.jsonl") << "\n";
  const auto empty = batch(dir / "empty.jsonl");
  CHECK(empty.status != 0);
  CHECK(empty.out.find("no jobs") != std::string::npos);
}

TEST_CASE("batch: a job's result is bit-identical to the same impasto stylize command after another job ran") {
  TempDir dir;
  // The first job leaves the warm engine as differently as it can: max pooling, deeper layers, fp32 set
  // explicitly, another size; the second is a plain stylize from noise.
  const nlohmann::json second = {{"init", "noise"}, {"style-weight", 1e3}, {"style-weights", {1}}};
  write_jobs(dir, {job("texture", "first.png",
                       {{"pooling", "max"}, {"precision", "fp32"}, {"size", 48}, {"style-layers", "relu1_1,relu3_1"}}),
                   job("stylize", "second.png", second)});
  const auto r = batch(dir / "jobs.jsonl");
  INFO(r.out);
  REQUIRE(r.status == 0);
  const auto alone = test::run_cli("stylize --content " + dir / "content.png" + " --style " + dir / "style.png" +
                                   " --out " + dir / "alone.png" +
                                   " --size 32 --iterations 3 --style-layers relu1_1,relu2_1 --content-layers relu2_1"
                                   " --device cpu --quiet --init noise --style-weight 1e3 --style-weights 1");
  INFO(alone.out);
  REQUIRE(alone.status == 0);
  const Image a = read_image(dir / "second.png"), b = read_image(dir / "alone.png");
  CHECK(a.data == b.data);
  CHECK(test::read_file_bytes(dir / "second.png") == test::read_file_bytes(dir / "alone.png"));
}
