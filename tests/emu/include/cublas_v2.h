// tests/emu/include/cublas_v2.h — the few cuBLAS names kernels/check.hpp mentions, so the kernel files
// compile for the CPU kernel emulator. The emulator runs no cuBLAS call.
#pragma once

enum cublasStatus_t { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_ALLOC_FAILED = 3 };
inline const char* cublasGetStatusString(cublasStatus_t) { return "cuBLAS is not available in the kernel emulator"; }
