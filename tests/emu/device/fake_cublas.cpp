// tests/emu/device/fake_cublas.cpp — the cuBLAS calls of the CUDA backend (Gram matrices: GemmEx on fp32 or bf16 matrices;
// compact L-BFGS: 64-bit SGEMM and SGEMV) on the host, with cuBLAS's exact conventions, so that the emulated device
// checks how engine/cuda calls them: column-major storage, op(A) and leading dimensions, beta = 0 never reading C
// or y (BLAS convention: C may hold NaN), host pointer mode, and the tensor-core compute types as tensor cores
// compute them: CUBLAS_COMPUTE_32F_FAST_TF32 (or CUBLAS_COMPUTE_32F under CUBLAS_TF32_TENSOR_OP_MATH) rounds the
// operands to TF32 (10-bit significands), CUBLAS_COMPUTE_32F_FAST_16BF to bf16 (7), before fp32 products. Leading
// dimensions too small, or operands outside device memory, are refused (CUBLAS_STATUS_INVALID_VALUE) or abort, as
// on a device. On a capturing stream (tests/emu/capture.hpp) the calls run at the graph's launch with the scalars
// and compute type of the call; a captured GEMM without cublasSetWorkspace invalidates the capture (stricter than
// cuBLAS, which would take a workspace from its pool for each graph).
// Signatures come from the real cublas_v2.h.
#include <cblas.h>
#include <cublas_v2.h>  // the real one (CUDA Toolkit)

#include <algorithm>
#include <cstdint>
#include <vector>

#include "tests/emu/capture.hpp"
#include "tests/emu/device/fake_device.hpp"

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  void* workspace = nullptr;  // cublasSetWorkspace's (nullptr: the library's pool)
  std::size_t workspace_bytes = 0;
};

