// tests/support/cli_run.hpp — running the `impasto` program from a test: its exit status and output, a
// temporary folder that cleans up after itself, and the check every bad-input run must pass (one line, a
// non-zero exit, no output file).
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace impasto::test {

struct CliRun {
  int status = -1;
  std::string out;  // stdout and stderr
  int lines() const {
    int n = 0;
    for (char c : out) n += c == '\n';
    return n;
  }
};

// Runs a shell command line and collects its output (stdout and stderr).
inline CliRun run_shell(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// Runs `impasto ARGS` (the build's CLI) and collects its output.
inline CliRun run_cli(const std::string& args) { return run_shell(std::string(IMPASTO_CLI_PATH) + " " + args); }

// A bad-input run: non-zero exit, exactly one line containing `expect`, no file at `out`.
inline void check_fails(const CliRun& r, const std::string& expect, const std::string& out) {
  INFO("output: " << r.out);
  CHECK(r.status != 0);
  CHECK(r.lines() == 1);
  CHECK(r.out.find(expect) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(out));
}

}  // namespace impasto::test
