// engine/cuda/cuda_backend.hpp — the CUDA backend's entry points, visible to plain C++ (no CUDA headers).
// The backend itself (cuDNN convolutions and pooling, cuBLAS Gram matrices, custom kernels) lives in the
// .cu files of this folder and in kernels/.
#pragma once

#include <memory>
#include <string>

#include "engine/backend.hpp"

namespace impasto {

// Number of usable CUDA devices (0 when the driver or device is absent; never throws).
int cuda_device_count();
// One line saying why no device is usable (driver missing, no device, ...).
std::string cuda_device_problem();
// The CUDA backend on device slot % count; throws impasto::Error when it cannot be created.
std::unique_ptr<Backend> make_cuda_backend(int slot = 0);

// NVTX range markers for profiling (Nsight Systems); the engine opens them through ProfileRange
// (engine/profile.hpp).
void nvtx_push(const char* name);
void nvtx_pop();
// cudaProfilerStart / cudaProfilerStop: the window that `ncu --profile-from-start off` (and `nsys
// --capture-range=cudaProfilerApi`) records; without a profiler attached they do nothing. Best effort: a
// failure is logged, not thrown.
void cuda_profiler_capture(bool on);

}  // namespace impasto
