// tests/emu/device/fake_device.hpp — what the emulated device's fake libraries (fake_cudart.cpp, fake_cudnn.cpp,
// fake_cublas.cpp) share: its memory size, the check that a pointer range lies inside device memory, and the
// roundings of the tensor-core modes (TF32, bf16) that the fake cuDNN and cuBLAS apply to their inputs.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace emu_device {

// What cudaMemGetInfo reports as total: 8 GiB, or IMPASTO_EMU_MEMORY_GB (an 80 GB card's memory plan can be
// checked without a GPU; allocations past the host's memory still fail).
std::size_t emulated_memory();

// True when [p, p + bytes) lies inside one live allocation (device_only: not pinned host memory).
bool inside_allocation(const void* p, std::size_t bytes, bool device_only);
// Aborts with one line naming `call` unless [p, p + bytes) lies inside one device allocation.
void check_device_range(const char* call, const void* p, std::size_t bytes);
std::size_t device_bytes_in_use();

// Rounds f to `bits` explicit significand bits, to nearest with ties to even (TF32: 10, bf16: 7); the exponent
// range of float is kept, as both formats keep it. NaN and infinities pass through.
inline float round_significand(float f, int bits) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) return f;
  const int drop = 23 - bits;
  const std::uint32_t half = 1u << (drop - 1), lsb = (u >> drop) & 1u;
  u = (u + half - 1 + lsb) & ~((1u << drop) - 1);
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline float round_tf32(float f) { return round_significand(f, 10); }
inline float round_bf16(float f) { return round_significand(f, 7); }

inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t u = std::uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline std::uint16_t float_to_bf16(float f) {
  const float r = round_bf16(f);
  std::uint32_t u;
  std::memcpy(&u, &r, sizeof u);
  return std::uint16_t(u >> 16);
}

}  // namespace emu_device
