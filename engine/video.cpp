// engine/video.cpp — the video pipeline (see video.hpp): frames, flows (OpenCV or .flo files, a background
// producer thread), reliability and warping on the backend, the temporal objective, multi-pass, resumable
// output, the flicker metric and the encoded video. Ruder et al. 2016/2018.
#include "engine/video.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <thread>

#include "engine/files.hpp"
#include "engine/error.hpp"
#include "engine/text.hpp"
#include "kernels/color.cuh"
#include "weights/weights.hpp"

#ifdef IMPASTO_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>
#include <opencv2/videoio.hpp>
#ifdef IMPASTO_HAVE_OPENCV_OPTFLOW
#include <opencv2/optflow.hpp>
#endif
#endif

namespace fs = std::filesystem;

namespace impasto {
namespace {

constexpr const char* kNoOpenCv = "this build has no OpenCV: give --flow-dir with .flo files";
constexpr const char* kStateFile = "impasto-video.json";

// Natural order: digit runs compare as numbers, so frame2 < frame10.
bool natural_less(const std::string& a, const std::string& b) {
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit((unsigned char)a[i]) && std::isdigit((unsigned char)b[j])) {
      std::size_t i2 = i, j2 = j;
      while (i2 < a.size() && std::isdigit((unsigned char)a[i2])) ++i2;
      while (j2 < b.size() && std::isdigit((unsigned char)b[j2])) ++j2;
      std::string da = a.substr(i, i2 - i), db = b.substr(j, j2 - j);
      da.erase(0, std::min(da.find_first_not_of('0'), da.size()));
      db.erase(0, std::min(db.find_first_not_of('0'), db.size()));
      if (da.size() != db.size()) return da.size() < db.size();
      if (da != db) return da < db;
      i = i2;
      j = j2;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

#ifdef IMPASTO_HAVE_OPENCV
cv::Mat to_gray8(const Image& img) {  // (H,W) 8-bit luma (BT.601) of an RGB 0..255 image
  cv::Mat m(img.h, img.w, CV_8UC1);
  const std::size_t n = std::size_t(img.h) * img.w;
  const float *r = img.plane(0), *g = img.plane(1), *b = img.plane(2);
  for (std::size_t k = 0; k < n; ++k) {
    const float y = math::luma_601(r[k], g[k], b[k]);
    m.data[k] = (unsigned char)std::clamp(int(y + 0.5f), 0, 255);
  }
  return m;
}

cv::Ptr<cv::DenseOpticalFlow> make_flow_algorithm(const std::string& method) {
  if (method == "dis") return cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_MEDIUM);
  if (method == "dis-fast") return cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_FAST);
  if (method == "dis-ultrafast") return cv::DISOpticalFlow::create(cv::DISOpticalFlow::PRESET_ULTRAFAST);
  if (method == "farneback") return cv::FarnebackOpticalFlow::create();
#ifdef IMPASTO_HAVE_OPENCV_OPTFLOW
  if (method == "deepflow") return cv::optflow::createOptFlow_DeepFlow();
#endif
  std::string known;
  for (const auto& m : flow_methods()) known += (known.empty() ? "" : ", ") + m;
  IMPASTO_FAIL("unknown flow method '" << method << "' (this build has: " << known << ")");
}

FlowField flow_with(cv::DenseOpticalFlow& alg, const Image& a, const Image& b) {
  cv::Mat flow;
  alg.calc(to_gray8(a), to_gray8(b), flow);
  IMPASTO_ASSERT(flow.type() == CV_32FC2 && flow.rows == a.h && flow.cols == a.w);
  FlowField f;
  f.h = a.h;
  f.w = a.w;
  const std::size_t m = std::size_t(a.h) * a.w;
  f.data.resize(2 * m);
  for (int i = 0; i < a.h; ++i) {
    const float* row = flow.ptr<float>(i);
    for (int j = 0; j < a.w; ++j) {
      f.data[std::size_t(i) * a.w + j] = row[2 * j];
      f.data[m + std::size_t(i) * a.w + j] = row[2 * j + 1];
    }
  }
  return f;
}
#endif

void check_same_size(const Image& a, const Image& b, const char* what) {
  IMPASTO_CHECK(a.h == b.h && a.w == b.w && a.c == 3 && b.c == 3,
                what << ": images of " << a.w << "x" << a.h << " and " << b.w << "x" << b.h << " differ in size");
}

// ---- flow providers ----------------------------------------------------------------------------------------

class FlowDirProvider final : public FlowProvider {
 public:
  FlowDirProvider(std::string dir, int w, int h) : dir_(std::move(dir)), w_(w), h_(h) {
    IMPASTO_CHECK(fs::is_directory(dir_), "--flow-dir '" << dir_ << "' is not a folder");
  }
  FlowField get(int from, int to) override {
    const std::string path = (fs::path(dir_) / flo_name(from, to)).string();
    IMPASTO_CHECK(fs::exists(path), "flow file '" << path << "' is missing (frames " << from + 1 << " -> " << to + 1
                                                  << ")");
    return resize_flow(read_flo(path), w_, h_);
  }

