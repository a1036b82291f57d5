// engine/video.hpp — the video pipeline: style transfer for videos with temporal losses (Ruder, Dosovitskiy &
// Brox, "Artistic style transfer for videos", GCPR 2016; "Artistic style transfer for videos and spherical
// images", IJCV 2018). DESIGN.md "Temporal".
//
// - Frames come from a folder of images (sorted by name) or a video file (OpenCV), resized to --size.
// - Optical flow, forward and backward for every pair the run needs, comes from OpenCV (DIS by default)
//   computed by a background thread ahead of the stylization and cached as .flo files in OUT/flow, or from
//   .flo files made by any tool (--flow-dir, Ruder's naming forward_I_J.flo / backward_J_I.flo, 1-based).
// - Reliability c from the forward-backward test, motion boundaries and a Gaussian blur (Backend::consistency,
//   gaussian_blur, clamp), times the photometric test of the input frames (photometric_mask: 0 where the
//   current frame's colour differs from the neighbour's input frame warped to it); the previous output warped
//   along the backward flow (Backend::warp).
// - Scene cuts (issue 14): frame t is a cut when most of its pixels fail the photometric test against frame
//   t − 1 (tested when first needed, as the flows arrive). A cut frame starts afresh like the first frame
//   (--first-frame-init, --iterations), and no temporal term, warped init or multi-pass blend reaches across a
//   cut (a neighbour n of t is used only when no cut lies between them). Cuts are reported per frame and listed
//   in VideoResult; the flicker metric skips the pairs across a cut.
// - Objective per frame: the StyleObjective (content, style, TV) plus the temporal terms (eq. 7/8)
//     L_temporal = Σ_{j∈J} (γ/D)·Σ_k c_long(j)_k (x_k − ω_j,k)², D = H·W·3,
//   c_long(j) = max(c(j) − Σ_{k∈J,k<j} c(k), 0) (long-term, eq. 8; J = {1} is the short-term loss, eq. 7).
// - Multi-pass (2018, Sec. 4.3): pass 1 runs forward as above; passes 2..N alternate backward/forward, each
//   frame initialized from its previous-pass result blended with the warped neighbour of this pass
//   (blend_pass: linear x' = x_own + (1 − δ)·c ⊙ (ω(x_neighbour) − x_own), or artistic-videos' normalized
//   form) and the temporal loss against that neighbour from pass --temporal-from-pass on.
// - Output OUT/frame_0001.png … (pass < N in OUT/passK/), each written atomically; a state file
//   OUT/impasto-video.json holds a fingerprint of every option that changes the result, so a rerun resumes
//   (frames whose file exists are read, not recomputed) and a rerun with other options is refused.
// - The flicker metric (warping error, see warping_error) over the final frames.
//
// Files: the frames in and out.avi out (video_frames.hpp), the flows (video_flow.hpp), the per-frame math
// (temporal.hpp), the resume state (video_state.hpp), the chunks of a run across ranks (video_schedule.hpp) and
// the border frames they trade (video_borders.hpp), the pipeline (here: run → pass → frame).
//
// Determinism: the CPU backend gives the same bits for the same inputs, and every frame that a later frame
// depends on is read back from its 8-bit PNG, so a resumed run writes exactly the frames an uninterrupted one
// would.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/backend.hpp"
#include "engine/comm.hpp"
#include "engine/image.hpp"
#include "engine/stylize.hpp"
#include "engine/temporal.hpp"
#include "engine/video_flow.hpp"
#include "engine/video_borders.hpp"
#include "engine/video_frames.hpp"
#include "engine/video_schedule.hpp"
#include "engine/video_state.hpp"

