// tests/emu/emulator.cpp — the CPU kernel emulator behind tests/emu/include/cuda_runtime.h: runs a CUDA grid
// on the host, block after block, each thread of a block as a fiber, switching fibers only where CUDA threads
// must wait for each other:
// - __syncthreads(): a fiber parks until every live thread of its block has arrived; if a thread of the block
//   returned while others wait at a barrier, that is a divergent barrier (undefined in CUDA): reported.
// - __shfl_down_sync(): a fiber parks with its value until every lane of its warp named in the mask has
//   arrived, then each reads its partner's value (its own where the partner is past the segment's end, as
//   CUDA specifies). A mask naming a lane that returned or waits elsewhere is reported.
// - __ballot_sync(): the same wait; then every lane gets the word whose bit l is lane l's predicate (lanes in
//   the mask only). Lanes of one warp that meet at a ballot and a shuffle at once are reported.
// Launch configurations are checked against CUDA's limits (block ≤ 1024 threads, z ≤ 64, grid y and z ≤ 65535,
// no zero dimension) and a refused launch sets the error that cudaGetLastError returns, as on a device.
// Any misuse prints one line and aborts: the test fails loudly at the kernel that did it.
//
// Speed: a fiber switch is a few saved registers (x86-64; ucontext elsewhere and under AddressSanitizer, which
// knows ucontext's stack switches). A launch whose first block never waits (the element-wise kernels) runs its
// other blocks' threads as plain calls; should one of them wait after all, that is reported, not ignored.
#include <ucontext.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime.h>  // the emulator's own (tests/emu/include)

#include "tests/emu/capture.hpp"

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define EMU_FAST_SWITCH 1
// emu_swap(from, to): saves the callee-saved registers on the current stack, stores the stack pointer in *from,
// switches to the stack `to` and restores the registers saved there (System V x86-64 ABI).
extern "C" void emu_swap(void** from, void* to);
asm(R"(
  .text
  .globl emu_swap
  .hidden emu_swap
  .type emu_swap, @function
emu_swap:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size emu_swap, .-emu_swap
)");
#endif

uint3 threadIdx{0, 0, 0}, blockIdx{0, 0, 0};
dim3 blockDim, gridDim;

namespace emu {
namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "kernel emulator: %s (block %u,%u,%u thread %u,%u,%u)\n", what.c_str(), blockIdx.x, blockIdx.y,
               blockIdx.z, threadIdx.x, threadIdx.y, threadIdx.z);
  std::abort();
}

enum class State { runnable, at_barrier, at_shuffle, done };

struct Fiber {
#if EMU_FAST_SWITCH
  void* sp = nullptr;  // saved stack pointer while parked or not started
#else
  ucontext_t context;
#endif
  State state = State::runnable;
  uint3 index{0, 0, 0};
  // A pending shuffle or ballot: what this lane offers and asks for, then what it gets.
  unsigned mask = 0, delta = 0;
  int width = 32;
  bool ballot = false;  // a ballot (value: the predicate) rather than a shuffle
  std::uint64_t value = 0, result = 0;
};

// Kernels are shallow (a few frames of scalar locals); small stacks keep a block's 256 fibers in cache. The
// lowest bytes of each stack hold a canary, checked after every launch: an overflow is reported, not silent.
#if EMU_FAST_SWITCH
constexpr std::size_t kStackBytes = 16 * 1024;
#else
constexpr std::size_t kStackBytes = 256 * 1024;  // ucontext and AddressSanitizer frames are larger
#endif
constexpr std::size_t kCanaryBytes = 256;
constexpr unsigned char kCanary = 0xa5;

struct Scheduler {
#if EMU_FAST_SWITCH
  void* main = nullptr;
#else
  ucontext_t main;
#endif
  bool direct = false;  // running threads as plain calls (a block that never waits)
  std::vector<Fiber> fibers;
  std::vector<std::unique_ptr<char[]>> stacks;
  int current = -1;
  void (*body)(void*) = nullptr;
  void* context = nullptr;
  cudaError_t last_error = cudaSuccess;
  std::int64_t parks = 0;
  // run_block's bookkeeping, kept between blocks so that a launch allocates once: the fibers to resume this
  // round and the next, and per warp the lanes waiting at a shuffle and the lanes that returned.
  std::vector<int> queue, next, shuffling, finished;
  Stats stats;
};

