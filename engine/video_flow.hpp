// engine/video_flow.hpp — optical flow for the video pipeline: computed by OpenCV on a background thread ahead
// of the stylization (cached as .flo files), or read from .flo files made by any tool (Ruder et al.'s naming).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/flow_io.hpp"
#include "engine/image.hpp"

namespace impasto {

// Methods this build can compute: "dis" (DIS, medium preset; Kroeger et al. ECCV 2016), "dis-fast",
// "dis-ultrafast", "farneback" (Farnebäck 2003), "deepflow" (Weinzaepfel et al. 2013, when OpenCV's optflow
// module is present). Empty without OpenCV.
std::vector<std::string> flow_methods();

class FlowProvider {
 public:
  virtual ~FlowProvider() = default;
  // The flow from frame `from` to frame `to` (0-based) at the working size; may wait for a background thread.
  virtual FlowField get(int from, int to) = 0;
  // The consumer has reached frame t (bounds how far a background producer runs ahead).
  virtual void at_frame(int /*t*/) {}
};
// .flo files in dir: forward_I_J.flo (I → J, I < J) and backward_J_I.flo, 1-based frame numbers (the naming
// of Ruder et al.'s makeOptFlow.sh); resized to w×h when they have another size. When `pairs` is given, every
// file they need must exist and be a valid .flo file, values included (all read once, before any work).
std::unique_ptr<FlowProvider> make_flow_dir_provider(const std::string& dir, int w, int h,
                                                     const std::vector<std::pair<int, int>>& pairs = {});
// Computes the flows of `pairs` (a < b; both directions each) with `method` on a background thread, in the
// given order and at most `lookahead` frames ahead of at_frame(); each is written to cache_dir with the same
// naming (and read from there when present). `frames` must outlive the provider.
std::unique_ptr<FlowProvider> make_computed_flow_provider(const std::vector<Image>& frames, const std::string& method,
                                                          const std::string& cache_dir,
                                                          std::vector<std::pair<int, int>> pairs, int lookahead);
// "forward_1_2.flo" for (0, 1), "backward_2_1.flo" for (1, 0).
std::string flo_name(int from, int to);

}  // namespace impasto
