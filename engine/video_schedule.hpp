// engine/video_schedule.hpp — the parallel-in-time schedule of a video run (DESIGN.md "Beyond one process"):
// the clip split into contiguous chunks, spread over the ranks. Within a pass each rank runs its chunks in the
// pass's direction; a chunk's first frame takes its neighbour from the other chunk's previous pass (none in
// pass 1: it starts as the clip's first frame does), and the frames near a border go to the other rank as they
// are made (BorderFrames). One chunk is Ruder et al.'s sequential multi-pass.
//
// The frames depend on the chunks, not on the ranks: any rank count runs the same chunks to the same frames
// (a rank with several chunks runs them one after another), so a run resumes at any rank count.
#pragma once

#include <utility>
#include <vector>

namespace impasto {

class VideoChunks {
 public:
  // `chunks` (clamped to [1, frames]) contiguous chunks of sizes differing by at most one, longer ones first.
  VideoChunks(int frames, int chunks);
  int frames() const { return begin_.back(); }
  int count() const { return int(begin_.size()) - 1; }
  int begin(int c) const { return begin_[std::size_t(c)]; }
  int end(int c) const { return begin_[std::size_t(c) + 1]; }
  int chunk_of(int t) const;
  // The rank that runs chunk c when `ranks` ranks share the chunks: contiguous blocks, so that neighbouring
  // chunks share a rank when there are more chunks than ranks.
  int owner(int c, int ranks) const;
  bool owns(int rank, int ranks, int t) const { return owner(chunk_of(t), ranks) == rank; }
  // The chunks of `rank`, ascending.
  std::vector<int> chunks_of(int rank, int ranks) const;
  // Whether the rank that owns t needs frame n of another rank's chunk from the previous pass: n lies within
  // `reach` frames (the largest temporal offset) of one of its chunks. Both sides of a trade compute it.
  bool needs(int rank, int ranks, int n, int reach) const;

 private:
  std::vector<int> begin_;  // chunk c = [begin_[c], begin_[c + 1])
};

}  // namespace impasto
