// engine/cuda/nvtx.cpp — NVTX ranges for Nsight Systems timelines (nvtx_push / nvtx_pop, see nvtx.hpp).
#include <nvtx3/nvToolsExt.h>

#include "engine/cuda/cuda_backend.hpp"

namespace impasto {

void nvtx_push(const char* name) { nvtxRangePushA(name); }
void nvtx_pop() { nvtxRangePop(); }

}  // namespace impasto