Scheduler& scheduler() {
  static Scheduler s;
  return s;
}

// Switches from the scheduler into fiber f, until it parks or returns.
void resume(Scheduler& s, Fiber& f) {
#if EMU_FAST_SWITCH
  emu_swap(&s.main, f.sp);
#else
  swapcontext(&s.main, &f.context);
#endif
}

// Switches from the running fiber f back to the scheduler.
void suspend(Scheduler& s, Fiber& f) {
#if EMU_FAST_SWITCH
  emu_swap(&f.sp, s.main);
#else
  swapcontext(&f.context, &s.main);
#endif
}

void fiber_entry() {
  Scheduler& s = scheduler();
  s.body(s.context);
  Fiber& f = s.fibers[std::size_t(s.current)];
  f.state = State::done;
#if EMU_FAST_SWITCH
  suspend(s, f);  // never resumed again
  __builtin_unreachable();
#endif
  // ucontext: returning resumes uc_link, the scheduler.
}

// Prepares fiber f to start at fiber_entry on `stack`.
void prepare(Scheduler& s, Fiber& f, char* stack) {
#if EMU_FAST_SWITCH
  (void)s;
  auto top = reinterpret_cast<std::uintptr_t>(stack + kStackBytes) & ~std::uintptr_t(15);
  void** sp = reinterpret_cast<void**>(top);
  *--sp = nullptr;                                       // fiber_entry's return address (it never returns)
  *--sp = reinterpret_cast<void*>(&fiber_entry);         // where emu_swap's ret goes
  for (int r = 0; r < 6; ++r) *--sp = nullptr;           // rbp rbx r12 r13 r14 r15
  f.sp = sp;
#else
  getcontext(&f.context);
  f.context.uc_stack.ss_sp = stack;
  f.context.uc_stack.ss_size = kStackBytes;
  f.context.uc_link = &s.main;
  makecontext(&f.context, fiber_entry, 0);
#endif
}

// Parks the running fiber in `state` and resumes the scheduler.
void park(State state) {
  Scheduler& s = scheduler();
  if (s.direct)
    fail("a thread waits at a barrier or shuffle although block 0 of its kernel never did (data-dependent waits "
         "are not emulated)");
  if (s.current < 0) fail("a barrier or shuffle outside a kernel");
  Fiber& f = s.fibers[std::size_t(s.current)];
  f.state = state;
  ++s.parks;
  suspend(s, f);
}

bool valid(dim3 d, unsigned max_x, unsigned max_y, unsigned max_z) {
  return d.x >= 1 && d.y >= 1 && d.z >= 1 && d.x <= max_x && d.y <= max_y && d.z <= max_z;
}

// Completes the shuffle warp w waits at (every live lane has arrived): checks the mask, hands each lane its
// partner's value and queues the lanes again.
void complete_shuffle(Scheduler& s, int threads, int w, std::vector<int>& queue) {
  const int first = 32 * w, lanes = std::min(32, threads - first);
  Fiber* lane = &s.fibers[std::size_t(first)];
  unsigned mask = 0, arrived = 0;
  for (int l = 0; l < lanes; ++l) {
    if (lane[l].state != State::at_shuffle) continue;
    if (arrived != 0 && lane[l].mask != mask) fail("__shfl_down_sync lanes of a warp disagree on the mask");
    mask = lane[l].mask;
    arrived |= 1u << l;
  }
  if ((mask & ~arrived) != 0) fail("__shfl_down_sync mask names a lane that returned or is not in the block");
  const bool ballot = lane[__builtin_ctz(arrived)].ballot;
  std::uint64_t votes = 0;
  for (int l = 0; l < lanes; ++l) {
    if (lane[l].state != State::at_shuffle) continue;
    if (lane[l].ballot != ballot) fail("lanes of a warp meet at a __ballot_sync and a __shfl_down_sync at once");
    if (lane[l].value != 0) votes |= 1u << l;
  }
  for (int l = 0; l < lanes; ++l) {
    Fiber& f = lane[l];
    if (f.state != State::at_shuffle) continue;
    if (ballot) {
      f.result = votes;
      continue;
    }
    const int src = l + int(f.delta);
    const bool inside = l % f.width + int(f.delta) < f.width && src < lanes;
    if (inside && !(mask >> src & 1u)) fail("__shfl_down_sync reads a lane outside the mask");
    f.result = inside ? lane[src].value : f.value;
  }
  for (int l = 0; l < lanes; ++l)
    if (lane[l].state == State::at_shuffle) {
      lane[l].state = State::runnable;
      queue.push_back(first + l);
    }
  ++s.stats.shuffles;
}

