// engine/profile.cpp — the NVTX markers and the profiler window of profile.hpp, on the CUDA backend's entry
// points (engine/cuda/nvtx.cpp); a build without CUDA compiles them to nothing.
#include "engine/profile.hpp"

#ifdef IMPASTO_HAVE_CUDA
#include "engine/cuda/cuda_backend.hpp"
#endif

namespace impasto {

#ifdef IMPASTO_HAVE_CUDA
void device_profiler_capture(Device device, bool on) {
  if (device == Device::cuda) cuda_profiler_capture(on);
}
void marker_push(const char* name) { nvtx_push(name); }
void marker_pop() { nvtx_pop(); }
#else
void device_profiler_capture(Device, bool) {}
void marker_push(const char*) {}
void marker_pop() {}
#endif

}  // namespace impasto
