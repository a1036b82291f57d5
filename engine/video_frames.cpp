// engine/video_frames.cpp — a clip's frames in (a folder of images or a video file through OpenCV) and the
// encoded video out (see video_frames.hpp).
#include "engine/video_frames.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/error.hpp"
#include "engine/files.hpp"
#include "engine/text.hpp"
#include "weights/weights.hpp"

#ifdef IMPASTO_HAVE_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>
#endif

namespace fs = std::filesystem;

namespace impasto {
namespace {

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

}  // namespace

bool have_opencv() {
#ifdef IMPASTO_HAVE_OPENCV
  return true;
#else
  return false;
#endif
}

void check_same_size(const Image& a, const Image& b, const char* what) {
  IMPASTO_CHECK(a.h == b.h && a.w == b.w && a.c == 3 && b.c == 3,
                what << ": images of " << a.w << "x" << a.h << " and " << b.w << "x" << b.h << " differ in size");
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
  if (!fs::exists(input, ec)) throw NotFoundError("input '" + input + "': no such file or folder");
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

void write_video_file(const std::string& path, const std::vector<std::string>& frame_paths, int w, int h, double fps) {
#ifdef IMPASTO_HAVE_OPENCV
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
#else
  (void)frame_paths, (void)w, (void)h, (void)fps;
  IMPASTO_FAIL("video '" << path << "': this build has no OpenCV to encode videos");
#endif
}

}  // namespace impasto
