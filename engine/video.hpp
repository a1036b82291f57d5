// engine/video.hpp — the video pipeline: style transfer for videos with temporal losses (Ruder, Dosovitskiy &
// Brox, "Artistic style transfer for videos", GCPR 2016; "Artistic style transfer for videos and spherical
// images", IJCV 2018). DESIGN.md "Temporal".
//
// - Frames come from a folder of images (sorted by name) or a video file (OpenCV), resized to --size.
// - Optical flow, forward and backward for every pair the run needs, comes from OpenCV (DIS by default)
//   computed by a background thread ahead of the stylization and cached as .flo files in OUT/flow, or from
//   .flo files made by any tool (--flow-dir, Ruder's naming forward_I_J.flo / backward_J_I.flo, 1-based).
// - Reliability c from the forward-backward test, motion boundaries and a Gaussian blur (Backend::consistency,
//   gaussian_blur, clamp); the previous output warped along the backward flow (Backend::warp).
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
// Determinism: the CPU backend gives the same bits for the same inputs, and every frame that a later frame
// depends on is read back from its 8-bit PNG, so a resumed run writes exactly the frames an uninterrupted one
// would.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/backend.hpp"
#include "engine/flow_io.hpp"
#include "engine/image.hpp"
#include "engine/stylize.hpp"

namespace impasto {

// ---- frames ------------------------------------------------------------------------------------------------
struct VideoFrames {
  std::vector<Image> frames;  // RGB 0..255 at the working size
  double fps = 0;             // of the input video; 0 when unknown (a folder)
  std::string description;    // "vtest.avi (795 frames of 768x576, 10 fps)"
  nlohmann::json fingerprint; // what identifies the input (each frame's name and SHA-256, or the video file's)
};
// A folder (image files sorted by name: .png .jpg .jpeg .ppm .pgm .bmp) or a video file (needs OpenCV).
// size: longer side (0 keeps the size), resized by `resampler` (engine/resample.hpp); max_frames: 0 = all.
// Throws a one-line Error naming the input.
VideoFrames load_frames(const std::string& input, int size, int max_frames, Resampler resampler = Resampler::area);

// ---- optical flow ------------------------------------------------------------------------------------------
// Methods this build can compute: "dis" (DIS, medium preset; Kroeger et al. ECCV 2016), "dis-fast",
// "dis-ultrafast", "farneback" (Farnebäck 2003), "deepflow" (Weinzaepfel et al. 2013, when OpenCV's optflow
// module is present). Empty without OpenCV.
std::vector<std::string> flow_methods();
bool have_opencv();

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

// ---- per-frame math on the backend --------------------------------------------------------------------------
// c (1,1,H,W) = clip(blur_σ(consistency(fwd, bwd)), 0, 1): fwd previous → current, bwd current → previous,
// each (1,2,H,W). tmp (1,1,H,W) scratch.
void reliability(Backend& b, const Tensor& fwd, const Tensor& bwd, float sigma, Tensor& tmp, Tensor& c);
// Long-term weights (Ruder et al. 2016, eq. 8): c holds c(j) for ascending j on entry and c_long(j) on return;
// sum (1,1,H,W) scratch.
void long_term_weights(Backend& b, std::vector<Tensor>& c, Tensor& sum);
// fill (1,C,1,1) = the per-channel mean of x (1,C,H,W): the value warping gives pixels from outside the frame.
void channel_mean(Backend& b, const Tensor& x, Tensor& fill);

// What warping gives the pixels it brings from outside the frame: the per-channel mean of the frame warped
// (frame-mean), or the network's mean pixel, 0 in network space (mean-pixel: artistic-videos' warpImage pads
// with it).
enum class WarpFill { frame_mean, mean_pixel };
template <>
struct EnumNames<WarpFill> {
  static constexpr const char* what = "warp fill";
  static constexpr EnumName<WarpFill> table[] = {{WarpFill::frame_mean, "frame-mean"},
                                                 {WarpFill::mean_pixel, "mean-pixel"}};
};
// fill (1,C,1,1) for warping x (1,C,H,W) under `how`.
void warp_fill(Backend& b, WarpFill how, const Tensor& x, Tensor& fill);

// The multi-pass init of a frame from its own previous-pass result and its warped neighbour ω where that is
// reliable (c), with δ the own share:
//   linear      x = own + (1 − δ)·c ⊙ (ω − own)
//   normalized  x = (δ·own + (1 − δ)·c ⊙ ω) / (δ + (1 − δ)·c): artistic_video_multiPass.lua's
//               (own + a·c ⊙ ω) / (1 + a·c) with blendWeight a = (1 − δ)/δ (its default a = 1 is δ = 0.5)
// The two agree where c is 0 or 1 (δ = 0.5); in between, normalized gives the neighbour more.
enum class PassBlend { linear, normalized };
template <>
struct EnumNames<PassBlend> {
  static constexpr const char* what = "pass blend";
  static constexpr EnumName<PassBlend> table[] = {{PassBlend::linear, "linear"}, {PassBlend::normalized, "normalized"}};
};
// x (1,3,H,W) = the blend of own and warped (1,3,H,W) with weights c (1,1,H,W); diff (1,3,H,W) and weight
// (1,1,H,W) scratch.
void blend_pass(Backend& b, PassBlend rule, double delta, const Tensor& own, const Tensor& warped, const Tensor& c,
                Tensor& diff, Tensor& weight, Tensor& x);

// The temporal terms Σ_j (γ/D)·Σ c_j ⊙ (x − ω_j)², D = numel of x (H·W·3), with their gradient.
class TemporalLoss {
 public:
  TemporalLoss(Backend& backend, double weight) : backend_(backend), weight_(weight) {}
  void clear() { terms_.clear(); }
  // target ω (1,3,H,W) and its weights c (1,1,H,W); both kept by handle (not copied).
  void add(const Tensor& target, const Tensor& c) { terms_.push_back({target, c}); }
  bool empty() const { return terms_.empty(); }
  // Returns the loss; grad (shape of x) += its gradient.
  double evaluate(const Tensor& x, Tensor& grad);

