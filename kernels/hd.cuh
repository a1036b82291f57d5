// kernels/hd.cuh — IMPASTO_HD marks math written once for both sides: __host__ __device__ under nvcc,
// plain inline C++ elsewhere. The CPU backend's loops and the CUDA kernels call the same functions, so the
// CPU tests exercise the GPU's arithmetic (DESIGN.md "Backends").
#pragma once

#if defined(__CUDACC__)
#define IMPASTO_HD __host__ __device__ __forceinline__
#else
#define IMPASTO_HD inline
#endif

namespace impasto::math {

// Element<T>: a stored element of type T read as float (widen) and a float stored as T (narrow, rounding to
// nearest even). Math that reads activations is written on T: float32 here for both sides; bf16 activations'
// in kernels/bf16.cuh, for the CUDA kernels only.
template <typename T>
struct Element;
template <>
struct Element<float> {
  IMPASTO_HD static float widen(float v) { return v; }
  IMPASTO_HD static float narrow(float v) { return v; }
};

}  // namespace impasto::math
