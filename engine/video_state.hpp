// engine/video_state.hpp — a video run's output folder: the frame files' names, and the resume state that lets
// a rerun keep every finished frame and refuses a rerun with other options (or starts over with --force,
// removing only what the previous run wrote).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace impasto {

// The state file's name in the --out folder.
inline constexpr const char* kVideoStateFile = "impasto-video.json";

// The resume state OUT/impasto-video.json: {"version": 2, "fingerprint", "described" (every option and input
// that shapes the frames), "complete", "outputs" (the files the run may write, relative to OUT: frame_NNNN.png,
// passK/frame_NNNN.png, out.avi)}. `--force` removes only what `outputs` lists, and only names of that form.
struct VideoState {
  std::string fingerprint;
  bool complete = false;
  std::vector<std::string> outputs;
  nlohmann::json described;
};
// Reads and checks a state file (version 1, before the list, gets its outputs from its passes and frames);
// throws a one-line Error "state file 'PATH': …" when it is not one.
VideoState read_video_state(const std::string& path);

// The frame file of frame t (0-based) in pass `pass` of `passes`: OUT/frame_0001.png for the last pass,
// OUT/passK/frame_0001.png before.
std::string video_frame_path(const std::string& out_dir, int pass, int passes, int t);

// The files a run of `passes` passes over `frames` frames may write, relative to its --out folder.
std::vector<std::string> video_run_outputs(int passes, int frames);

// Before a run writes its state file: resume (same fingerprint), or start over where `force` allows, removing
// only the files the previous run's state file lists (and its pass folders once empty). A folder without a
// valid state file is never cleared.
void prepare_video_out_dir(const std::string& out_dir, const std::string& fingerprint, bool force);

}  // namespace impasto
