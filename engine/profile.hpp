// engine/profile.hpp — named phases of an iteration ("forward", "losses", "backward", "tv", "optimizer",
// "iteration") for profilers and benchmarks. A ProfileRange opens an NVTX range (visible in Nsight Systems;
// nothing in a build without CUDA) and, when a PhaseObserver is installed, tells it where the phase begins
// and ends. No observer is installed by default: the engine then pays one NVTX push/pop per phase and no
// synchronization. perf/bench.cpp installs one that synchronizes the device at the phase boundaries and
// times each phase.
#pragma once

#include "engine/tensor.hpp"  // Device

namespace impasto {

class PhaseObserver {
 public:
  virtual ~PhaseObserver() = default;
  // `name` is the string literal given to ProfileRange; ranges may nest ("iteration" holds the others).
  virtual void phase_begin(const char* name) = 0;
  virtual void phase_end(const char* name) = 0;
};

// The installed observer (nullptr: none). Process-wide; install it only while no optimization runs.
inline PhaseObserver*& phase_observer() {
  static PhaseObserver* observer = nullptr;
  return observer;
}

// Opens (on = true) or closes the window a GPU profiler records when told to wait for it (`ncu
// --profile-from-start off`): perf/bench.cpp opens it around its timed iterations. Nothing unless `device` is
// CUDA (a CPU run of a CUDA build may have no driver to ask).
void device_profiler_capture(Device device, bool on);

// An NVTX range on the timeline (Nsight Systems); nothing in a build without CUDA. profile.cpp is the one
// place that reaches the CUDA backend for these, so that this header stays plain C++.
void marker_push(const char* name);
void marker_pop();

class ProfileRange {
 public:
  explicit ProfileRange(const char* name) { begin(name); }
  ~ProfileRange() {
    try {
      end();
    } catch (...) {  // an observer that synchronizes may report an earlier asynchronous failure: never throw here
    }
  }
  ProfileRange(const ProfileRange&) = delete;
  ProfileRange& operator=(const ProfileRange&) = delete;

  // Ends this phase and begins the next one: ProfileRange p("forward"); …; p.next("losses"); …
  void next(const char* name) {
    end();
    begin(name);
  }
  // Ends the phase now (the destructor then does nothing).
  void end() {
    if (name_ == nullptr) return;
    const char* name = name_;
    name_ = nullptr;
    marker_pop();
    if (PhaseObserver* o = phase_observer()) o->phase_end(name);
  }

 private:
  void begin(const char* name) {
    if (PhaseObserver* o = phase_observer()) o->phase_begin(name);
    marker_push(name);
    name_ = name;
  }

  const char* name_ = nullptr;
};

}  // namespace impasto
