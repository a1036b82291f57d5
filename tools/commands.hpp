// tools/commands.hpp — each subcommand of the `impasto` CLI registers itself on the app from its own file.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/comm.hpp"
#include "engine/image.hpp"
#include "engine/losses.hpp"
#include "engine/stylize.hpp"

namespace impasto::cli {

// The job's ranks (one without mpirun), made by main() before parsing.
Comm& ranks();

// Thrown by a command that has already said on stderr what went wrong, on every rank alike (a batch with a
// failed job): main() exits with `code`, prints nothing more and does not abort the other ranks.
struct Exit {
  int code = 1;
};

class WarmEngine;  // tools/warm_engine.hpp (a TU that destroys an EmbedHooks includes it)

// What an embedding (the Python module, python/src/module.cpp) hands a run besides its command line: images given
// in memory, the result kept in memory, and each iteration passed on. With hooks, stylize's --out is optional:
// without it nothing is written and the image is only in `result`. Every callback may throw to stop the run.
struct EmbedHooks {
  std::map<std::string, Image> images;  // an image option (--content, --style, --style-mask) naming a key reads it
  // stylize, texture: each accepted iterate; `image` gives it as RGB 0..255 (computed only when called).
  std::function<void(const IterationReport&, const std::function<Image()>& image)> on_iteration;
  // video: each iteration of a frame (0-based) in a pass; each final frame as it is written to `path` (or found
  // done by an earlier run in --out). A run stopped by a throw keeps its finished frames: a rerun resumes.
  std::function<void(int frame, int pass, const IterationReport&)> on_frame_iteration;
  std::function<void(int frame, const std::string& path)> on_final_frame;
  Image result;          // the output image (as written to --out when given)
  bool started = false;  // set when the optimization starts: an error before it is a bad request

  // impasto.Objective: instead of a run, the objective of the run at its output size with the targets set (one
  // level: no pyramid, photorealism stage, region pairs or luminance-only transfer) and the content as its start,
  // kept here with the engine they live on. Declared in this order so that the engine goes last.
  bool objective_only = false;
  std::unique_ptr<WarmEngine> engine;
  std::unique_ptr<StyleObjective> objective;
  Backend* backend = nullptr;               // the engine's, which the objective runs on
  Tensor start;                             // (1,3,H,W): the content in network space
  bool bgr_input = false;                   // how the network space maps to RGB (postprocess)
  double pixel_scale = 1.0;
};

void add_weights_command(CLI::App& app);  // tools/cmd_weights.cpp: weights export / inspect
// tools/cmd_stylize.cpp: stylize, texture. Their runs use `warm` (the batch's engine, kept from run to run) when
// given, else an engine of their own.
// `hooks`: an embedding's run (above).
void add_stylize_command(CLI::App& app, WarmEngine* warm = nullptr, EmbedHooks* hooks = nullptr);
void add_video_command(CLI::App& app, EmbedHooks* hooks = nullptr);  // tools/cmd_video.cpp: video (temporal
                                                                     // losses, flow, resume)
// tools/cmd_stylize.cpp: an image option's value, the embedding's in-memory image of that name (hooks may be
// null), else the file.
Image load_image(const EmbedHooks* hooks, const std::string& name, int channels);
void add_batch_command(CLI::App& app);    // tools/cmd_batch.cpp: batch (stylize/texture jobs from a JSONL file)

// tools/cmd_batch.cpp: the command-line arguments of one JSON key of a job ({"style-weight": 1e4} → "--style-weight=
// 10000.0"), checked against `command`'s options: a flag takes true/false, an array gives the option once per item.
// A batch's jobs and the Python API's keyword options go through it, so both take exactly the CLI's options.
void add_json_arguments(const CLI::App& command, const std::string& key, const nlohmann::json& value,
                        std::vector<std::string>& argv);

}  // namespace impasto::cli