uint3 thread_index(int t) {
  return uint3{unsigned(t) % blockDim.x, unsigned(t) / blockDim.x % blockDim.y, unsigned(t) / (blockDim.x * blockDim.y)};
}

// The threads of one block as plain calls, one after another (a kernel that never waits).
void run_block_direct(Scheduler& s, int threads) {
  s.direct = true;
  for (int t = 0; t < threads; ++t) {
    threadIdx = thread_index(t);
    s.body(s.context);
  }
  s.direct = false;
}

// One block with a fiber per thread, event by event: a fiber runs until it parks or returns; a warp's shuffle
// completes when its last live lane arrives, the block's barrier when its last thread does.
void run_block(Scheduler& s, int threads) {
  const int warps = (threads + 31) / 32;
  std::vector<int>&queue = s.queue, &next = s.next, &shuffling = s.shuffling, &finished = s.finished;
  queue.clear();
  shuffling.assign(std::size_t(warps), 0);
  finished.assign(std::size_t(warps), 0);
  for (int t = 0; t < threads; ++t) {
    Fiber& f = s.fibers[std::size_t(t)];
    f = Fiber{};
    f.index = thread_index(t);
    prepare(s, f, s.stacks[std::size_t(t)].get());
    queue.push_back(t);
  }
  int done = 0, at_barrier = 0;
  auto lanes_of = [&](int w) { return std::min(32, threads - 32 * w); };
  while (!queue.empty()) {
    next.clear();
    for (const int t : queue) {
      Fiber& f = s.fibers[std::size_t(t)];
      s.current = t;
      threadIdx = f.index;
      resume(s, f);
      const int w = t / 32;
      if (f.state == State::done) {
        ++done;
        ++finished[std::size_t(w)];
        if (at_barrier > 0 && at_barrier + done == threads)
          fail("__syncthreads() not reached by every thread of the block (some returned)");
      } else if (f.state == State::at_shuffle) {
        ++shuffling[std::size_t(w)];
      } else if (f.state == State::at_barrier) {
        ++at_barrier;
      }
      // A warp whose live lanes all wait at a shuffle (the last one may just have arrived or returned).
      if (shuffling[std::size_t(w)] > 0 && shuffling[std::size_t(w)] + finished[std::size_t(w)] == lanes_of(w)) {
        shuffling[std::size_t(w)] = 0;
        complete_shuffle(s, threads, w, next);
      }
      if (at_barrier > 0 && at_barrier == threads) {
        at_barrier = 0;
        for (int u = 0; u < threads; ++u) {
          s.fibers[std::size_t(u)].state = State::runnable;
          next.push_back(u);
        }
        ++s.stats.barriers;
      }
    }
    s.current = -1;
    std::swap(queue, next);
  }
  if (done != threads) fail("deadlock: threads wait at a barrier and at a shuffle that cannot complete");
}

}  // namespace

Stats& stats() { return scheduler().stats; }

std::uint64_t shuffle_down(unsigned mask, std::uint64_t bits, unsigned delta, int width) {
  Scheduler& s = scheduler();
  if (s.current < 0) fail("__shfl_down_sync outside a kernel");
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) fail("__shfl_down_sync width must be a power of 2 ≤ 32");
  const int lane = s.current % 32;
  if (!(mask >> lane & 1u)) fail("__shfl_down_sync called by a lane outside its own mask");
  Fiber& f = s.fibers[std::size_t(s.current)];
  f.mask = mask;
  f.delta = delta;
  f.width = width;
  f.value = bits;
  park(State::at_shuffle);
  return s.fibers[std::size_t(s.current)].result;
}

