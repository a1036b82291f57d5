// tools/main.cpp — the `impasto` command-line program: parses the subcommand and turns every error into one
// line on stderr and a non-zero exit (2 for usage errors, 1 for everything else).
#include <cstdio>
#include <exception>

#include "engine/error.hpp"
#include "tools/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"impasto: optimization-based neural style transfer (Gatys et al.) on the CPU or CUDA"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "impasto 0.1.0");
  impasto::cli::add_stylize_command(app);
  impasto::cli::add_weights_command(app);
  impasto::cli::add_video_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "impasto: error: %s (see --help)\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "impasto: error: out of host memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "impasto: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
