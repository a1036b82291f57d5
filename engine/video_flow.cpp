// engine/video_flow.cpp — flow providers (see video_flow.hpp): OpenCV's dense flows on a producer thread, or
// .flo files from a folder.
#include "engine/video_flow.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "engine/error.hpp"
#include "kernels/color.cuh"

#ifdef IMPASTO_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>
#ifdef IMPASTO_HAVE_OPENCV_OPTFLOW
#include <opencv2/optflow.hpp>
#endif
#endif

namespace fs = std::filesystem;

namespace impasto {
namespace {

constexpr const char* kNoOpenCv = "this build has no OpenCV: give --flow-dir with .flo files";

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

}  // namespace impasto
