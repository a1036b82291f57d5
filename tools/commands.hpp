// tools/commands.hpp — each subcommand of the `impasto` CLI registers itself on the app from its own file.
#pragma once

#include <CLI/CLI.hpp>

#include "engine/comm.hpp"

namespace impasto::cli {

// The job's ranks (one without mpirun), made by main() before parsing.
Comm& ranks();

void add_weights_command(CLI::App& app);  // tools/cmd_weights.cpp: weights export / inspect
void add_stylize_command(CLI::App& app);  // tools/cmd_stylize.cpp: stylize, texture
void add_video_command(CLI::App& app);    // tools/cmd_video.cpp: video (temporal losses, flow, resume)

}  // namespace impasto::cli
