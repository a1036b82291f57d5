// tests/emu/include/cuda_runtime.h — the CUDA runtime as seen by kernels/*.cu when they are compiled as plain
// C++ for the CPU kernel emulator (tests/emu/emulator.cpp), never by the real build. It gives the kernel
// language (__global__, __shared__, threadIdx …, __syncthreads, __shfl_down_sync, __ballot_sync) CPU meanings:
// every CUDA thread of a block runs as a fiber, blocks run one after another, and barriers, warp shuffles and
// votes switch fibers. The launch macro IMPASTO_LAUNCH (kernels/launchers.cuh) expands to IMPASTO_EMU_LAUNCH here.
//
// What this can find: indexing and bounds mistakes, wrong grid/block arithmetic (launch limits are checked as
// CUDA checks them), missed or divergent barriers, shuffle misuse. What it cannot: data races between threads
// (fibers never run at the same time), memory-model and performance questions, anything cuDNN or cuBLAS do.
#pragma once

#include <cstdint>
#include <cstring>
#include <math.h>

#include "tests/emu/capture.hpp"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// One block runs at a time, so a function-local static is exactly one block's shared memory.
#define __shared__ static

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
// Set by the scheduler each time it switches into a thread's fiber.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

typedef struct CUstream_st* cudaStream_t;
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorCudartUnloading = 4,
  cudaErrorInvalidConfiguration = 9,
};
// The error of the last launch that the emulator refused (bad configuration), then cleared, as CUDA does.
cudaError_t cudaGetLastError();
const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);

// Block barrier: every live thread of the block must reach it (a thread that returned first is reported).
void __syncthreads();

namespace emu {

// The raw bits of a warp shuffle (values of up to 8 bytes).
std::uint64_t shuffle_down(unsigned mask, std::uint64_t bits, unsigned delta, int width);
unsigned ballot(unsigned mask, int predicate);
// Runs thread_body(context) once per thread of the grid; refuses (cudaGetLastError) a configuration CUDA
// would refuse.
void run_grid(dim3 grid, dim3 block, void (*thread_body)(void*), void* context);

struct Stats {
  std::int64_t launches = 0, refused = 0, threads = 0, barriers = 0, shuffles = 0;
};
Stats& stats();

// kernel<<<grid, block, 0, stream>>>(args…) becomes Launch{grid, block, f}(args…) with f calling the kernel:
// each thread gets its own copies of the arguments, as kernel parameters are.
// On a stream that captures (tests/emu/capture.hpp) the launch is recorded with copies of its arguments and runs
// when the graph is launched.
template <typename F>
struct Launch {
  dim3 grid, block;
  cudaStream_t stream;
  F kernel;
  Launch(dim3 g, dim3 b, cudaStream_t s, F f) : grid(g), block(b), stream(s), kernel(f) {}
  template <typename... A>
  void operator()(A... args) const {
    const dim3 g = grid, b = block;
    const F k = kernel;
    emu_capture::run(stream, [=]() {
      auto call = [&]() { k(args...); };
      run_grid(g, b, &invoke<decltype(call)>, &call);
    });
  }
  template <typename C>
  static void invoke(void* c) { (*static_cast<C*>(c))(); }
};

}  // namespace emu

template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  static_assert(sizeof(T) <= sizeof(std::uint64_t), "shuffles move at most 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = emu::shuffle_down(mask, bits, delta, width);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

inline unsigned __ballot_sync(unsigned mask, int predicate) { return emu::ballot(mask, predicate); }

#define IMPASTO_EMU_LAUNCH(kernel, grid, block, stream) \
  ::emu::Launch(dim3(grid), dim3(block), (stream), [](auto... impasto_emu_args) { kernel(impasto_emu_args...); })