 private:
  struct Term {
    Tensor target, c;
  };
  Backend& backend_;
  double weight_;
  std::vector<Term> terms_;
};

// The flicker of one pair of output frames: the mean warping error over reliable pixels,
//   E = Σ_{p: c(p) > 0.5} Σ_ch ((cur − ω(prev))/255)² / (3·N_reliable),
// ω(prev) = prev warped to cur along bwd (cur → prev), c = reliability(fwd, bwd) with σ. Images RGB 0..255.
// (Lai et al., "Learning blind video temporal consistency", ECCV 2018, eq. 9, per channel.) Returns 0 when
// no pixel is reliable; *reliable_fraction (if given) = N_reliable / (H·W).
double warping_error(Backend& b, const Image& prev, const Image& cur, const FlowField& fwd, const FlowField& bwd,
                     float sigma, double* reliable_fraction = nullptr);

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
  std::string flow_method = "dis";       // recorded in the fingerprint (the provider does the work)
  std::string flow_dir;                  // non-empty: flows came from .flo files here
  int stop_after = 0;                    // stop (as if killed) after computing this many frames; 0: never
  bool write_video = true;               // OUT/out.avi (MJPG) when OpenCV is present
  double fps = 0;                        // of out.avi; 0: the input's, else 24

  void validate() const;
  // Every option that changes the frames written, as JSON (the resume fingerprint).
  nlohmann::json describe() const;
};

struct FrameReport {
  int pass = 1, passes = 1, frame = 0, frames = 0;  // frame 0-based
  bool resumed = false;       // read from disk, not computed
  int iterations = 0;
  double loss_first = 0, loss = 0, content = 0, style = 0, tv = 0, temporal = 0;
  double seconds = 0;
  std::string path;
};

struct VideoResult {
  int frames = 0, computed = 0, resumed = 0;
  bool stopped = false;                   // stop_after was reached: the run is incomplete
  double flicker = 0;                     // mean of flicker_per_frame
  std::vector<double> flicker_per_frame;  // pair (t−1, t) for t = 1..T−1
  std::vector<double> reliable_fraction;
  std::vector<std::string> frame_paths;   // the final frames
  std::string video_path;                 // "" when none was written
  double seconds = 0;
};

class VideoStylizer {
 public:
  using FrameReporter = std::function<void(const FrameReport&)>;
  using IterationReporter = std::function<void(const FrameReport&, const IterationReport&)>;

  VideoStylizer(Backend& backend, const VggWeights& weights, VideoOptions options);

  // Stylizes `frames` with `styles` into out_dir (created if needed). input_fingerprint and the styles'
  // fingerprint go into the resume state; force: start over even when out_dir holds another run's frames.
  VideoResult run(const VideoFrames& frames, const std::vector<Image>& styles, const nlohmann::json& style_fingerprint,
                  FlowProvider& flows, const std::string& out_dir, bool force, const FrameReporter& on_frame = {},
                  const IterationReporter& on_iteration = {});

  // The flows (a, a + j) every run over `frames` frames with these options needs, in the order pass 1 uses them.
  static std::vector<std::pair<int, int>> needed_pairs(int frames, const std::vector<int>& offsets);

  // The memory run() would hold at its peak for frames of h×w and these styles (sizes as read), with `options`
  // (which may differ from the stylizer's in size and history: the CLI asks what a smaller request needs).
  // Computed without allocating (engine/memory_plan.hpp).
  MemoryNeed memory_needed(const VideoOptions& options, int h, int w, const std::vector<ImageSize>& styles);
  // The size a style of size `style` is given for frames of h×w: longer side × style_scale, aspect kept.
  static ImageSize style_size(const VideoOptions& options, ImageSize style, int h, int w);

 private:
  Tensor upload_image(const Image& rgb);
  Image to_image(const Tensor& x);
  Tensor upload_flow(const FlowField& f);

  Backend& backend_;
  bool bgr_;
  VideoOptions options_;
  Vgg19 net_;
  std::string weights_description_;
};

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

}  // namespace impasto