namespace {

// A matrix's elements: fp32, or bf16 (GemmEx's CUDA_R_16BF: 2 bytes, widened exactly, stored rounded to nearest).
struct Elements {
  const void* p;
  cudaDataType type;
  std::size_t bytes() const { return type == CUDA_R_16BF ? 2 : sizeof(float); }
  float at(std::int64_t i) const {
    return type == CUDA_R_16BF ? emu_device::bf16_to_float(static_cast<const std::uint16_t*>(p)[i])
                               : static_cast<const float*>(p)[i];
  }
  void set(std::int64_t i, float v) const {
    if (type == CUDA_R_16BF)
      static_cast<std::uint16_t*>(const_cast<void*>(p))[i] = emu_device::float_to_bf16(v);
    else
      static_cast<float*>(const_cast<void*>(p))[i] = v;
  }
};

// op(M) of a column-major rows×cols matrix at p (leading dimension ld) as a dense column-major matrix, its
// values rounded to `bits` significand bits (0: kept).
std::vector<float> materialize(Elements p, std::int64_t rows, std::int64_t cols, std::int64_t ld, bool transpose,
                               int bits) {
  const std::int64_t out_rows = transpose ? cols : rows, out_cols = transpose ? rows : cols;
  std::vector<float> out(std::size_t(out_rows * out_cols));
  for (std::int64_t j = 0; j < out_cols; ++j)
    for (std::int64_t i = 0; i < out_rows; ++i) {
      const float v = transpose ? p.at(i * ld + j) : p.at(j * ld + i);
      out[std::size_t(j * out_rows + i)] = bits > 0 ? emu_device::round_significand(v, bits) : v;
    }
  return out;
}

// Bytes a column-major rows×cols matrix with leading dimension ld spans, of elements of `element` bytes.
std::size_t span(std::int64_t rows, std::int64_t cols, std::int64_t ld, std::size_t element = sizeof(float)) {
  return rows == 0 || cols == 0 ? 0 : std::size_t((cols - 1) * ld + rows) * element;
}

// An fp32 GEMM whose operands are rounded to `bits` significand bits (0: none): the Gram matrices' GemmEx at
// the compute type of their precision, and the optimizer's history products (gemm_nt with more than 4
// right-hand rows; fewer run on kernels/blas.cu) by the 64-bit SGEMM, always in fp32.
cublasStatus_t gemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, std::int64_t m,
                    std::int64_t n, std::int64_t k, const float* alpha, Elements A, std::int64_t lda, Elements B,
                    std::int64_t ldb, const float* beta, Elements C, std::int64_t ldc, int bits) {
  if (handle->pointer_mode != CUBLAS_POINTER_MODE_HOST) return CUBLAS_STATUS_NOT_SUPPORTED;  // not emulated
  if (transa == CUBLAS_OP_C || transb == CUBLAS_OP_C) return CUBLAS_STATUS_NOT_SUPPORTED;   // real data: = T
  const bool ta = transa == CUBLAS_OP_T, tb = transb == CUBLAS_OP_T;
  const std::int64_t a_rows = ta ? k : m, b_rows = tb ? n : k;
  if (m < 0 || n < 0 || k < 0 || lda < std::max<std::int64_t>(1, a_rows) || ldb < std::max<std::int64_t>(1, b_rows) ||
      ldc < std::max<std::int64_t>(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  // Without a workspace of its own a captured call would take one from cuBLAS's pool for every graph.
  if (emu_capture::capturing(handle->stream) && handle->workspace == nullptr) {
    emu_capture::invalidate("a cuBLAS GEMM without cublasSetWorkspace");
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  emu_device::check_device_range("cuBLAS GEMM (A)", A.p, span(a_rows, ta ? m : k, lda, A.bytes()));
  emu_device::check_device_range("cuBLAS GEMM (B)", B.p, span(b_rows, tb ? k : n, ldb, B.bytes()));
  emu_device::check_device_range("cuBLAS GEMM (C)", C.p, span(m, n, ldc, C.bytes()));
  // The host scalars as they are at the call; the device work now or at the graph's launch.
  const float al = *alpha, be = *beta;
  emu_capture::run(handle->stream, [=] {
    const std::vector<float> a = materialize(A, a_rows, ta ? m : k, lda, ta, bits);  // (m×k)
    const std::vector<float> b = materialize(B, b_rows, tb ? k : n, ldb, tb, bits);  // (k×n)
    // The products in float by OpenBLAS (accumulation order is the library's, as on the device), then alpha and
    // beta applied here so that beta = 0 provably never reads C. (Emulated sizes are far inside int.)
    std::vector<float> prod(std::size_t(m * n));
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.0f, a.data(), int(m), b.data(),
                int(k), 0.0f, prod.data(), int(m));
    for (std::int64_t j = 0; j < n; ++j)
      for (std::int64_t i = 0; i < m; ++i) {
        const float v = al * prod[std::size_t(j * m + i)];
        C.set(j * ldc + i, be == 0.0f ? v : v + be * C.at(j * ldc + i));
      }
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  handle->workspace = nullptr;  // as cuBLAS: a new stream resets the workspace to the library's pool
  handle->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}

// The user workspace (the backend gives one so that captures allocate nothing); checked to lie in device memory.
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (bytes > 0 && workspace == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  emu_device::check_device_range("cublasSetWorkspace", workspace, bytes);
  handle->workspace = workspace;
  handle->workspace_bytes = bytes;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  *mode = handle->math;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS status (emulated)";
  }
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  // Emulated: fp32 scalars with fp32 matrices at the fp32 compute types, or bf16 A and B (C fp32 or bf16) at
  // CUBLAS_COMPUTE_32F (cuBLAS's table of GemmEx's type combinations: A and B of one type; the fast compute types
  // take fp32 matrices).
  const bool f32 = Atype == CUDA_R_32F && Btype == CUDA_R_32F && Ctype == CUDA_R_32F;
  const bool bf16 = Atype == CUDA_R_16BF && Btype == CUDA_R_16BF && (Ctype == CUDA_R_32F || Ctype == CUDA_R_16BF);
  if (!(f32 || bf16) || algo != CUBLAS_GEMM_DEFAULT) return CUBLAS_STATUS_NOT_SUPPORTED;
  int bits = 0;
  switch (computeType) {
    case CUBLAS_COMPUTE_32F: bits = f32 && handle->math == CUBLAS_TF32_TENSOR_OP_MATH ? 10 : 0; break;
    case CUBLAS_COMPUTE_32F_PEDANTIC: bits = 0; break;
    case CUBLAS_COMPUTE_32F_FAST_TF32: bits = 10; break;
    case CUBLAS_COMPUTE_32F_FAST_16BF: bits = 7; break;
    default: return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  if (bf16 && computeType != CUBLAS_COMPUTE_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  return gemm(handle, transa, transb, m, n, k, static_cast<const float*>(alpha), Elements{A, Atype}, lda,
              Elements{B, Btype}, ldb, static_cast<const float*>(beta), Elements{C, Ctype}, ldc, bits);
}

cublasStatus_t cublasSgemm_v2_64(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                 int64_t m, int64_t n, int64_t k, const float* alpha, const float* A, int64_t lda,
                                 const float* B, int64_t ldb, const float* beta, float* C, int64_t ldc) {
  // Always fp32 here: the backend keeps the handle in CUBLAS_DEFAULT_MATH; TF32 would be its mistake.
  if (handle->math == CUBLAS_TF32_TENSOR_OP_MATH) return CUBLAS_STATUS_NOT_SUPPORTED;
  return gemm(handle, transa, transb, m, n, k, alpha, Elements{A, CUDA_R_32F}, lda, Elements{B, CUDA_R_32F}, ldb, beta,
              Elements{C, CUDA_R_32F}, ldc, 0);
}

cublasStatus_t cublasSgemv_v2_64(cublasHandle_t handle, cublasOperation_t trans, int64_t m, int64_t n,
                                 const float* alpha, const float* A, int64_t lda, const float* x, int64_t incx,
                                 const float* beta, float* y, int64_t incy) {
  if (handle->pointer_mode != CUBLAS_POINTER_MODE_HOST) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (m < 0 || n < 0 || lda < std::max<int64_t>(1, m) || incx == 0 || incy == 0) return CUBLAS_STATUS_INVALID_VALUE;
  if (incx != 1 || incy != 1) return CUBLAS_STATUS_NOT_SUPPORTED;  // the backend uses unit strides only
  const bool t = trans != CUBLAS_OP_N;
  const int64_t x_len = t ? m : n, y_len = t ? n : m;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;  // quick return, y untouched (as cuBLAS)
  emu_device::check_device_range("cublasSgemv (A)", A, span(m, n, lda));
  emu_device::check_device_range("cublasSgemv (x)", x, std::size_t(x_len) * sizeof(float));
  emu_device::check_device_range("cublasSgemv (y)", y, std::size_t(y_len) * sizeof(float));
  // Always fp32 here: the backend keeps the handle in CUBLAS_DEFAULT_MATH; TF32 would be its mistake.
  if (handle->math == CUBLAS_TF32_TENSOR_OP_MATH) return CUBLAS_STATUS_NOT_SUPPORTED;
  const float al = *alpha, be = *beta;
  emu_capture::run(handle->stream, [=] {
    std::vector<double> acc(static_cast<std::size_t>(y_len), 0.0);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < m; ++i) {
        const double a = A[j * lda + i];
        if (t) acc[std::size_t(j)] += a * x[i];
        else acc[std::size_t(i)] += a * x[j];
      }
    for (int64_t i = 0; i < y_len; ++i) {
      const float prod = float(double(al) * acc[std::size_t(i)]);
      y[i] = be == 0.0f ? prod : prod + be * y[i];
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
