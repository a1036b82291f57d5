// tests/emu/device/fake_cudart.cpp — the CUDA runtime calls of the CUDA backend (engine/cuda), implemented on
// the host for the emulated device: "device" memory is host memory that this file hands out and tracks, copies
// and memsets are immediate (the emulator runs kernels at launch, so the stream is always idle) unless the stream
// captures a graph (tests/emu/capture.hpp; the graph calls are here), and the one device reports compute
// capability 9.0 and emulated_memory() bytes.
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
#include <string>
#include <vector>

#include "tests/emu/capture.hpp"
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
    return v ? std::size_t(std::strtoull(v, nullptr, 10)) << 20 : emu_device::emulated_memory();
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

std::size_t emulated_memory() {
  static const std::size_t bytes = [] {
    const char* v = std::getenv("IMPASTO_EMU_MEMORY_GB");
    return v ? std::size_t(std::strtoull(v, nullptr, 10)) << 30 : std::size_t(8) << 30;
  }();
  return bytes;
}

}  // namespace emu_device

// A captured graph and its instantiation: the recorded work (tests/emu/capture.hpp), run in order by a launch.
struct CUgraph_st {
  std::vector<emu_capture::Op> ops;
};
struct CUgraphExec_st {
  std::vector<emu_capture::Op> ops;
};

namespace {

// A call that thread-local capture mode refuses while a capture is open: the capture is invalidated and the call
// fails without doing anything.
bool refused_in_capture(const char* call) {
  if (!emu_capture::any()) return false;
  emu_capture::invalidate(call);
  record(cudaErrorStreamCaptureUnsupported);
  return true;
}

bool pinned(const void* p, std::size_t bytes) {
  return bytes == 0 || (emu_device::inside_allocation(p, bytes, false) && !emu_device::inside_allocation(p, bytes, true));
}

}  // namespace

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
  prop->totalGlobalMem = emu_device::emulated_memory();
  prop->multiProcessorCount = 132;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = emu_device::emulated_memory();
  *free_bytes = emu_device::emulated_memory() - runtime().device_bytes;
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, size_t bytes) {
  Runtime& r = runtime();
  *p = nullptr;
  if (refused_in_capture("cudaMalloc")) return cudaErrorStreamCaptureUnsupported;
  if (bytes > std::min(emu_device::emulated_memory(), r.malloc_limit) - std::min(r.device_bytes, r.malloc_limit))
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
  if (refused_in_capture("cudaFree")) return cudaErrorStreamCaptureUnsupported;
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

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost) fail("cudaMemcpyAsync", "unexpected copy kind", dst, bytes);
  if (dst_device) emu_device::check_device_range("cudaMemcpyAsync (destination)", dst, bytes);
  if (src_device) emu_device::check_device_range("cudaMemcpyAsync (source)", src, bytes);
  const auto d = reinterpret_cast<std::uintptr_t>(dst), s = reinterpret_cast<std::uintptr_t>(src);
  if (bytes > 0 && d != s && d < s + bytes && s < d + bytes)  // undefined for cudaMemcpy (not a memmove)
    fail("cudaMemcpyAsync", "source and destination overlap", dst, bytes);
  if (emu_capture::capturing(stream) && ((!dst_device && !pinned(dst, bytes)) || (!src_device && !pinned(src, bytes)))) {
    emu_capture::invalidate("cudaMemcpyAsync between the device and pageable host memory");
    return record(cudaErrorStreamCaptureUnsupported);
  }
  if (bytes > 0) emu_capture::run(stream, [=] { std::memmove(dst, src, bytes); });
  return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t stream) {
  emu_device::check_device_range("cudaMemsetAsync", p, bytes);
  if (bytes > 0) emu_capture::run(stream, [=] { std::memset(p, value, bytes); });
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  static int token;  // any non-null handle
  *stream = reinterpret_cast<cudaStream_t>(&token);
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (emu_capture::capturing(stream)) {
    emu_capture::invalidate("cudaStreamSynchronize");
    return record(cudaErrorStreamCaptureUnsupported);
  }
  return cudaSuccess;
}

// ---- stream capture and graphs (tests/emu/capture.hpp) ----
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode) {
  if (mode != cudaStreamCaptureModeThreadLocal) return record(cudaErrorInvalidValue);  // the only one impasto uses
  return record(emu_capture::begin(stream) ? cudaSuccess : cudaErrorIllegalState);
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  *graph = nullptr;
  std::vector<emu_capture::Op> ops;
  std::string why;
  if (!emu_capture::end(stream, &ops, &why)) {
    std::fprintf(stderr, "emulated CUDA runtime: capture invalidated by %s\n", why.c_str());
    return record(cudaErrorStreamCaptureInvalidated);
  }
  *graph = new CUgraph_st{std::move(ops)};
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags) {
  if (graph == nullptr || flags != 0) return record(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (exec == nullptr) return record(cudaErrorInvalidValue);
  if (emu_capture::capturing(stream)) return record(cudaErrorStreamCaptureUnsupported);  // not emulated
  for (const auto& op : exec->ops) op();
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

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
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    default: return "cudaError (emulated)";
  }
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    default: return "error (emulated device)";
  }
}

}  // extern "C"