 private:
  std::string dir_;
  int w_, h_;
};

#ifdef IMPASTO_HAVE_OPENCV
// Computes flows on a background thread ahead of the consumer; each flow is written to the cache folder and
// read back by get(), so memory holds no flows and a resumed run reuses them.
class ComputedFlowProvider final : public FlowProvider {
 public:
  ComputedFlowProvider(const std::vector<Image>& frames, std::string method, std::string cache_dir,
                       std::vector<std::pair<int, int>> pairs, int lookahead)
      : frames_(frames), method_(std::move(method)), cache_(std::move(cache_dir)), pairs_(std::move(pairs)),
        lookahead_(std::max(1, lookahead)) {
    (void)make_flow_algorithm(method_);  // an unknown method fails here, on the caller's thread
    fs::create_directories(cache_);
    for (std::size_t k = 0; k < pairs_.size(); ++k) index_[pairs_[k]] = k;
    thread_ = std::thread([this] { produce(); });
  }
  ~ComputedFlowProvider() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void at_frame(int t) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      consumer_ = std::max(consumer_, t);
    }
    cv_.notify_all();
  }

  FlowField get(int from, int to) override {
    const std::pair<int, int> key{std::min(from, to), std::max(from, to)};
    const auto it = index_.find(key);
    IMPASTO_ASSERT(it != index_.end());
    {
      std::unique_lock<std::mutex> lock(mutex_);
      consumer_ = std::max(consumer_, key.second);
      cv_.notify_all();
      cv_.wait(lock, [&] { return done_ > it->second || error_; });
      if (error_ && done_ <= it->second) std::rethrow_exception(error_);
    }
    return read_flo((fs::path(cache_) / flo_name(from, to)).string());
  }

 private:
  void produce() {
    try {
      cv::Ptr<cv::DenseOpticalFlow> alg = make_flow_algorithm(method_);
      for (std::size_t k = 0; k < pairs_.size(); ++k) {
        const auto [a, b] = pairs_[k];
        {
          std::unique_lock<std::mutex> lock(mutex_);
          cv_.wait(lock, [&] { return stop_ || b <= consumer_ + lookahead_; });
          if (stop_) return;
        }
        const std::string fwd = (fs::path(cache_) / flo_name(a, b)).string();
        const std::string bwd = (fs::path(cache_) / flo_name(b, a)).string();
        if (!fs::exists(fwd)) write_flo(flow_with(*alg, frames_[a], frames_[b]), fwd, true);
        if (!fs::exists(bwd)) write_flo(flow_with(*alg, frames_[b], frames_[a]), bwd, true);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          done_ = k + 1;
        }
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      error_ = std::current_exception();
      cv_.notify_all();
    }
  }

  const std::vector<Image>& frames_;
  std::string method_, cache_;
  std::vector<std::pair<int, int>> pairs_;
  std::map<std::pair<int, int>, std::size_t> index_;
  int lookahead_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t done_ = 0;  // pairs_[0..done_) are on disk
  int consumer_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: started after everything it uses exists
};
#endif

}  // namespace

// ---- frames ----------------------------------------------------------------------------------------------------

bool have_opencv() {
#ifdef IMPASTO_HAVE_OPENCV
  return true;
#else
  return false;
#endif
}

std::vector<std::string> flow_methods() {
#ifdef IMPASTO_HAVE_OPENCV
  std::vector<std::string> m{"dis", "dis-fast", "dis-ultrafast", "farneback"};
#ifdef IMPASTO_HAVE_OPENCV_OPTFLOW
  m.push_back("deepflow");
#endif
  return m;
#else
  return {};
#endif
}

VideoFrames load_frames(const std::string& input, int size, int max_frames, Resampler resampler) {
  IMPASTO_CHECK(size >= 0, "--size must be >= 0");
  IMPASTO_CHECK(max_frames >= 0, "--frames must be >= 0");
  VideoFrames v;
  auto fit = [&](Image img) { return size > 0 ? resize_longer_side(img, size, resampler) : img; };
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(input)) {
      const std::string ext = lower_extension(e.path().string());
      if (e.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".ppm" ||
                                  ext == ".pgm" || ext == ".bmp"))
        names.push_back(e.path().filename().string());
    }
    std::sort(names.begin(), names.end(), natural_less);
    IMPASTO_CHECK(!names.empty(), "input folder '" << input << "' holds no image files (.png .jpg .ppm .bmp)");
    if (max_frames > 0 && int(names.size()) > max_frames) names.resize(std::size_t(max_frames));
    v.fingerprint = nlohmann::json::array();
    int w0 = 0, h0 = 0;
    for (const auto& n : names) {
      const std::string path = (fs::path(input) / n).string();
      Image img = read_image(path);
      if (v.frames.empty()) {
        w0 = img.w;
        h0 = img.h;
      }
      IMPASTO_CHECK(img.w == w0 && img.h == h0, "frame '" << path << "' is " << img.w << "x" << img.h
                                                          << ", the first frame is " << w0 << "x" << h0);
      v.fingerprint.push_back({n, sha256_file(path)});  // contents: a replaced frame of the same size differs
      v.frames.push_back(fit(std::move(img)));
    }
    v.description = input + " (" + std::to_string(names.size()) + " frames of " + std::to_string(w0) + "x" +
                    std::to_string(h0) + ")";
    return v;
  }
  IMPASTO_CHECK(fs::is_regular_file(input, ec), "input '" << input << "' is neither a folder of frames nor a file");