namespace impasto {

// ---- the pipeline --------------------------------------------------------------------------------------------
enum class FrameInit { warped, prev, content, noise };
template <>
struct EnumNames<FrameInit> {
  static constexpr const char* what = "frame init";
  static constexpr EnumName<FrameInit> table[] = {
      {FrameInit::warped, "warped"}, {FrameInit::prev, "prev"}, {FrameInit::content, "content"}, {FrameInit::noise, "noise"}};
};

struct VideoOptions {
  // Loss, optimizer, size, style scale/blend, noise ratio, seed, original colors; `iterations` is the first
  // frame's count (init and init_file are not used: frame_init says how frames start).
  StylizeOptions base;
  int frame_iterations = 500;            // every later frame (and every frame of passes >= 2)
  double temporal_weight = 200;          // γ
  std::vector<int> temporal_offsets{1};  // J, ascending; {1} = short-term only
  FrameInit frame_init = FrameInit::warped;
  FrameInit first_frame_init = FrameInit::content;  // content or noise: the first frame of pass 1
  WarpFill warp_fill = WarpFill::frame_mean;
  int passes = 1;
  int temporal_from_pass = 1;            // temporal loss in passes >= this
  double pass_blend = 0.5;               // δ of the multi-pass blend
  PassBlend pass_blend_rule = PassBlend::linear;
  float reliability_sigma = 0.8f;        // σ of the blur of the consistency map
  // The photometric test (issue 14): a pixel whose colour differs from the neighbour's input frame warped to it
  // by more than this Euclidean RGB distance (0..255 scale) is unreliable (c = 0): cuts, flashes, fades,
  // lighting that the flows cannot see. 0: no photometric test and no cut detection (c as Ruder's).
  float photometric_threshold = 30.0f;
  // Frame t is a scene cut when more than this fraction of its pixels (those whose source is inside the frame)
  // fail the photometric test against frame t − 1: it starts afresh (the first frame's init and iterations in
  // pass 1, no temporal term and no multi-pass blend across the cut). 0: no cut detection.
  double cut_threshold = 0.3;
  std::string flow_method = "dis";       // recorded in the fingerprint (the provider does the work)
  std::string flow_dir;                  // non-empty: flows came from .flo files here
  int stop_after = 0;                    // stop (as if killed) after computing this many frames; 0: never
  // Parallel in time: the clip in this many contiguous chunks (video_schedule.hpp), run by the ranks of the
  // Comm given to run(). 1: Ruder et al.'s sequential schedule. The frames depend on it, the rank count not.
  int chunks = 1;
  // With several chunks: the frames of each chunk the last pass computes after the others, once the frame
  // across the border is final (the bridge over the seam; Run::phase in video.cpp).
  int bridge = 3;
  // With several chunks: the iterations of each frame of the lead-in, the cheap sequential chain from the
  // first frame to each chunk's start that gives pass 1's chunks one pattern (Run::lead_in in video.cpp);
  // -1: a tenth of frame_iterations (at least 1); 0: no lead-in (each chunk starts as the clip does).
  int lead_in_iterations = -1;
  int lead_in() const { return lead_in_iterations >= 0 ? lead_in_iterations : std::max(1, (frame_iterations + 9) / 10); }
  bool write_video = true;               // OUT/out.avi (MJPG) when OpenCV is present
  double fps = 0;                        // of out.avi; 0: the input's, else 24

  void validate() const;
  // Every option that changes the frames written, as JSON (the resume fingerprint).
  nlohmann::json describe() const;
};

struct FrameReport {
  int pass = 1, passes = 1, frame = 0, frames = 0;  // frame 0-based
  bool resumed = false;       // read from disk, not computed
  bool cut = false;           // a scene cut: frame t starts afresh (known for computed frames)
  int iterations = 0;
  double loss_first = 0, loss = 0, content = 0, style = 0, tv = 0, temporal = 0;
  double seconds = 0;
  std::string path;
};

// Where one rank's time went (VideoResult::ranks).
struct RankTime {
  int rank = 0, computed = 0, resumed = 0;
  double optimize_seconds = 0, flow_wait_seconds = 0, exchange_seconds = 0, seconds = 0;
};

struct VideoResult {
  int frames = 0, computed = 0, resumed = 0;  // computed, resumed: by this rank
  bool stopped = false;                   // stop_after was reached: the run is incomplete
  double flicker = 0;                     // mean of flicker_per_frame over the pairs within a scene
  std::vector<double> flicker_per_frame;  // pair (t−1, t) for t = 1..T−1; 0 across a scene cut
  std::vector<double> reliable_fraction;
  std::vector<int> cuts;                  // the scene cuts, 0-based (a new scene begins at t); when complete
  std::vector<std::string> frame_paths;   // the final frames
  std::string video_path;                 // "" when none was written
  double seconds = 0;
  // Where the frames computed by this rank spent their time: optimizing, waiting for (or reading) flows, and
  // waiting for the other ranks' border frames.
  double optimize_seconds = 0, flow_wait_seconds = 0, exchange_seconds = 0;
  std::vector<RankTime> ranks;            // every rank's, on rank 0 (empty elsewhere)
  std::vector<int> chunk_begin;           // the first frame of each chunk
};

class VideoStylizer {
 public:
  using FrameReporter = std::function<void(const FrameReport&)>;
  using IterationReporter = std::function<void(const FrameReport&, const IterationReport&)>;

