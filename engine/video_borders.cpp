// engine/video_borders.cpp — see video_borders.hpp.
#include "engine/video_borders.hpp"

#include <chrono>
#include <cstring>
#include <iterator>

#include "engine/error.hpp"
#include "engine/video_state.hpp"

namespace impasto {
namespace {

// An image as bytes for another rank: (c, h, w) then the values, as read from its 8-bit file.
std::string image_bytes(const Image& img) {
  std::string s(3 * sizeof(int) + img.data.size() * sizeof(float), '\0');
  const int dims[3] = {img.c, img.h, img.w};
  std::memcpy(s.data(), dims, sizeof dims);
  std::memcpy(s.data() + sizeof dims, img.data.data(), img.data.size() * sizeof(float));
  return s;
}

Image image_from_bytes(const std::string& s) {
  int dims[3] = {0, 0, 0};
  IMPASTO_CHECK(s.size() >= sizeof dims, "a border frame from another rank is truncated");
  std::memcpy(dims, s.data(), sizeof dims);
  Image img{dims[0], dims[1], dims[2], {}};
  const std::size_t n = std::size_t(dims[0]) * std::size_t(dims[1]) * std::size_t(dims[2]);
  IMPASTO_CHECK(s.size() == sizeof dims + n * sizeof(float), "a border frame from another rank is truncated");
  img.data.resize(n);
  std::memcpy(img.data.data(), s.data() + sizeof dims, n * sizeof(float));
  return img;
}

}  // namespace

BorderFrames::BorderFrames(Comm& ranks, const VideoChunks& chunks, int reach, const std::string& out_dir, int passes)
    : ranks_(ranks), chunks_(chunks), reach_(reach), passes_(passes), out_dir_(out_dir) {
  IMPASTO_CHECK((long long)(passes + 1) * chunks.frames() - 1 <= ranks.max_tag(),
                passes << " passes of " << chunks.frames() << " frames are more border frames than this MPI can tell "
                "apart (tags up to " << ranks.max_tag() << "); split the clip");
}

void BorderFrames::offer(int pass, int t) {
  const int R = ranks_.size();
  std::string bytes;
  for (int r = 0; r < R; ++r) {
    if (r == ranks_.rank() || !chunks_.needs(r, R, t, reach_)) continue;
    if (bytes.empty()) bytes = image_bytes(read_image(video_frame_path(out_dir_, pass, passes_, t)));
    ranks_.post(r, tag(pass, t), bytes);
  }
}

Image BorderFrames::read(int pass, int t) {
  if (chunks_.owns(ranks_.rank(), ranks_.size(), t)) return read_image(video_frame_path(out_dir_, pass, passes_, t));
  const auto it = kept_.find({pass, t});
  if (it != kept_.end()) return it->second;
  IMPASTO_ASSERT(chunks_.needs(ranks_.rank(), ranks_.size(), t, reach_));  // else its owner never posts it
  const auto start = std::chrono::steady_clock::now();
  const int owner = chunks_.owner(chunks_.chunk_of(t), ranks_.size());
  Image img = image_from_bytes(ranks_.receive(owner, tag(pass, t)));
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return kept_[{pass, t}] = std::move(img);
}

void BorderFrames::forget_before(int pass) {
  for (auto it = kept_.begin(); it != kept_.end();) it = it->first.first < pass ? kept_.erase(it) : std::next(it);
}

void BorderFrames::settle() { wait_seconds_ += ranks_.settle(); }

}  // namespace impasto
