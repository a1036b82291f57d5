// engine/video_frames.hpp — a clip's frames in and the encoded video out: a folder of images (sorted by name,
// digit runs as numbers) or a video file (OpenCV: FFmpeg, else its own MJPEG reader), resized to the working
// size; out.avi (MJPG) from the final frames.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/image.hpp"
#include "engine/resample.hpp"

namespace impasto {

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

// Whether this build has OpenCV (video files, computed flows, out.avi).
bool have_opencv();

// Throws "WHAT: images of WxH and WxH differ in size" unless a and b are RGB images of one size.
void check_same_size(const Image& a, const Image& b, const char* what);

// out.avi (MJPG) at `path` from the frame files, through an AtomicFile (OpenCV writes its library path: FFmpeg
// where OpenCV has it, else OpenCV's own AVI writer). OpenCV does not report write errors, so the file is read
// back and must hold every frame before it is moved into place (a full disk leaves nothing under its name).
// Throws without OpenCV.
void write_video_file(const std::string& path, const std::vector<std::string>& frame_paths, int w, int h, double fps);

}  // namespace impasto
