// engine/cpu/dims.hpp — small size helpers shared by the CPU backend's op files (BLAS leading dimensions,
// plane counts). The argument checks every op makes live in engine/op_checks.hpp, shared with the CUDA backend.
#pragma once

#include <algorithm>
#include <cstdint>

#include "engine/tensor.hpp"

namespace impasto::cpu {

// Leading dimension for BLAS: at least 1 even for empty matrices (BLAS rejects ld = 0).
inline int blas_ld(std::int64_t n) { return int(std::max<std::int64_t>(1, n)); }

// Number of H×W planes in a (N,C,H,W) tensor.
inline std::int64_t plane_count(const Shape& s) { return std::int64_t(s.n) * s.c; }

}  // namespace impasto::cpu
