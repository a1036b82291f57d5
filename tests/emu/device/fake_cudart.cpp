// tests/emu/device/fake_cudart.cpp — the CUDA runtime calls of the CUDA backend (engine/cuda), implemented on
// the host for the emulated device: "device" memory is host memory that this file hands out and tracks, copies
// and memsets are immediate (the emulator runs kernels at launch, so the stream is always idle), and the one
// device reports compute capability 9.0 and kEmulatedMemory bytes.
//
// Checks a real device would make, or worse, fail loudly here: a copy, memset or free that touches memory
// outside every allocation, or a copy between overlapping ranges, aborts with one line (on a GPU it is an
// illegal address, or silent corruption).
// Signatures come from the real cuda_runtime.h, so a mismatch does not compile.
#include <cuda_profiler_api.h>
#include <cuda_runtime.h>  // the real one (CUDA Toolkit)

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>

#include "tests/emu/device/fake_device.hpp"

namespace {

struct Allocation {
  std::size_t bytes;
  bool pinned;  // cudaMallocHost: host memory, also fine for copies
};

struct Runtime {
  std::map<std::uintptr_t, Allocation> allocations;
  std::size_t device_bytes = 0;
  cudaError_t last_error = cudaSuccess;
  // IMPASTO_EMU_MALLOC_LIMIT_MB: cudaMalloc fails once this much is allocated, while cudaMemGetInfo still
  // reports the whole device free: another process taking the memory after impasto's check (tests only).
  std::size_t malloc_limit = [] {
    const char* v = std::getenv("IMPASTO_EMU_MALLOC_LIMIT_MB");
    return v ? std::size_t(std::strtoull(v, nullptr, 10)) << 20 : emu_device::kEmulatedMemory;
  }();
};

Runtime& runtime() {
  static Runtime r;
  return r;
}

[[noreturn]] void fail(const char* call, const char* what, const void* p, std::size_t bytes) {
  std::fprintf(stderr, "emulated CUDA runtime: %s: %s (%p, %zu bytes)\n", call, what, p, bytes);
  std::abort();
}

cudaError_t record(cudaError_t e) {
  if (e != cudaSuccess) runtime().last_error = e;
  return e;
}

}  // namespace

namespace emu_device {

bool inside_allocation(const void* p, std::size_t bytes, bool device_only) {
  const auto& a = runtime().allocations;
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  auto it = a.upper_bound(addr);
  if (it == a.begin()) return false;
  --it;
  if (device_only && it->second.pinned) return false;
  return addr + bytes <= it->first + it->second.bytes;
}

void check_device_range(const char* call, const void* p, std::size_t bytes) {
  if (bytes > 0 && !inside_allocation(p, bytes, true)) fail(call, "range outside every device allocation", p, bytes);
}

std::size_t device_bytes_in_use() { return runtime().device_bytes; }

}  // namespace emu_device

extern "C" {

// No profiler is ever attached to the emulated device: the capture window opens and closes on nothing.
cudaError_t cudaProfilerStart(void) { return cudaSuccess; }
cudaError_t cudaProfilerStop(void) { return cudaSuccess; }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) { return record(device == 0 ? cudaSuccess : cudaErrorInvalidDevice); }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return record(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  std::snprintf(prop->name, sizeof prop->name, "%s", "emulated device (CPU)");
  prop->major = 9;
  prop->minor = 0;
  prop->totalGlobalMem = emu_device::kEmulatedMemory;
  prop->multiProcessorCount = 132;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = emu_device::kEmulatedMemory;
  *free_bytes = emu_device::kEmulatedMemory - runtime().device_bytes;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  Runtime& r = runtime();
  *p = nullptr;
  if (bytes > std::min(emu_device::kEmulatedMemory, r.malloc_limit) - std::min(r.device_bytes, r.malloc_limit))
    return record(cudaErrorMemoryAllocation);
  // 256-byte alignment, as cudaMalloc guarantees; never 0 bytes, so every pointer is distinct.
  void* q = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
  if (q == nullptr) return record(cudaErrorMemoryAllocation);
  std::memset(q, 0xff, bytes);  // fresh device memory holds anything: here NaN, so reading it before writing shows
  r.allocations[reinterpret_cast<std::uintptr_t>(q)] = Allocation{bytes, false};
  r.device_bytes += bytes;
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  Runtime& r = runtime();
  auto it = r.allocations.find(reinterpret_cast<std::uintptr_t>(p));
  if (it == r.allocations.end() || it->second.pinned) fail("cudaFree", "not a device allocation", p, 0);
  r.device_bytes -= it->second.bytes;
  r.allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** p, size_t bytes) {
  void* q = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
  if (q == nullptr) return record(cudaErrorMemoryAllocation);
  runtime().allocations[reinterpret_cast<std::uintptr_t>(q)] = Allocation{bytes, true};
  *p = q;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* p) {
  if (p == nullptr) return cudaSuccess;
  Runtime& r = runtime();
  auto it = r.allocations.find(reinterpret_cast<std::uintptr_t>(p));
  if (it == r.allocations.end() || !it->second.pinned) fail("cudaFreeHost", "not a pinned allocation", p, 0);
  r.allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost) fail("cudaMemcpyAsync", "unexpected copy kind", dst, bytes);
  if (dst_device) emu_device::check_device_range("cudaMemcpyAsync (destination)", dst, bytes);
  if (src_device) emu_device::check_device_range("cudaMemcpyAsync (source)", src, bytes);
  const auto d = reinterpret_cast<std::uintptr_t>(dst), s = reinterpret_cast<std::uintptr_t>(src);
  if (bytes > 0 && d != s && d < s + bytes && s < d + bytes)  // undefined for cudaMemcpy (not a memmove)
    fail("cudaMemcpyAsync", "source and destination overlap", dst, bytes);
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t) {
  emu_device::check_device_range("cudaMemsetAsync", p, bytes);
  if (bytes > 0) std::memset(p, value, bytes);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  static int token;  // any non-null handle
  *stream = reinterpret_cast<cudaStream_t>(&token);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }

cudaError_t cudaGetLastError(void) {
  const cudaError_t e = runtime().last_error;
  runtime().last_error = cudaSuccess;
  return e;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    default: return "cudaError (emulated)";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    default: return "error (emulated device)";
  }
}

}  // extern "C"