  VideoStylizer(Backend& backend, const VggWeights& weights, VideoOptions options);

  // Stylizes `frames` with `styles` into out_dir (created if needed). input_fingerprint and the styles'
  // fingerprint go into the resume state; force: start over even when out_dir holds another run's frames.
  // With `ranks` (every rank calls run with the same arguments) the chunks are spread over them: each writes
  // its own frames, rank 0 the state file, out.avi and the flicker over the whole clip.
  VideoResult run(const VideoFrames& frames, const std::vector<Image>& styles, const nlohmann::json& style_fingerprint,
                  FlowProvider& flows, const std::string& out_dir, bool force, const FrameReporter& on_frame = {},
                  const IterationReporter& on_iteration = {}, Comm* ranks = nullptr);

  // The flows (a, a + j) every run over `frames` frames with these options needs, in the order pass 1 uses them.
  static std::vector<std::pair<int, int>> needed_pairs(int frames, const std::vector<int>& offsets);
  // Those of them rank `rank` of `ranks` needs (a pair with a frame of its chunks), its own pass-1 pairs first.
  // With a lead-in (VideoOptions::lead_in), the short-term pairs before its chunks too.
  static std::vector<std::pair<int, int>> needed_pairs(int frames, const std::vector<int>& offsets,
                                                       const VideoChunks& chunks, int bridge, int rank, int ranks);

  // The memory run() would hold at its peak for frames of h×w and these styles (sizes as read), with `options`
  // (which may differ from the stylizer's in size and history: the CLI asks what a smaller request needs).
  // Computed without allocating (engine/memory_plan.hpp).
  MemoryNeed memory_needed(const VideoOptions& options, int h, int w, const std::vector<ImageSize>& styles);
  // The size a style of size `style` is given for frames of h×w: longer side × style_scale, aspect kept.
  static ImageSize style_size(const VideoOptions& options, ImageSize style, int h, int w);

 private:
  struct Run;  // one run's fixed state and the steps of a frame (video.cpp)
  // Checks out_dir against the resume state (prepare_video_out_dir), writes the new state file and makes the
  // pass folders; returns the state, to be marked complete at the end.
  nlohmann::json start_state(const VideoFrames& video, const nlohmann::json& style_fingerprint,
                             const std::string& out_dir, bool force);
  // Every frame of this rank's chunks in every pass (kept files are not recomputed), border frames traded
  // through `borders` as they are made, into result's counts; false when stopped by --stop-after (on any rank).
  bool run_frames(const VideoFrames& video, const std::vector<Image>& styles, FlowProvider& flows,
                  const std::string& out_dir, Comm& ranks, const VideoChunks& chunks, BorderFrames& borders,
                  const FrameReporter& on_frame, const IterationReporter& on_iteration, VideoResult& result);
  Tensor upload_image(const Image& rgb);
  void upload_image(const Image& rgb, Tensor& into);  // into (1,3,h,w) as allocated
  Image to_image(const Tensor& x);
  void upload_flow(const FlowField& f, Tensor& into);  // into (1,2,h,w) as allocated

  Backend& backend_;
  bool bgr_;
  VideoOptions options_;
  Vgg19 net_;
  std::string weights_description_;
};

}  // namespace impasto
