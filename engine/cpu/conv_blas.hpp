// engine/cpu/conv_blas.hpp — makes OpenBLAS use the SGEMM kernels this CPU can run. A DYNAMIC_ARCH OpenBLAS
// picks its kernels from the CPU model at load time; a model newer than the library (0.3.21 does not know
// Emerald Rapids, model 207) falls back to "Prescott" (SSE3), ~5× slower SGEMM than its AVX-512 "SkylakeX"
// kernels on the same core. Every convolution and Gram matrix of the CPU backend is SGEMM, so that one
// choice decides the backend's speed.
#pragma once

#include <string>

namespace impasto::cpu {

// When OpenBLAS fell back to a pre-AVX2 core although the CPU (and OS) support AVX2+FMA or AVX-512, and the
// user did not choose one with OPENBLAS_CORETYPE, re-runs OpenBLAS's dynamic kernel selection forced to
// "Haswell" or "SkylakeX" (gotoblas_dynamic_quit / gotoblas_dynamic_init, exported by DYNAMIC_ARCH builds;
// a build without them is left alone). Process-wide; runs once; call before any other thread uses BLAS.
void select_blas_kernels();

// OpenBLAS's kernel family in use ("SkylakeX", "Haswell", …), or "" when the BLAS does not say.
std::string blas_core_name();

}  // namespace impasto::cpu
