// engine/cuda/nvtx.cpp — NVTX ranges for Nsight Systems timelines (nvtx_push / nvtx_pop, see nvtx.hpp) and the
// profiler's capture window (cuda_profiler_capture).
#include <cuda_profiler_api.h>
#include <nvtx3/nvToolsExt.h>

#include "engine/cuda/check.hpp"
#include "engine/cuda/cuda_backend.hpp"

namespace impasto {

void nvtx_push(const char* name) { nvtxRangePushA(name); }
void nvtx_pop() { nvtxRangePop(); }

void cuda_profiler_capture(bool on) { IMPASTO_CUDA_CHECK(on ? cudaProfilerStart() : cudaProfilerStop()); }

}  // namespace impasto