#ifdef IMPASTO_HAVE_OPENCV
  // FFmpeg, else OpenCV's own AVI/MJPEG reader; not the other backends OpenCV would probe (GStreamer prints
  // errors for every file it cannot take and leaks memory while probing).
  cv::VideoCapture cap(input, cv::CAP_FFMPEG);
  if (!cap.isOpened()) cap.open(input, cv::CAP_OPENCV_MJPEG);
  IMPASTO_CHECK(cap.isOpened(), "video '" << input << "': cannot open (not a video OpenCV can decode)");
  v.fps = cap.get(cv::CAP_PROP_FPS);
  if (!(v.fps > 0 && v.fps < 1000)) v.fps = 0;
  cv::Mat bgr;
  int w0 = 0, h0 = 0;
  while ((max_frames == 0 || int(v.frames.size()) < max_frames) && cap.read(bgr)) {
    IMPASTO_CHECK(bgr.type() == CV_8UC3, "video '" << input << "': frame " << v.frames.size() + 1
                                                   << " is not 8-bit color");
    Image img{3, bgr.rows, bgr.cols, std::vector<float>(std::size_t(3) * bgr.rows * bgr.cols)};
    for (int i = 0; i < bgr.rows; ++i) {
      const unsigned char* row = bgr.ptr<unsigned char>(i);
      for (int j = 0; j < bgr.cols; ++j)
        for (int c = 0; c < 3; ++c) img.plane(c)[std::size_t(i) * bgr.cols + j] = row[3 * j + (2 - c)];
    }
    w0 = img.w;
    h0 = img.h;
    v.frames.push_back(fit(std::move(img)));
  }
  IMPASTO_CHECK(!v.frames.empty(), "video '" << input << "': no frames could be decoded");
  // A truncated file decodes its first frames and then stops: fewer than its header promises is an error.
  const double reported = cap.get(cv::CAP_PROP_FRAME_COUNT);
  if (reported > 0 && reported < 1e9) {
    const int expected = max_frames > 0 ? std::min(max_frames, int(reported)) : int(reported);
    IMPASTO_CHECK(int(v.frames.size()) >= expected,
                  "video '" << input << "': decoded " << v.frames.size() << " of its " << int(reported)
                            << " frames (truncated or damaged; --frames " << v.frames.size() << " uses those)");
  }
  v.fingerprint = {{"file", fs::path(input).filename().string()}, {"sha256", sha256_file(input)}};
  char fps[32];
  std::snprintf(fps, sizeof fps, "%.4g", v.fps);
  v.description = input + " (" + std::to_string(v.frames.size()) + " frames of " + std::to_string(w0) + "x" +
                  std::to_string(h0) + ", " + fps + " fps)";
  return v;
#else
  IMPASTO_FAIL("input '" << input << "': this build has no OpenCV to decode videos: give a folder of frames "
                         << "(and --flow-dir with .flo files)");
#endif
}

// ---- flows ---------------------------------------------------------------------------------------------------

std::string flo_name(int from, int to) {
  return std::string(from < to ? "forward_" : "backward_") + std::to_string(from + 1) + "_" + std::to_string(to + 1) +
         ".flo";
}

std::unique_ptr<FlowProvider> make_flow_dir_provider(const std::string& dir, int w, int h,
                                                     const std::vector<std::pair<int, int>>& pairs) {
  auto p = std::make_unique<FlowDirProvider>(dir, w, h);
  for (const auto& [a, b] : pairs)
    for (const std::string& name : {flo_name(a, b), flo_name(b, a)}) {
      const std::string path = (fs::path(dir) / name).string();
      IMPASTO_CHECK(fs::exists(path), "flow file '" << path << "' is missing (frames " << (name == flo_name(a, b) ? a : b) + 1
                                                    << " -> " << (name == flo_name(a, b) ? b : a) + 1 << ")");
      read_flo(path);  // every value, before any frame is computed (one file in memory at a time)
    }
  return p;
}

std::unique_ptr<FlowProvider> make_computed_flow_provider(const std::vector<Image>& frames, const std::string& method,
                                                          const std::string& cache_dir,
                                                          std::vector<std::pair<int, int>> pairs, int lookahead) {
#ifdef IMPASTO_HAVE_OPENCV
  return std::make_unique<ComputedFlowProvider>(frames, method, cache_dir, std::move(pairs), lookahead);
#else
  (void)frames, (void)method, (void)cache_dir, (void)pairs, (void)lookahead;
  IMPASTO_FAIL(kNoOpenCv);
#endif
}

// ---- per-frame math ---------------------------------------------------------------------------------------------

void reliability(Backend& b, const Tensor& fwd, const Tensor& bwd, float sigma, Tensor& tmp, Tensor& c) {
  b.consistency(fwd, bwd, c);
  b.gaussian_blur(c, sigma, tmp, c);
  b.clamp(c, 0.0f, 1.0f, c);
}

void long_term_weights(Backend& b, std::vector<Tensor>& c, Tensor& sum) {
  b.fill(sum, 0.0f);
  for (Tensor& cj : c) {
    // c_long(j) = max(c(j) − Σ_{k<j} c(k), 0); the sum runs over the raw c(k).
    b.axpy(1.0f, cj, sum);           // sum = Σ_{k<=j} c(k)
    b.axpby(-1.0f, sum, 2.0f, cj);   // cj = 2c(j) − Σ_{k<=j} c(k) = c(j) − Σ_{k<j} c(k)
    b.clamp(cj, 0.0f, 1.0f, cj);
  }
}

void channel_mean(Backend& b, const Tensor& x, Tensor& fill) {
  const Shape s = x.shape();  // (1,C,H,W)
  IMPASTO_CHECK(s.n == 1 && fill.shape() == (Shape{1, s.c, 1, 1}), "channel_mean: shapes " << s.str() << ", "
                                                                                           << fill.shape().str());
  const Tensor planes = x.reshaped(Shape{s.c, 1, s.h, s.w});  // (C,1,H,W): one sample per channel
  std::vector<float> mean(std::size_t(s.c));
  for (int c = 0; c < s.c; ++c) mean[std::size_t(c)] = float(b.sum(planes.sample(c)) / double(s.plane()));
  b.upload(mean.data(), fill);
}

double TemporalLoss::evaluate(const Tensor& x, Tensor& grad) {
  const double scale = weight_ / double(x.numel());  // γ/D, D = H·W·3
  double loss = 0;
  for (const Term& t : terms_) loss += backend_.sq_diff_loss(x, t.target, &t.c, float(scale), &grad);
  return loss;
}

