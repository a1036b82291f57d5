// tests/emu/capture.hpp — stream capture on the emulated device (the CUDA graphs of Backend::record). While a
// stream captures, the work queued on it — kernel launches (the emulator), copies and memsets (fake CUDA
// runtime), convolutions (fake cuDNN), GEMM and GEMV (fake cuBLAS) — is recorded instead of run, with its
// arguments as they were at the call; launching the instantiated graph runs the records in order. A call that a
// real capture refuses (a synchronization, an allocation or free, a copy from or to pageable host memory, an
// algorithm search) invalidates the capture here too, so that work which would fail to capture on a GPU fails
// here. Shared by the kernel emulator and the fakes: plain C++, streams as opaque pointers; one capture at a time
// (the emulated device is single-threaded).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace emu_capture {

using Op = std::function<void()>;

// Starts capturing `stream`; false if a capture is already open.
bool begin(const void* stream);
// True while `stream` captures.
bool capturing(const void* stream);
// True while any stream captures (allocations are refused then, as in thread-local capture mode).
bool any();
// When `stream` captures: records op and returns true (the caller runs nothing now). Else false.
bool defer(const void* stream, Op op);
// Runs op now, or records it when `stream` captures.
inline void run(const void* stream, Op op) {
  if (!defer(stream, op)) op();
}
// A call a capture refuses, made while one is open: the capture is invalidated (its end reports `call`).
void invalidate(const char* call);
// Ends the capture of `stream`: the recorded work, or (invalidated) false with the refused call in *why.
bool end(const void* stream, std::vector<Op>* ops, std::string* why);

}  // namespace emu_capture
