// kernels/pool.cuh — the max-pooling rule written once for the CPU backend and the CUDA kernel: a 2×2
// window's gradient goes to its FIRST maximum in row-major order (ties, e.g. the all-zero windows after a
// ReLU, do not split it). cuDNN's max-pool backward leaves its tie rule undocumented, so both backends use
// this one.
#pragma once

#include "kernels/hd.cuh"

namespace impasto::math {

// Index (0..3, row-major) of the first maximum among the four window values.
IMPASTO_HD int first_max(const float v[4]) {
  int best = 0;
  for (int k = 1; k < 4; ++k)
    if (v[k] > v[best]) best = k;
  return best;
}

}  // namespace impasto::math
