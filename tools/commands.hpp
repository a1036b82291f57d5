// tools/commands.hpp — each subcommand of the `impasto` CLI registers itself on the app from its own file.
#pragma once

#include <CLI/CLI.hpp>

#include "engine/comm.hpp"

namespace impasto::cli {

// The job's ranks (one without mpirun), made by main() before parsing.
Comm& ranks();

// Thrown by a command that has already said on stderr what went wrong, on every rank alike (a batch with a
// failed job): main() exits with `code`, prints nothing more and does not abort the other ranks.
struct Exit {
  int code = 1;
};

class WarmEngine;  // tools/warm_engine.hpp

void add_weights_command(CLI::App& app);  // tools/cmd_weights.cpp: weights export / inspect
// tools/cmd_stylize.cpp: stylize, texture. Their runs use `warm` (the batch's engine, kept from run to run) when
// given, else an engine of their own.
void add_stylize_command(CLI::App& app, WarmEngine* warm = nullptr);
void add_video_command(CLI::App& app);    // tools/cmd_video.cpp: video (temporal losses, flow, resume)
void add_batch_command(CLI::App& app);    // tools/cmd_batch.cpp: batch (stylize/texture jobs from a JSONL file)

}  // namespace impasto::cli