void warp_fill(Backend& b, WarpFill how, const Tensor& x, Tensor& fill) {
  if (how == WarpFill::mean_pixel)
    b.fill(fill, 0.0f);
  else
    channel_mean(b, x, fill);
}

void blend_pass(Backend& b, PassBlend rule, double delta, const Tensor& own, const Tensor& warped, const Tensor& c,
                Tensor& diff, Tensor& weight, Tensor& x) {
  // x = own + w ⊙ (ω − own) with w = (1 − δ)·c (linear) or (1 − δ)·c / (δ + (1 − δ)·c) (normalized).
  b.copy(warped, diff);
  b.axpy(-1.0f, own, diff);  // ω − own
  if (rule == PassBlend::linear) {
    b.mul_mask(diff, c, diff);
    b.copy(own, x);
    b.axpy(float(1.0 - delta), diff, x);
    return;
  }
  // Once per frame, on H·W values: the weights are made on the host (no backend op divides).
  std::vector<float> w = b.to_host(c);
  for (float& v : w) {
    const double a = (1.0 - delta) * double(v), den = delta + a;
    v = den > 0 ? float(a / den) : 0.0f;
  }
  b.upload(w.data(), weight);
  b.mul_mask(diff, weight, diff);
  b.copy(own, x);
  b.axpy(1.0f, diff, x);
}

double warping_error(Backend& b, const Image& prev, const Image& cur, const FlowField& fwd, const FlowField& bwd,
                     float sigma, double* reliable_fraction) {
  check_same_size(prev, cur, "warping_error");
  IMPASTO_CHECK(fwd.h == cur.h && fwd.w == cur.w && bwd.h == cur.h && bwd.w == cur.w,
                "warping_error: flow size differs from the frames");
  const int h = cur.h, w = cur.w;
  Tensor p = b.from_host(prev.data, Shape{1, 3, h, w});  // (1,3,H,W)
  Tensor f = b.from_host(fwd.data, Shape{1, 2, h, w});   // (1,2,H,W)
  Tensor bw = b.from_host(bwd.data, Shape{1, 2, h, w});  // (1,2,H,W)
  Tensor c = b.empty(Shape{1, 1, h, w}), tmp = b.empty(Shape{1, 1, h, w});
  reliability(b, f, bw, sigma, tmp, c);
  Tensor fill = b.empty(Shape{1, 3, 1, 1});
  channel_mean(b, p, fill);
  Tensor warped = b.empty(p.shape());
  b.warp(p, bw, fill, warped);
  const std::vector<float> wv = b.to_host(warped), cv = b.to_host(c);
  const std::size_t m = std::size_t(h) * w;
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t k = 0; k < m; ++k) {
    if (!(cv[k] > 0.5f)) continue;
    ++n;
    for (int ch = 0; ch < 3; ++ch) {
      const double d = (double(cur.plane(ch)[k]) - double(wv[ch * m + k])) / 255.0;
      sum += d * d;
    }
  }
  if (reliable_fraction) *reliable_fraction = double(n) / double(m);
  return n > 0 ? sum / (3.0 * double(n)) : 0.0;
}