unsigned ballot(unsigned mask, int predicate) {
  Scheduler& s = scheduler();
  if (s.current < 0) fail("__ballot_sync outside a kernel");
  const int lane = s.current % 32;
  if (!(mask >> lane & 1u)) fail("__ballot_sync called by a lane outside its own mask");
  Fiber& f = s.fibers[std::size_t(s.current)];
  f.mask = mask;
  f.ballot = true;
  f.value = predicate != 0;
  park(State::at_shuffle);
  Fiber& g = s.fibers[std::size_t(s.current)];
  g.ballot = false;
  return unsigned(g.result);
}

void run_grid(dim3 grid, dim3 block, void (*thread_body)(void*), void* context) {
  Scheduler& s = scheduler();
  if (s.current >= 0) fail("a kernel launch from inside a kernel");
  ++s.stats.launches;
  const unsigned long long threads = 1ULL * block.x * block.y * block.z;
  if (!valid(grid, 0x7fffffffu, 65535u, 65535u) || !valid(block, 1024u, 1024u, 64u) || threads > 1024) {
    s.last_error = cudaErrorInvalidConfiguration;
    ++s.stats.refused;
    return;
  }
  while (s.stacks.size() < threads) {
    s.stacks.emplace_back(new char[kStackBytes]);
    std::memset(s.stacks.back().get(), kCanary, kCanaryBytes);
  }
  if (s.fibers.size() < threads) s.fibers.resize(threads);
  s.body = thread_body;
  s.context = context;
  gridDim = grid;
  blockDim = block;
  // Block 0 with fibers; if none of its threads waited, the others as plain calls.
  const std::int64_t parks_before = s.parks;
  bool waits = true;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = uint3{x, y, z};
        const bool first = x == 0 && y == 0 && z == 0;
        if (first || waits) run_block(s, int(threads));
        else run_block_direct(s, int(threads));
        if (first) waits = s.parks > parks_before;
        s.stats.threads += std::int64_t(threads);
      }
  blockIdx = uint3{0, 0, 0};
  threadIdx = uint3{0, 0, 0};
  static const std::vector<char> canary(kCanaryBytes, char(kCanary));
  for (unsigned long long t = 0; t < threads; ++t)
    if (std::memcmp(s.stacks[t].get(), canary.data(), kCanaryBytes) != 0) fail("a fiber overflowed its stack");
}

}  // namespace emu

namespace emu_capture {
namespace {

struct Capture {
  const void* stream = nullptr;  // nullptr: none open
  std::vector<Op> ops;
  std::string refused;           // the first refused call ("" while valid)
};
Capture& capture() {
  static Capture c;
  return c;
}

}  // namespace

bool begin(const void* stream) {
  Capture& c = capture();
  if (c.stream != nullptr || stream == nullptr) return false;
  c.stream = stream;
  c.ops.clear();
  c.refused.clear();
  return true;
}

bool capturing(const void* stream) { return stream != nullptr && capture().stream == stream; }
bool any() { return capture().stream != nullptr; }

bool defer(const void* stream, Op op) {
  if (!capturing(stream)) return false;
  capture().ops.push_back(std::move(op));
  return true;
}

void invalidate(const char* call) {
  Capture& c = capture();
  if (c.stream != nullptr && c.refused.empty()) c.refused = call;
}

bool end(const void* stream, std::vector<Op>* ops, std::string* why) {
  Capture& c = capture();
  if (c.stream != stream || stream == nullptr) {
    *why = "no capture of this stream is open";
    return false;
  }
  c.stream = nullptr;
  if (!c.refused.empty()) {
    *why = c.refused;
    c.ops.clear();
    return false;
  }
  *ops = std::move(c.ops);
  c.ops.clear();
  return true;
}

}  // namespace emu_capture

void __syncthreads() { emu::park(emu::State::at_barrier); }

cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::scheduler().last_error;
  emu::scheduler().last_error = cudaSuccess;
  return e;
}

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorCudartUnloading: return "cudaErrorCudartUnloading";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
  }
  return "cudaError(unknown)";
}

const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaErrorInvalidConfiguration ? "invalid configuration argument" : cudaGetErrorName(e);
}
