// engine/video_schedule.cpp — see video_schedule.hpp.
#include "engine/video_schedule.hpp"

#include <algorithm>

#include "engine/error.hpp"

namespace impasto {

VideoChunks::VideoChunks(int frames, int chunks) {
  IMPASTO_ASSERT(frames >= 1);
  chunks = std::clamp(chunks, 1, frames);
  begin_.push_back(0);
  for (int c = 0; c < chunks; ++c) begin_.push_back(begin_.back() + frames / chunks + (c < frames % chunks ? 1 : 0));
}

int VideoChunks::chunk_of(int t) const {
  IMPASTO_ASSERT(t >= 0 && t < frames());
  return int(std::upper_bound(begin_.begin(), begin_.end(), t) - begin_.begin()) - 1;
}

int VideoChunks::owner(int c, int ranks) const {
  // Chunk c goes to the rank r with c in [r·C/R, (r+1)·C/R): every rank gets C/R chunks, give or take one.
  return int((long long)c * ranks / count());
}

std::vector<int> VideoChunks::chunks_of(int rank, int ranks) const {
  std::vector<int> mine;
  for (int c = 0; c < count(); ++c)
    if (owner(c, ranks) == rank) mine.push_back(c);
  return mine;
}

bool VideoChunks::needs(int rank, int ranks, int n, int reach) const {
  if (owns(rank, ranks, n)) return false;
  for (int c : chunks_of(rank, ranks))
    if (n >= begin(c) - reach && n < end(c) + reach) return true;
  return false;
}

}  // namespace impasto
