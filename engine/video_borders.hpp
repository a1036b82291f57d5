// engine/video_borders.hpp — the frames ranks trade in a video run across ranks (DESIGN.md "Beyond one process"):
// a frame near a chunk border goes to every rank whose chunks reach it (VideoChunks::needs) as soon as its
// file is written, and a rank takes another's frame when a temporal term or an init first asks for it. There
// is no barrier at a pass's end: a frame waits only for the frames it reads, which belong to an earlier pass or
// an earlier phase of the last pass, so no two ranks can wait for each other.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "engine/comm.hpp"
#include "engine/image.hpp"
#include "engine/video_schedule.hpp"

namespace impasto {

class BorderFrames {
 public:
  BorderFrames(Comm& ranks, const VideoChunks& chunks, int reach, const std::string& out_dir, int passes);
  // Frame t of `pass` is on disk (just written, or left by an earlier run): posted to the ranks that need it.
  void offer(int pass, int t);
  // Frame t of `pass` as written: this rank's from its file, another's as read from its file there (kept from
  // an earlier call, or received, waiting until it arrives).
  Image read(int pass, int t);
  // Drops the frames of passes before `pass`: no later frame reads them.
  void forget_before(int pass);
  // Collective, at the run's end: no frame left in flight (see Comm::settle).
  void settle();
  // The seconds spent waiting for other ranks' frames (the exchange wait of the time split).
  double wait_seconds() const { return wait_seconds_; }

 private:
  int tag(int pass, int t) const { return pass * chunks_.frames() + t; }

  Comm& ranks_;
  const VideoChunks& chunks_;
  const int reach_, passes_;
  const std::string out_dir_;
  std::map<std::pair<int, int>, Image> kept_;  // (pass, frame) → image
  double wait_seconds_ = 0;
};

}  // namespace impasto
