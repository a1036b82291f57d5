// engine/video_state.cpp — see video_state.hpp.
#include "engine/video_state.hpp"

#include <cstdio>
#include <filesystem>
#include <regex>

#include "engine/error.hpp"
#include "engine/files.hpp"

namespace fs = std::filesystem;

namespace impasto {
namespace {

// Whether `rel` names a file a video run writes in its --out folder: frame_NNNN.png, passK/frame_NNNN.png or
// out.avi. Nothing else is ever removed, whatever a state file lists.
bool is_output_name(const std::string& rel) {
  static const std::regex names(R"((pass[1-9][0-9]{0,5}/)?frame_[0-9]{4,9}\.png|out\.avi)");
  return std::regex_match(rel, names);
}

}  // namespace

std::vector<std::string> video_run_outputs(int passes, int frames) {
  std::vector<std::string> out;
  for (int p = 1; p <= passes; ++p)
    for (int t = 0; t < frames; ++t) out.push_back(video_frame_path("", p, passes, t));
  out.push_back("out.avi");
  return out;
}

namespace {

// Whether out_dir holds anything a video run would write (frames, pass folders, out.avi).
bool holds_outputs(const std::string& out_dir) {
  for (const auto& e : fs::directory_iterator(out_dir)) {
    const std::string n = e.path().filename().string();
    if (is_output_name(n) || (n.rfind("pass", 0) == 0 && e.is_directory())) return true;
  }
  return false;
}

}  // namespace

void prepare_video_out_dir(const std::string& out_dir, const std::string& fingerprint, bool force) {
  const std::string state_path = (fs::path(out_dir) / kVideoStateFile).string();
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(state_path, ec))) {
    IMPASTO_CHECK(!holds_outputs(out_dir),
                  "'" << out_dir << "' holds frame files but no " << kVideoStateFile << " (not an impasto video run); "
                      << "nothing there is removed: use another --out");
    return;
  }
  VideoState old;
  try {
    old = read_video_state(state_path);
  } catch (const Error& e) {
    IMPASTO_FAIL(e.what() << "; nothing in '" << out_dir << "' is removed: use another --out");
  }
  if (old.fingerprint == fingerprint) return;
  IMPASTO_CHECK(force, "'" << out_dir << "' holds a run with other options or inputs (" << kVideoStateFile
                           << "); use --force to start over there, or another --out");
  std::vector<fs::path> folders;
  for (const std::string& rel : old.outputs) {
    const fs::path p = fs::path(out_dir) / rel;
    // A pass folder must be a folder, not a link to somewhere else.
    if (p.parent_path() != fs::path(out_dir)) {
      if (!fs::is_directory(fs::symlink_status(p.parent_path(), ec))) continue;
      folders.push_back(p.parent_path());
    }
    const fs::file_status st = fs::symlink_status(p, ec);
    if (fs::is_regular_file(st) || fs::is_symlink(st)) fs::remove(p, ec);  // a link itself, never its target
  }
  for (const fs::path& f : folders) fs::remove(f, ec);  // only when empty
}

VideoState read_video_state(const std::string& path) {
  const nlohmann::json j = read_json_file(path, "state file", 64u << 20);
  auto check = [&](bool ok, const char* what) { IMPASTO_CHECK(ok, "state file '" << path << "': " << what); };
  check(!j.is_discarded() && j.is_object(), "not valid JSON");
  check(j.contains("version") && j["version"].is_number_integer() && (j["version"] == 1 || j["version"] == 2),
        "unknown version");
  check(j.contains("fingerprint") && j["fingerprint"].is_string(), "no fingerprint");
  check(j.contains("described") && j["described"].is_object(), "no description of the run");
  check(j.contains("complete") && j["complete"].is_boolean(), "no completion flag");
  VideoState s;
  s.fingerprint = j["fingerprint"].get<std::string>();
  s.complete = j["complete"].get<bool>();
  s.described = j["described"];
  if (j["version"] == 2) {
    check(j.contains("outputs") && j["outputs"].is_array(), "no list of outputs");
    for (const auto& o : j["outputs"]) {
      check(o.is_string() && is_output_name(o.get<std::string>()), "an output that is not a frame or out.avi");
      s.outputs.push_back(o.get<std::string>());
    }
    return s;
  }
  // Version 1 (before the list): the outputs follow from the passes and the frame count it describes.
  const nlohmann::json& d = s.described;
  check(d.contains("frames") && d["frames"].is_number_integer() && d.contains("options") &&
            d["options"].is_object() && d["options"].contains("passes") && d["options"]["passes"].is_number_integer(),
        "no frame count or passes");
  const long long frames = d["frames"].get<long long>(), passes = d["options"]["passes"].get<long long>();
  check(frames >= 1 && frames <= 10'000'000 && passes >= 1 && passes <= 1000 && frames * passes <= 10'000'000,
        "frame count or passes out of range");
  s.outputs = video_run_outputs(int(passes), int(frames));
  return s;
}

std::string video_frame_path(const std::string& out_dir, int pass, int passes, int t) {
  char name[32];
  std::snprintf(name, sizeof name, "frame_%04d.png", t + 1);
  if (pass == passes) return (fs::path(out_dir) / name).string();
  return (fs::path(out_dir) / ("pass" + std::to_string(pass)) / name).string();
}

}  // namespace impasto
