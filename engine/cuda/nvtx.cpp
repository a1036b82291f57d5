// engine/cuda/nvtx.cpp — NVTX ranges for Nsight Systems timelines (nvtx_push / nvtx_pop, which ProfileRange of
// engine/profile.hpp opens) and the profiler's capture window (cuda_profiler_capture).
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <cstdio>

#include "engine/cuda/cuda_backend.hpp"

namespace impasto {

void nvtx_push(const char* name) { nvtxRangePushA(name); }
void nvtx_pop() { nvtxRangePop(); }

void cuda_profiler_capture(bool on) {
  // Best effort: a profiler call that fails must not stop a benchmark. Its error is logged, then taken off the
  // runtime's last-error slot, where the next launch check would report it as the kernel's.
  const cudaError_t e = on ? cudaProfilerStart() : cudaProfilerStop();
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "impasto: %s failed (%s); no profiler window\n", on ? "cudaProfilerStart" : "cudaProfilerStop",
               cudaGetErrorString(e));
  (void)cudaGetLastError();
}

}  // namespace impasto
