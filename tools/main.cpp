// tools/main.cpp — the `impasto` command-line program: parses the subcommand and turns every error into one
// line on stderr and a non-zero exit (2 for usage errors, 1 for everything else). Started by mpirun, an error on
// any rank names the rank and ends the whole job (MPI_Abort) instead of leaving the other ranks waiting; a
// command that has reported its own failure on every rank alike (cli::Exit: a batch with a failed job) just exits.
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "engine/error.hpp"
#include "tools/commands.hpp"

namespace impasto::cli {
namespace {
Comm* the_ranks = nullptr;
}
Comm& ranks() { return *the_ranks; }
}  // namespace impasto::cli

namespace {

// The one-line error of the job: printed and exit `code` with one rank, MPI_Abort with several.
int fail(const std::string& what, int code) {
  impasto::Comm& r = impasto::cli::ranks();
  if (r.size() > 1) r.abort("impasto: error: rank " + std::to_string(r.rank()) + ": " + what, code);
  std::fprintf(stderr, "impasto: error: %s\n", what.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<impasto::Comm> comm;
  try {
    comm = impasto::make_comm(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "impasto: error: %s\n", e.what());
    return 1;
  }
  impasto::cli::the_ranks = comm.get();
  CLI::App app{"impasto: optimization-based neural style transfer (Gatys et al.) on the CPU or CUDA"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "impasto " IMPASTO_VERSION);  // CMakeLists.txt's project VERSION
  impasto::cli::add_stylize_command(app);
  impasto::cli::add_weights_command(app);
  impasto::cli::add_video_command(app);
  impasto::cli::add_batch_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const impasto::cli::Exit& e) {
    return e.code;  // already reported, on every rank
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (see --help)", 2);
  } catch (const std::bad_alloc&) {
    return fail("out of host memory", 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
  return 0;
}
