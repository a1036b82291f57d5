// engine/cpu/checks.hpp — argument checks and small helpers shared by the CPU backend's op files:
// every op validates device, emptiness, shapes and forbidden aliasing through these, so the messages
// read the same everywhere ("conv2d_forward: y has shape (1,4,5,7), expected (1,4,5,6)").
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/error.hpp"
#include "engine/tensor.hpp"

namespace impasto::cpu {

// t is a real (non-null) tensor living on the CPU.
inline void check_tensor(const Tensor& t, const char* op, const char* name) {
  IMPASTO_CHECK(!t.empty(), op << ": " << name << " is an empty (unallocated) tensor");
  IMPASTO_CHECK(t.device() == Device::cpu,
                op << ": " << name << " lives on " << device_name(t.device()) << ", expected cpu");
}

// t is a CPU tensor of exactly shape `want`.
inline void check_shape(const Tensor& t, Shape want, const char* op, const char* name) {
  check_tensor(t, op, name);
  IMPASTO_CHECK(t.shape() == want,
                op << ": " << name << " has shape " << t.shape().str() << ", expected " << want.str());
}

// Both are CPU tensors with the same element count (element-wise ops accept any shapes of equal numel).
inline void check_same_numel(const Tensor& a, const Tensor& b, const char* op, const char* a_name,
                             const char* b_name) {
  check_tensor(a, op, a_name);
  check_tensor(b, op, b_name);
  IMPASTO_CHECK(a.numel() == b.numel(), op << ": " << a_name << " " << a.shape().str() << " and " << b_name << " "
                                           << b.shape().str() << " differ in element count");
}

// The output must not share memory with an input the op still reads after writing the output.
inline void check_no_alias(const Tensor& out, const Tensor& in, const char* op, const char* out_name,
                           const char* in_name) {
  const float* o0 = out.data();
  const float* o1 = o0 + out.numel();
  const float* i0 = in.data();
  const float* i1 = i0 + in.numel();
  IMPASTO_CHECK(o1 <= i0 || i1 <= o0 || out.numel() == 0 || in.numel() == 0,
                op << ": " << out_name << " must not overlap " << in_name);
}

// Leading dimension for BLAS: at least 1 even for empty matrices (BLAS rejects ld = 0).
inline int blas_ld(std::int64_t n) { return int(std::max<std::int64_t>(1, n)); }

// Number of H×W planes in a (N,C,H,W) tensor.
inline std::int64_t plane_count(const Shape& s) { return std::int64_t(s.n) * s.c; }

}  // namespace impasto::cpu
