// kernels/hd.cuh — IMPASTO_HD marks math written once for both sides: __host__ __device__ under nvcc,
// plain inline C++ elsewhere. The CPU backend's loops and the CUDA kernels call the same functions, so the
// CPU tests exercise the GPU's arithmetic (DESIGN.md "Backends").
#pragma once

#if defined(__CUDACC__)
#define IMPASTO_HD __host__ __device__ __forceinline__
#else
#define IMPASTO_HD inline
#endif
