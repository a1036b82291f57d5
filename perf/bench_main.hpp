// perf/bench_main.hpp — the one error path of the benchmark programs, as the impasto CLI's: --help prints and
// exits 0, a usage error is one line and exit 2, any other failure one line and exit 1.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>

namespace impasto::bench {

// Parses argv into `app`'s options; returns only when they parse.
inline void parse_or_exit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", app.get_name().c_str(), e.what());
    std::exit(2);
  }
}

// run(argc, argv) with every exception turned into one line on stderr and exit code 1.
template <typename Run>
int guarded_main(const char* program, Run&& run, int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace impasto::bench