namespace {

// Whether `rel` names a file a video run writes in its --out folder: frame_NNNN.png, passK/frame_NNNN.png or
// out.avi. Nothing else is ever removed, whatever a state file lists.
bool is_output_name(const std::string& rel) {
  static const std::regex names(R"((pass[1-9][0-9]{0,5}/)?frame_[0-9]{4,9}\.png|out\.avi)");
  return std::regex_match(rel, names);
}

// The files a run of `passes` passes over `frames` frames may write, relative to its --out folder.
std::vector<std::string> run_outputs(int passes, int frames) {
  std::vector<std::string> out;
  for (int p = 1; p <= passes; ++p)
    for (int t = 0; t < frames; ++t) out.push_back(video_frame_path("", p, passes, t));
  out.push_back("out.avi");
  return out;
}

// Whether out_dir holds anything a video run would write (frames, pass folders, out.avi).
bool holds_outputs(const std::string& out_dir) {
  for (const auto& e : fs::directory_iterator(out_dir)) {
    const std::string n = e.path().filename().string();
    if (is_output_name(n) || (n.rfind("pass", 0) == 0 && e.is_directory())) return true;
  }
  return false;
}

// Before a run writes its state file: resume (same fingerprint), or start over where `force` allows, removing
// only the files the previous run's state file lists (and its pass folders once empty). A folder without a
// valid state file is never cleared.
void prepare_out_dir(const std::string& out_dir, const std::string& fingerprint, bool force) {
  const std::string state_path = (fs::path(out_dir) / kStateFile).string();
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(state_path, ec))) {
    IMPASTO_CHECK(!holds_outputs(out_dir),
                  "'" << out_dir << "' holds frame files but no " << kStateFile << " (not an impasto video run); "
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
  IMPASTO_CHECK(force, "'" << out_dir << "' holds a run with other options or inputs (" << kStateFile
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

}  // namespace

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
  s.outputs = run_outputs(int(passes), int(frames));
  return s;
}

#ifdef IMPASTO_HAVE_OPENCV
namespace {

// out.avi (MJPG) from the final frames, through an AtomicFile (OpenCV writes its library path: FFmpeg where
// OpenCV has it, else OpenCV's own AVI writer). OpenCV does not report write errors, so the file is read back
// and must hold every frame before it is moved into place (a full disk leaves nothing under its name).
void write_video_file(const std::string& path, const std::vector<std::string>& frame_paths, int w, int h, double fps) {
  AtomicFile file(path);
  const std::string name = file.path_for_library();
  const int fourcc = cv::VideoWriter::fourcc('M', 'J', 'P', 'G');
  int api = cv::CAP_FFMPEG;
  {
    cv::VideoWriter writer(name, api, fourcc, fps, cv::Size(w, h));
    if (!writer.isOpened()) writer.open(name, api = cv::CAP_OPENCV_MJPEG, fourcc, fps, cv::Size(w, h));
    IMPASTO_CHECK(writer.isOpened(), "video '" << path << "': OpenCV cannot open an MJPG .avi writer");
    cv::Mat bgr(h, w, CV_8UC3);  // (H,W,3) BGR 8-bit
    for (const std::string& fp : frame_paths) {
      const Image img = read_image(fp);
      for (int i = 0; i < h; ++i) {
        unsigned char* row = bgr.ptr<unsigned char>(i);
        for (int j = 0; j < w; ++j)
          for (int c = 0; c < 3; ++c)
            row[3 * j + (2 - c)] = (unsigned char)std::clamp(int(img.plane(c)[std::size_t(i) * w + j] + 0.5f), 0, 255);
      }
      writer.write(bgr);
    }
  }
  cv::VideoCapture check(name, api);
  int frames = 0;
  for (cv::Mat m; check.isOpened() && check.read(m);) ++frames;
  IMPASTO_CHECK(frames == int(frame_paths.size()),
                "cannot write '" << path << "': it holds " << frames << " of " << frame_paths.size()
                                 << " frames (" << file.size() << " bytes; a full disk?)");
  file.commit(true);
}

}  // namespace
#endif

// ---- options -----------------------------------------------------------------------------------------------------

void VideoOptions::validate() const {
  IMPASTO_CHECK(base.iterations >= 0, "--iterations must be >= 0");
  IMPASTO_CHECK(frame_iterations >= 0, "--frame-iterations must be >= 0");
  IMPASTO_CHECK(std::isfinite(temporal_weight) && temporal_weight >= 0, "--temporal-weight must be >= 0");
  IMPASTO_CHECK(!temporal_offsets.empty(), "--temporal-offsets: give at least one offset (e.g. 1 or 1,2,4)");
  for (std::size_t k = 0; k < temporal_offsets.size(); ++k) {
    IMPASTO_CHECK(temporal_offsets[k] >= 1, "--temporal-offsets: offset " << temporal_offsets[k] << " must be >= 1");
    IMPASTO_CHECK(k == 0 || temporal_offsets[k] > temporal_offsets[k - 1],
                  "--temporal-offsets must be strictly increasing (e.g. 1,2,4)");
  }
  IMPASTO_CHECK(temporal_offsets[0] == 1, "--temporal-offsets must start with 1 (the previous frame)");
  IMPASTO_CHECK(passes >= 1, "--passes must be >= 1");
  IMPASTO_CHECK(temporal_from_pass >= 1, "--temporal-from-pass must be >= 1");
  IMPASTO_CHECK(pass_blend >= 0 && pass_blend <= 1, "--pass-blend must be in [0, 1]");
  IMPASTO_CHECK(first_frame_init == FrameInit::content || first_frame_init == FrameInit::noise,
                "--first-frame-init must be content or noise (the first frame has no neighbour)");
  IMPASTO_CHECK(std::isfinite(reliability_sigma) && reliability_sigma >= 0 && reliability_sigma <= 10,
                "--reliability-blur must be in [0, 10]");
  IMPASTO_CHECK(stop_after >= 0, "--stop-after must be >= 0");
  IMPASTO_CHECK(fps >= 0 && std::isfinite(fps), "--fps must be >= 0");
}

nlohmann::json VideoOptions::describe() const {
  using nlohmann::json;
  const LossConfig& l = base.loss;
  auto taps = [](const std::vector<WeightedTap>& ts) {
    json a = json::array();
    for (const auto& t : ts) a.push_back({tap_name(t.tap), t.weight});
    return a;
  };
  json j;
  j["loss"] = {{"content_layers", taps(l.content_layers)}, {"style_layers", taps(l.style_layers)},
               {"content_variant", l.content_variant},    {"content_weight", l.content_weight},
               {"style_weight", l.style_weight},          {"tv_weight", l.tv_weight},
               {"tv", enum_name(l.tv_mode)},              {"style_form", enum_name(l.style_form)},
               {"average_layers", l.average_layers},      {"blend_style_targets", l.blend_style_targets},
               {"tv_in_total", l.tv_in_total}};
  j["pooling"] = enum_name(base.pooling);
  j["size"] = base.size;
  j["style_scale"] = base.style_scale;
  j["style_fit"] = enum_name(base.style_fit);
  j["style_blend_weights"] = base.style_blend_weights;
  j["noise_ratio"] = base.noise_ratio;
  j["noise"] = enum_name(base.noise);
  j["pixel_scale"] = base.pixel_scale;
  j["resample"] = enum_name(base.resample);
  j["seed"] = base.seed;
  if (base.use_adam) {
    j["optimizer"] = {{"adam", {base.adam.learning_rate, base.adam.beta1, base.adam.beta2, base.adam.eps}}};
  } else {
    const LbfgsParams& p = base.lbfgs;
    j["optimizer"] = {{"lbfgs",
                       {p.history, enum_name(p.line_search), p.learning_rate, p.tolerance_change, p.tolerance_window,
                        enum_name(p.tolerance_rule), p.tolerance_grad, p.curvature_eps, p.wolfe_c1, p.wolfe_c2,
                        p.max_line_search_evals}}};
  }
  j["iterations"] = base.iterations;
  j["original_colors"] = base.original_colors ? enum_name(*base.original_colors) : "none";
  j["frame_iterations"] = frame_iterations;
  j["temporal_weight"] = temporal_weight;
  j["temporal_offsets"] = temporal_offsets;
  j["frame_init"] = enum_name(frame_init);
  j["first_frame_init"] = enum_name(first_frame_init);
  j["warp_fill"] = enum_name(warp_fill);
  j["passes"] = passes;
  j["temporal_from_pass"] = temporal_from_pass;
  j["pass_blend"] = pass_blend;
  j["pass_blend_rule"] = enum_name(pass_blend_rule);
  j["reliability_sigma"] = reliability_sigma;
  j["flow"] = flow_dir.empty() ? flow_method : "dir:" + fs::absolute(flow_dir).lexically_normal().string();
  return j;
}

ImageSize VideoStylizer::style_size(const VideoOptions& options, ImageSize style, int h, int w) {
  return Stylizer::style_size(options.base, style, h, w);
}

MemoryNeed VideoStylizer::memory_needed(const VideoOptions& options, int h, int w, const std::vector<ImageSize>& styles) {
  IMPASTO_CHECK(!styles.empty(), "no style image given");
  const Shape img{1, 3, h, w};  // (1,3,H,W)
  const std::int64_t plane = img.plane();
  const std::size_t optimizer = optimizer_bytes(options.base.use_adam, options.base.lbfgs, img);
  std::vector<ImageSize> fitted;
  std::int64_t style_floats = 0;  // the style uploads, kept for the whole run
  for (const ImageSize& s : styles) {
    fitted.push_back(style_size(options, s, h, w));
    style_floats += 3LL * fitted.back().h * fitted.back().w;
  }
  // run(): the optimizer first, then each style's target, then the plan at the frame size with the run's
  // buffers: x and the multi-pass scratch (3 planes each), per temporal offset a warped neighbour (3) and its
  // weights (1), the blur scratch and long-term sum (1 each). Per frame, at most 13 planes of uploads live at
  // once (the content 3; a neighbour 3 with its two flows 4; the own previous pass 3), which also covers the
  // flicker measure at the end (12).
  RunMemory run(net_, options.base.loss);
  for (std::size_t i = 0; i < fitted.size(); ++i) run.style_phase(fitted[i], int(i), false, optimizer, float_bytes(style_floats));
  const auto offsets = std::int64_t(options.temporal_offsets.size());
  run.output_phase({h, w}, int(styles.size()), 0, float_bytes(offsets * 4 * plane + 2 * plane + 3), optimizer,
                   float_bytes(style_floats + 6 * plane + 13 * plane));
  return run.peak();
}

std::string video_frame_path(const std::string& out_dir, int pass, int passes, int t) {
  char name[32];
  std::snprintf(name, sizeof name, "frame_%04d.png", t + 1);
  if (pass == passes) return (fs::path(out_dir) / name).string();
  return (fs::path(out_dir) / ("pass" + std::to_string(pass)) / name).string();
}

// ---- the pipeline ---------------------------------------------------------------------------------------------------

std::vector<std::pair<int, int>> VideoStylizer::needed_pairs(int frames, const std::vector<int>& offsets) {
  std::vector<std::pair<int, int>> pairs;
  for (int b = 1; b < frames; ++b)
    for (int j : offsets)
      if (b - j >= 0) pairs.emplace_back(b - j, b);
  return pairs;
}

VideoStylizer::VideoStylizer(Backend& backend, const VggWeights& weights, VideoOptions options)
    : backend_(backend), bgr_(weights.bgr_input), options_(std::move(options)),
      net_(backend, weights, options_.base.pooling) {
  options_.validate();
  options_.base.loss.validate();
  IMPASTO_CHECK(options_.base.style_scale > 0 && std::isfinite(options_.base.style_scale), "--style-scale must be > 0");
  IMPASTO_CHECK(options_.base.noise_ratio >= 0 && options_.base.noise_ratio <= 1, "--noise-ratio must be in [0, 1]");
  const int most = std::max(options_.base.iterations, options_.frame_iterations);
  options_.base.lbfgs.max_iterations = most;  // each frame stops at its own count through the callback
  options_.base.adam.max_iterations = most;
  options_.base.lbfgs.validate();
  options_.base.adam.validate();
  weights_description_ = weights.description;
}

Tensor VideoStylizer::upload_image(const Image& rgb) {
  return backend_.from_host(preprocess(rgb, bgr_, float(options_.base.pixel_scale)), Shape{1, 3, rgb.h, rgb.w});
}

Image VideoStylizer::to_image(const Tensor& x) {
  const auto host = backend_.to_host(x);
  return postprocess(host.data(), x.shape().h, x.shape().w, bgr_, float(options_.base.pixel_scale));
}

Tensor VideoStylizer::upload_flow(const FlowField& f) {
  return backend_.from_host(f.data, Shape{1, 2, f.h, f.w});  // (1,2,H,W)
}

VideoResult VideoStylizer::run(const VideoFrames& video, const std::vector<Image>& styles,
                               const nlohmann::json& style_fingerprint, FlowProvider& flows,
                               const std::string& out_dir, bool force, const FrameReporter& on_frame,
                               const IterationReporter& on_iteration) {
  using Clock = std::chrono::steady_clock;
  const auto run_start = Clock::now();
  const std::vector<Image>& frames = video.frames;
  IMPASTO_CHECK(!frames.empty(), "no frames to stylize");
  IMPASTO_CHECK(!styles.empty(), "no style image given");
  const auto& blend = options_.base.style_blend_weights;
  IMPASTO_CHECK(blend.empty() || blend.size() == styles.size(),
                blend.size() << " style blend weights for " << styles.size() << " styles");
  const int T = int(frames.size()), H = frames[0].h, W = frames[0].w;
  for (const Image& f : frames) check_same_size(frames[0], f, "frames");
  const int passes = options_.passes;

  // ---- resume state: the fingerprint of everything that shapes the frames -------------------------------
  fs::create_directories(out_dir);
  const std::string state_path = (fs::path(out_dir) / kStateFile).string();
  nlohmann::json described = {{"options", options_.describe()}, {"input", video.fingerprint},
                              {"styles", style_fingerprint},   {"frames", T},
                              {"size", {W, H}},                {"weights", weights_description_}};
  const std::string fingerprint = fnv1a_hex(described.dump());
  nlohmann::json state = {{"version", 2},    {"fingerprint", fingerprint},           {"described", described},
                          {"complete", false}, {"outputs", run_outputs(passes, T)}};
  prepare_out_dir(out_dir, fingerprint, force);
  remove_stale_temps(out_dir);
  write_file_atomic(state_path, state.dump(2) + "\n", true);
  for (int p = 1; p < passes; ++p) {
    const fs::path folder = fs::path(out_dir) / ("pass" + std::to_string(p));
    fs::create_directories(folder);
    std::error_code ec;
    IMPASTO_CHECK(fs::is_directory(fs::symlink_status(folder, ec)), "'" << folder.string() << "' is not a folder");
    remove_stale_temps(folder.string());
  }

  // ---- fixed per run: style images, the optimizer, scratch tensors ------------------------------------------
  std::vector<Tensor> style_x;
  for (const Image& s : styles) {
    const ImageSize fit = style_size(options_, {s.h, s.w}, H, W);
    style_x.push_back(upload_image(resample(s, fit.w, fit.h, options_.base.resample)));
  }
  const Shape img_shape{1, 3, H, W}, plane_shape{1, 1, H, W};
  std::unique_ptr<Lbfgs> lbfgs;
  std::unique_ptr<Adam> adam;
  if (options_.base.use_adam)
    adam = std::make_unique<Adam>(backend_, img_shape, options_.base.adam);
  else
    lbfgs = std::make_unique<Lbfgs>(backend_, img_shape, options_.base.lbfgs);
  // Content, style and TV: style targets once per run, the content target per frame (set_content reuses the
  // plan made for the first frame).
  StyleObjective objective(net_, options_.base.loss);
  for (std::size_t s = 0; s < style_x.size(); ++s) objective.add_style(style_x[s], blend.empty() ? 1.0f : blend[s]);
  Tensor x = backend_.empty(img_shape);  // (1,3,H,W) the frame being optimized
  Tensor diff = backend_.empty(img_shape);  // (1,3,H,W) multi-pass scratch
  Tensor fill = backend_.empty(Shape{1, 3, 1, 1});
  Tensor blur_tmp = backend_.empty(plane_shape), c_sum = backend_.empty(plane_shape);
  const int max_offsets = int(options_.temporal_offsets.size());
  const std::size_t n_offsets = static_cast<std::size_t>(max_offsets);
  std::vector<Tensor> warped(n_offsets), weights(n_offsets);
  for (int k = 0; k < max_offsets; ++k) {
    warped[std::size_t(k)] = backend_.empty(img_shape);
    weights[std::size_t(k)] = backend_.empty(plane_shape);
  }
  TemporalLoss temporal(backend_, options_.temporal_weight);

  // Neighbour n of frame t: its output of `pass` warped to t (into `out`) and the reliability c(n → t).
  auto warp_neighbour = [&](int pass, int n, int t, Tensor& out, Tensor& c) {
    const Tensor xn = upload_image(read_image(video_frame_path(out_dir, pass, passes, n)));
    const Tensor fwd = upload_flow(flows.get(n, t)), bwd = upload_flow(flows.get(t, n));
    reliability(backend_, fwd, bwd, options_.reliability_sigma, blur_tmp, c);
    warp_fill(backend_, options_.warp_fill, xn, fill);
    backend_.warp(xn, bwd, fill, out);
  };

  VideoResult result;
  result.frames = T;
  for (int pass = 1; pass <= passes; ++pass) {
    const int dir = pass == 1 ? 1 : (pass % 2 == 0 ? -1 : 1);  // pass 1 forward, then backward, forward, ...
    const bool temporal_on = options_.temporal_weight > 0 && pass >= options_.temporal_from_pass;
    for (int step = 0; step < T; ++step) {
      const int t = dir > 0 ? step : T - 1 - step;
      FrameReport report;
      report.pass = pass;
      report.passes = passes;
      report.frame = t;
      report.frames = T;
      report.path = video_frame_path(out_dir, pass, passes, t);
      if (fs::exists(report.path)) {
        report.resumed = true;
        ++result.resumed;
        if (on_frame) on_frame(report);
        continue;
      }
      if (options_.stop_after > 0 && result.computed >= options_.stop_after) {
        result.stopped = true;
        result.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
        return result;
      }
      const auto frame_start = Clock::now();
      flows.at_frame(t);

      // The objective's content target of this frame (the style targets and the plan are the run's).
      const Tensor content_x = upload_image(frames[std::size_t(t)]);  // (1,3,H,W)
      objective.set_content(content_x);

      // Temporal terms against the already stylized neighbours t − dir·j of this pass.
      temporal.clear();
      const int first_neighbour = t - dir;
      const bool has_neighbour = first_neighbour >= 0 && first_neighbour < T;
      int used = 0;
      if (temporal_on) {
        std::vector<Tensor> cs;
        for (int k = 0; k < max_offsets; ++k) {
          const int n = t - dir * options_.temporal_offsets[std::size_t(k)];
          if (n < 0 || n >= T) break;
          warp_neighbour(pass, n, t, warped[std::size_t(k)], weights[std::size_t(k)]);
          cs.push_back(weights[std::size_t(k)]);
          ++used;
        }
        long_term_weights(backend_, cs, c_sum);  // in place: weights[k] = c_long(J[k])
        for (int k = 0; k < used; ++k) temporal.add(warped[std::size_t(k)], weights[std::size_t(k)]);
      }

      // Initialization.
      if (pass == 1) {
        FrameInit init = has_neighbour ? options_.frame_init : options_.first_frame_init;
        if (options_.frame_init == FrameInit::noise) init = FrameInit::noise;
        switch (init) {
          case FrameInit::warped:
            if (used == 0) warp_neighbour(pass, first_neighbour, t, warped[0], weights[0]);
            backend_.copy(warped[0], x);
            break;
          case FrameInit::prev: {
            const Tensor xp = upload_image(read_image(video_frame_path(out_dir, pass, passes, first_neighbour)));
            backend_.copy(xp, x);
            break;
          }
          case FrameInit::content:
            backend_.copy(content_x, x);
            break;
          case FrameInit::noise: {
            backend_.copy(noise_image(backend_, options_.base.noise, H, W, options_.base.seed, std::uint64_t(t)), x);
            backend_.axpby(float(1.0 - options_.base.noise_ratio), content_x, float(options_.base.noise_ratio), x);
            break;
          }
        }
      } else {
        // Multi-pass: own previous-pass result blended with the warped neighbour where it is reliable.
        const Tensor own = upload_image(read_image(video_frame_path(out_dir, pass - 1, passes, t)));
        backend_.copy(own, x);
        if (has_neighbour) {
          // warped[0], weights[0]: the nearest neighbour warped and c(1) (= c_long(1) when temporal terms ran).
          if (used == 0) warp_neighbour(pass, first_neighbour, t, warped[0], weights[0]);
          blend_pass(backend_, options_.pass_blend_rule, options_.pass_blend, own, warped[0], weights[0], diff,
                     blur_tmp, x);
        }
      }

      // Optimize.
      const int iterations = (pass == 1 && step == 0) ? options_.base.iterations : options_.frame_iterations;
      struct Terms {
        LossTerms style;
        double temporal = 0, total = 0;
      };
      std::array<Terms, 32> recent{};  // the last evaluations, to name the terms of accepted iterates
      std::size_t recent_count = 0;
      Objective f = [&](const Tensor& xx, Tensor& grad) {
        Terms t2;
        t2.style = objective.evaluate(xx, grad);
        t2.temporal = temporal.empty() ? 0.0 : temporal.evaluate(xx, grad);
        t2.total = t2.style.total + t2.temporal;
        recent[recent_count++ % recent.size()] = t2;
        return t2.total;
      };
      IterationCallback callback = [&](const IterationInfo& info, const Tensor&) {
        IterationReport r;
        r.iteration = info.iteration;
        r.loss = info.loss;
        for (std::size_t k = 0; k < std::min(recent_count, recent.size()); ++k) {
          const Terms& tr = recent[(recent_count - 1 - k) % recent.size()];
          if (tr.total == info.loss) {
            r.content = tr.style.content;
            r.style = tr.style.style;
            r.tv = tr.style.tv;
            report.temporal = tr.temporal;
            break;
          }
        }
        r.seconds = std::chrono::duration<double>(Clock::now() - frame_start).count();
        if (info.iteration == 0) report.loss_first = info.loss;
        report.loss = info.loss;
        report.content = r.content;
        report.style = r.style;
        report.tv = r.tv;
        report.iterations = info.iteration;
        if (on_iteration) on_iteration(report, r);
        return info.iteration < iterations;
      };
      try {
        if (adam)
          adam->minimize(x, f, callback);
        else
          lbfgs->minimize(x, f, callback);
      } catch (const NonFiniteError& e) {
        IMPASTO_FAIL("frame " << t + 1 << " (pass " << pass << "): " << e.what());
      }

      Image out = to_image(x);
      if (options_.base.original_colors)
        out = preserve_colors(backend_, out, frames[std::size_t(t)], *options_.base.original_colors);
      write_image(out, report.path, false);
      report.seconds = std::chrono::duration<double>(Clock::now() - frame_start).count();
      ++result.computed;
      if (on_frame) on_frame(report);
    }
  }

  // ---- the flicker metric over the final frames (read back: the same numbers for resumed runs) -----------
  for (int t = 0; t < T; ++t) result.frame_paths.push_back(video_frame_path(out_dir, passes, passes, t));
  Image prev = read_image(result.frame_paths[0]);
  for (int t = 1; t < T; ++t) {
    Image cur = read_image(result.frame_paths[std::size_t(t)]);
    double frac = 0;
    result.flicker_per_frame.push_back(
        warping_error(backend_, prev, cur, flows.get(t - 1, t), flows.get(t, t - 1), options_.reliability_sigma, &frac));
    result.reliable_fraction.push_back(frac);
    prev = std::move(cur);
  }
  double total = 0;
  for (double e : result.flicker_per_frame) total += e;
  result.flicker = result.flicker_per_frame.empty() ? 0.0 : total / double(result.flicker_per_frame.size());

#ifdef IMPASTO_HAVE_OPENCV
  if (options_.write_video) {
    const double fps = options_.fps > 0 ? options_.fps : (video.fps > 0 ? video.fps : 24.0);
    const std::string path = (fs::path(out_dir) / "out.avi").string();
    write_video_file(path, result.frame_paths, W, H, fps);
    result.video_path = path;
  }
#endif

  state["complete"] = true;
  state["flicker"] = result.flicker;
  write_file_atomic(state_path, state.dump(2) + "\n", true);
  result.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  return result;
}

}  // namespace impasto
