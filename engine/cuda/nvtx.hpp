// engine/cuda/nvtx.hpp — NvtxRange r("forward"): an NVTX range for the enclosing scope, visible in Nsight
// Systems. Plain C++ (no CUDA headers); in a build without CUDA it compiles to nothing.
#pragma once

#ifdef IMPASTO_HAVE_CUDA
#include "engine/cuda/cuda_backend.hpp"
#endif

namespace impasto {

class NvtxRange {
 public:
#ifdef IMPASTO_HAVE_CUDA
  explicit NvtxRange(const char* name) { nvtx_push(name); }
  ~NvtxRange() { nvtx_pop(); }
#else
  explicit NvtxRange(const char*) {}
#endif
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace impasto
