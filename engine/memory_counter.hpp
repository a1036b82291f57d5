// engine/memory_counter.hpp — the live and peak byte counts of one backend's allocations (tensors, op
// workspace, scratch). Shared (std::shared_ptr) with every storage the backend hands out, so a tensor that
// outlives its backend still counts itself out safely. Lock-free; the peak is a running maximum.
#pragma once

#include <atomic>
#include <cstddef>

namespace impasto {

class MemoryCounter {
 public:
  void add(std::size_t bytes) {
    const std::size_t now = live_.fetch_add(bytes) + bytes;
    std::size_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
  }
  void sub(std::size_t bytes) { live_.fetch_sub(bytes); }
  std::size_t live() const { return live_.load(); }
  std::size_t peak() const { return peak_.load(); }
  void reset_peak() { peak_.store(live_.load()); }

 private:
  std::atomic<std::size_t> live_{0};
  std::atomic<std::size_t> peak_{0};
};

}  // namespace impasto
