// kernels/check.hpp — checked calls into CUDA, cuDNN and cuBLAS (DESIGN.md "Backends": every call is
// checked; a failure throws impasto::Error with file:line, the failed expression and the library's own
// message). Allocation failures throw impasto::OutOfMemoryError so callers can suggest a smaller request.
// The *_LOG variants are for destructors, which never throw: they print one line to stderr and go on.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "engine/error.hpp"

namespace impasto::cuda_detail {

[[noreturn]] inline void throw_library_error(bool out_of_memory, const char* library, const std::string& what,
                                             const char* expr, const char* file, int line) {
  std::ostringstream s;
  s << library << " error: " << what << " in `" << expr << "` [" << file << ":" << line << "]";
  if (out_of_memory) throw OutOfMemoryError(s.str());
  throw Error(s.str());
}

[[noreturn]] inline void throw_cuda(cudaError_t e, const char* expr, const char* file, int line) {
  // Clear the (non-sticky) error so that the next unrelated check does not report it again.
  (void)cudaGetLastError();
  throw_library_error(e == cudaErrorMemoryAllocation, "CUDA",
                      std::string(cudaGetErrorString(e)) + " (" + cudaGetErrorName(e) + ")", expr, file, line);
}

[[noreturn]] inline void throw_cudnn(cudnnStatus_t s, const char* expr, const char* file, int line) {
  // cuDNN 9: host and device allocation failures have their own codes (ALLOC_FAILED is the host one's alias).
  const bool out_of_memory = s == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
                             s == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
  throw_library_error(out_of_memory, "cuDNN", cudnnGetErrorString(s), expr, file, line);
}

[[noreturn]] inline void throw_cublas(cublasStatus_t s, const char* expr, const char* file, int line) {
  throw_library_error(s == CUBLAS_STATUS_ALLOC_FAILED, "cuBLAS", cublasGetStatusString(s), expr, file, line);
}

inline void log_failure(const char* library, const char* what, const char* expr, const char* file, int line) {
  std::fprintf(stderr, "impasto: %s error during cleanup: %s in `%s` [%s:%d]\n", library, what, expr, file, line);
}

}  // namespace impasto::cuda_detail

#define IMPASTO_CUDA_CHECK(expr)                                                            \
  do {                                                                                      \
    const cudaError_t impasto_e_ = (expr);                                                  \
    if (impasto_e_ != cudaSuccess) ::impasto::cuda_detail::throw_cuda(impasto_e_, #expr, __FILE__, __LINE__); \
  } while (0)

#define IMPASTO_CUDNN_CHECK(expr)                                                           \
  do {                                                                                      \
    const cudnnStatus_t impasto_s_ = (expr);                                                \
    if (impasto_s_ != CUDNN_STATUS_SUCCESS)                                                 \
      ::impasto::cuda_detail::throw_cudnn(impasto_s_, #expr, __FILE__, __LINE__);           \
  } while (0)

#define IMPASTO_CUBLAS_CHECK(expr)                                                          \
  do {                                                                                      \
    const cublasStatus_t impasto_s_ = (expr);                                               \
    if (impasto_s_ != CUBLAS_STATUS_SUCCESS)                                                \
      ::impasto::cuda_detail::throw_cublas(impasto_s_, #expr, __FILE__, __LINE__);          \
  } while (0)

// Checks that the last kernel launch was accepted (bad configuration, missing image for this GPU).
#define IMPASTO_CUDA_CHECK_LAUNCH() IMPASTO_CUDA_CHECK(cudaGetLastError())

// Destructor variants: log and continue. cudaErrorCudartUnloading (teardown at process exit, after the
// runtime is gone) is expected and not worth a line.
#define IMPASTO_CUDA_LOG(expr)                                                                      \
  do {                                                                                              \
    const cudaError_t impasto_e_ = (expr);                                                          \
    if (impasto_e_ != cudaSuccess && impasto_e_ != cudaErrorCudartUnloading)                        \
      ::impasto::cuda_detail::log_failure("CUDA", cudaGetErrorString(impasto_e_), #expr, __FILE__, __LINE__); \
  } while (0)

#define IMPASTO_CUDNN_LOG(expr)                                                                     \
  do {                                                                                              \
    const cudnnStatus_t impasto_s_ = (expr);                                                        \
    if (impasto_s_ != CUDNN_STATUS_SUCCESS)                                                         \
      ::impasto::cuda_detail::log_failure("cuDNN", cudnnGetErrorString(impasto_s_), #expr, __FILE__, __LINE__); \
  } while (0)

#define IMPASTO_CUBLAS_LOG(expr)                                                                    \
  do {                                                                                              \
    const cublasStatus_t impasto_s_ = (expr);                                                       \
    if (impasto_s_ != CUBLAS_STATUS_SUCCESS)                                                        \
      ::impasto::cuda_detail::log_failure("cuBLAS", cublasGetStatusString(impasto_s_), #expr, __FILE__, __LINE__); \
  } while (0)
