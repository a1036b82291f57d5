// engine/flow_io.hpp — dense optical-flow fields on the host and the Middlebury .flo format (Baker et al.,
// "A Database and Evaluation Methodology for Optical Flow", IJCV 2011; the format of flow-code/README.txt):
//   bytes 0–3   "PIEH" (the float 202021.25 in little-endian), a sanity check
//   bytes 4–11  int32 width, int32 height
//   then        width·height·2 float32, row-major, (u, v) interleaved per pixel
// The reader validates everything a broken or foreign file can get wrong and names the file and the problem
// in a one-line impasto::Error: missing/unreadable, truncated header, wrong magic, width/height <= 0 or
// absurd (> 65536 each), file size not exactly 12 + 8·w·h bytes, NaN or infinite values.
//
// Unknown flow: Middlebury marks pixels without ground truth with |u| or |v| >= 1e9 (UNKNOWN_FLOW_THRESH).
// Such values are accepted and kept as they are (FlowField::unknown counts them): in the video pipeline they
// send the source point outside the frame, so those pixels get reliability 0 and are never warped from
// (kernels/warp.cuh).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace impasto {

inline constexpr float kFloMagic = 202021.25f;
inline constexpr float kUnknownFlow = 1e9f;  // |u| or |v| at or above this: unknown (Middlebury)
inline constexpr int kMaxFloSide = 65536;

// Flow in pixels, planar: data = (2,H,W), plane 0 = u (x displacement), plane 1 = v. Pixel (i, j) of the
// first frame moves to (j + u, i + v) in the second.
struct FlowField {
  int h = 0, w = 0;
  std::vector<float> data;     // (2,H,W)
  std::int64_t unknown = 0;    // pixels with |u| or |v| >= kUnknownFlow (set by read_flo)
  float* u() { return data.data(); }
  float* v() { return data.data() + std::size_t(h) * w; }
  const float* u() const { return data.data(); }
  const float* v() const { return data.data() + std::size_t(h) * w; }
};

// Reads and validates a .flo file (see above).
FlowField read_flo(const std::string& path);
// The header and file-size checks of read_flo without reading the values; returns {width, height}.
std::pair<int, int> check_flo_header(const std::string& path);
// Writes a .flo file atomically (temporary name in the same folder, then rename); an existing file is kept
// unless overwrite. Throws when the field is empty, mis-sized or holds NaN/Inf.
void write_flo(const FlowField& flow, const std::string& path, bool overwrite);

// The flow resampled to w×h (area averaging when shrinking, bilinear when enlarging, as resize_area) with the
// vectors scaled by the size ratios, so that it describes the same motion at the new resolution.
FlowField resize_flow(const FlowField& flow, int w, int h);

}  // namespace impasto
