// tests/emu/device/fake_cudnn.cpp — the legacy cuDNN calls of the CUDA backend (engine/cuda/conv.cu,
// descriptors.hpp) on the host, for the emulated device. It follows cuDNN's documented semantics and is
// pessimistic where cuDNN leaves freedom, so that the backend's use of it is checked, not just run:
// - Descriptors are interpreted as cuDNN does: tensors NCHW or NHWC (strides from the format), filters KCRS or
//   KRSC, data float or bf16; a convolution whose descriptors disagree (channels, output size, data types) is
//   CUDNN_STATUS_BAD_PARAM. bf16 data needs a tensor-core math type (NOT_SUPPORTED under CUDNN_FMA_MATH).
// - Ranked algorithm lists (heuristic and "measured") start with FFT_TILING (which the backend takes under
//   TF32/bf16 and must skip under fp32), then hold entries the backend must always skip: a workspace of 2 GiB
//   (above its cap), a non-deterministic one, one with CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; then
//   IMPLICIT_PRECOMP_GEMM (ALGO_1 backward), which needs a workspace, and IMPLICIT_GEMM, which needs none.
// - A call must pass at least the workspace its algorithm needs; the fake fills that workspace with NaN first,
//   so the backend's own data there (the bf16 staging copies) must not overlap it; inputs, outputs and the
//   workspace must not overlap each other (aborts with one line).
// - Inputs are rounded as tensor cores would: to TF32 for float data unless the math type is CUDNN_FMA_MATH
//   (compute capability 9.0 allows TF32), to bf16 by their storage; sums are in double, outputs rounded to the
//   output's type. beta = 0 never reads the output.
// - cudnnConvolutionBiasActivationForward does not read z when alpha2 = 0 (the BLAS convention, which the
//   backend relies on as TensorFlow's fused convolution does: it passes z = y; the GPU parity test poisons y
//   with NaN, so a device that read z would fail it there) and refuses (CUDNN_STATUS_NOT_SUPPORTED_SHAPE) any
//   input with an odd channel count, so the backend's fallback to convolution + bias kernel runs in the tests too (conv1_1's
//   3 channels); the identity activation is only allowed with IMPLICIT_PRECOMP_GEMM, as documented.
// - On a capturing stream (tests/emu/capture.hpp) a convolution checks its arguments and reads its descriptors
//   and scalars at the call, and runs when the graph is launched; an algorithm search invalidates the capture.
// Signatures come from the real cudnn.h.
#include <cblas.h>
#include <cudnn.h>  // the real one (cuDNN 9)

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <vector>

#include "tests/emu/capture.hpp"
#include "tests/emu/device/fake_device.hpp"

struct cudnnContext {
  cudaStream_t stream = nullptr;
};
struct cudnnTensorStruct {
  bool set = false;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int n = 0, c = 0, h = 0, w = 0;
};
struct cudnnFilterStruct {
  bool set = false;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  int k = 0, c = 0, r = 0, s = 0;
};
struct cudnnConvolutionStruct {
  bool set = false;
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};
struct cudnnActivationStruct {
  bool set = false;
  cudnnActivationMode_t mode = CUDNN_ACTIVATION_RELU;
};

namespace {

using emu_device::check_device_range;

std::size_t type_bytes(cudnnDataType_t t) { return t == CUDNN_DATA_BFLOAT16 ? 2 : 4; }

// Element (n, c, h, w) of a packed 4-D array in `format` with dims (C, H, W).
std::int64_t index(cudnnTensorFormat_t format, int C, int H, int W, int n, int c, int h, int w) {
  return format == CUDNN_TENSOR_NHWC ? ((std::int64_t(n) * H + h) * W + w) * C + c
                                     : ((std::int64_t(n) * C + c) * H + h) * W + w;
}

float load(cudnnDataType_t t, const void* p, std::int64_t i) {
  if (t == CUDNN_DATA_BFLOAT16) return emu_device::bf16_to_float(static_cast<const std::uint16_t*>(p)[i]);
  return static_cast<const float*>(p)[i];
}
void store(cudnnDataType_t t, void* p, std::int64_t i, float v) {
  if (t == CUDNN_DATA_BFLOAT16) static_cast<std::uint16_t*>(p)[i] = emu_device::float_to_bf16(v);
  else static_cast<float*>(p)[i] = v;
}

std::int64_t numel(const cudnnTensorStruct& d) { return std::int64_t(d.n) * d.c * d.h * d.w; }
std::size_t bytes(const cudnnTensorStruct& d) { return std::size_t(numel(d)) * type_bytes(d.type); }
std::size_t bytes(const cudnnFilterStruct& d) { return std::size_t(d.k) * d.c * d.r * d.s * type_bytes(d.type); }

// A tensor as float NCHW, with the rounding the convolution applies to its inputs.
std::vector<float> to_nchw(const cudnnTensorStruct& d, const void* p, bool tf32) {
  std::vector<float> out(std::size_t(numel(d)));
  std::size_t o = 0;
  for (int n = 0; n < d.n; ++n)
    for (int c = 0; c < d.c; ++c)
      for (int h = 0; h < d.h; ++h)
        for (int w = 0; w < d.w; ++w) {
          const float v = load(d.type, p, index(d.format, d.c, d.h, d.w, n, c, h, w));
          out[o++] = tf32 ? emu_device::round_tf32(v) : v;
        }
  return out;
}

// Filter as float (K, C·R·S) rows.
std::vector<float> filter_rows(const cudnnFilterStruct& f, const void* p, bool tf32) {
  std::vector<float> out(std::size_t(f.k) * f.c * f.r * f.s);
  std::size_t o = 0;
  for (int k = 0; k < f.k; ++k)
    for (int c = 0; c < f.c; ++c)
      for (int r = 0; r < f.r; ++r)
        for (int s = 0; s < f.s; ++s) {
          // KCRS (NCHW filter format) or KRSC (NHWC)
          const std::int64_t i = f.format == CUDNN_TENSOR_NHWC ? ((std::int64_t(k) * f.r + r) * f.s + s) * f.c + c
                                                               : ((std::int64_t(k) * f.c + c) * f.r + r) * f.s + s;
          const float v = load(f.type, p, i);
          out[o++] = tf32 ? emu_device::round_tf32(v) : v;
        }
  return out;
}

struct ConvGeometry {
  int n, c, h, w, k, r, s, oh, ow;
};

// Validates x, w, y and the convolution as cuDNN would; fills g.
cudnnStatus_t geometry(const cudnnTensorStruct* x, const cudnnFilterStruct* f, const cudnnConvolutionStruct* conv,
                       const cudnnTensorStruct* y, ConvGeometry* g) {
  if (!x || !f || !conv || !y || !x->set || !f->set || !conv->set || !y->set) return CUDNN_STATUS_BAD_PARAM;
  if (x->c != f->c || y->c != f->k || y->n != x->n) return CUDNN_STATUS_BAD_PARAM;
  const int oh = (x->h + 2 * conv->pad_h - conv->dil_h * (f->r - 1) - 1) / conv->stride_h + 1;
  const int ow = (x->w + 2 * conv->pad_w - conv->dil_w * (f->s - 1) - 1) / conv->stride_w + 1;
  if (y->h != oh || y->w != ow) return CUDNN_STATUS_BAD_PARAM;
  if (x->type != f->type || x->type != y->type || conv->compute != CUDNN_DATA_FLOAT) return CUDNN_STATUS_BAD_PARAM;
  if (x->type != CUDNN_DATA_FLOAT && x->type != CUDNN_DATA_BFLOAT16) return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE;
  if (x->type == CUDNN_DATA_BFLOAT16 && conv->math == CUDNN_FMA_MATH) return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE;
  if (conv->mode != CUDNN_CROSS_CORRELATION || conv->stride_h != 1 || conv->stride_w != 1 || conv->dil_h != 1 ||
      conv->dil_w != 1)
    return CUDNN_STATUS_NOT_SUPPORTED;  // beyond what the backend uses; not emulated
  *g = ConvGeometry{x->n, x->c, x->h, x->w, f->k, f->r, f->s, oh, ow};
  return CUDNN_STATUS_SUCCESS;
}

// TF32 applies to float data on this compute capability (9.0) unless the math type forbids tensor cores.
bool rounds_to_tf32(const cudnnTensorStruct& x, const cudnnConvolutionStruct& conv) {
  return x.type == CUDNN_DATA_FLOAT && conv.math != CUDNN_FMA_MATH;
}

// ---- the algorithm lists ------------------------------------------------------------------------------------

constexpr std::size_t kHugeWorkspace = std::size_t(2) << 30;

std::size_t fwd_workspace(cudnnConvolutionFwdAlgo_t a, const cudnnTensorStruct& x) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return kHugeWorkspace;
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return std::size_t(1) << 20;
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return bytes(x) / 4 + 1024;
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return bytes(x) / 2 + 4096;
    default: return 0;
  }
}

std::size_t bwd_workspace(cudnnConvolutionBwdDataAlgo_t a, const cudnnTensorStruct& dx) {
  switch (a) {
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED: return kHugeWorkspace;
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_0: return std::size_t(1) << 16;
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING: return bytes(dx) / 8 + 1024;
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_1: return bytes(dx) / 4 + 8192;  // unlike forward's: plans size the larger
    default: return 0;
  }
}

template <typename Perf, typename Algo, int N>
void rank(Perf* out, int requested, int* returned, const Algo (&algos)[N], const cudnnDeterminism_t (&det)[N],
          cudnnMathType_t math, std::size_t (*ws)(Algo, const cudnnTensorStruct&), const cudnnTensorStruct& sized) {
  int n = 0;
  for (int i = 0; i < N && n < requested; ++i, ++n) {
    Perf p{};
    p.algo = algos[i];
    p.status = CUDNN_STATUS_SUCCESS;
    p.time = 0.1f * float(i + 1);
    p.memory = ws(algos[i], sized);
    p.determinism = det[i];
    p.mathType = i == 3 ? CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : math;
    out[n] = p;
  }
  *returned = n;
}

// FFT_TILING first, as cuDNN 9.19's heuristics rank it for some layers (the backend skips it under fp32 only),
// then entries to skip (2 GiB of workspace, non-deterministic, ALLOW_CONVERSION), then the GEMM algorithms.
const cudnnConvolutionFwdAlgo_t kFwdAlgos[6] = {
    CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED, CUDNN_CONVOLUTION_FWD_ALGO_FFT,
    CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
    CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM};
const cudnnConvolutionBwdDataAlgo_t kBwdAlgos[6] = {
    CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING, CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED,
    CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
    CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD};
const cudnnDeterminism_t kDeterminism[6] = {CUDNN_DETERMINISTIC, CUDNN_DETERMINISTIC, CUDNN_NON_DETERMINISTIC,
                                            CUDNN_DETERMINISTIC, CUDNN_DETERMINISTIC, CUDNN_DETERMINISTIC};

// cuDNN's inputs and outputs (and its workspace) must not share memory: on a device the kernels race.
struct Range {
  const void* p;
  std::size_t bytes;
  const char* name;
};
void check_disjoint(const char* call, std::initializer_list<Range> ranges) {
  for (auto a = ranges.begin(); a != ranges.end(); ++a)
    for (auto b = a + 1; b != ranges.end(); ++b) {
      const auto a0 = reinterpret_cast<std::uintptr_t>(a->p), b0 = reinterpret_cast<std::uintptr_t>(b->p);
      if (a->bytes > 0 && b->bytes > 0 && a0 < b0 + b->bytes && b0 < a0 + a->bytes) {
        std::fprintf(stderr, "emulated cuDNN: %s: %s and %s overlap\n", call, a->name, b->name);
        std::abort();
      }
    }
}

// The workspace a call passes: large enough for its algorithm, inside device memory (the call fills it with NaN
// when it runs: poison_workspace).
cudnnStatus_t use_workspace(void* ws, std::size_t given, std::size_t needed, const char* call) {
  if (given < needed || (needed > 0 && ws == nullptr)) return CUDNN_STATUS_BAD_PARAM;
  check_device_range(call, ws, needed);
  return CUDNN_STATUS_SUCCESS;
}
void poison_workspace(void* ws, std::size_t needed) {
  if (needed > 0) std::memset(ws, 0xff, needed);
}

// y (N,K,OH,OW) float NCHW = conv(x, w): im2col and one SGEMM per sample.
std::vector<float> convolve(const ConvGeometry& g, const std::vector<float>& x, const std::vector<float>& w) {
  const int crs = g.c * g.r * g.s, pixels = g.oh * g.ow, ph = (g.r - 1) / 2, pw = (g.s - 1) / 2;
  std::vector<float> y(std::size_t(g.n) * g.k * pixels), col(std::size_t(crs) * pixels);
  for (int n = 0; n < g.n; ++n) {
    const float* xn = x.data() + std::size_t(n) * g.c * g.h * g.w;
    for (int c = 0; c < g.c; ++c)
      for (int r = 0; r < g.r; ++r)
        for (int s = 0; s < g.s; ++s) {
          float* row = col.data() + std::size_t((c * g.r + r) * g.s + s) * pixels;
          for (int i = 0; i < g.oh; ++i)
            for (int j = 0; j < g.ow; ++j) {
              const int hi = i + r - ph, wj = j + s - pw;
              row[i * g.ow + j] = hi >= 0 && hi < g.h && wj >= 0 && wj < g.w ? xn[(c * g.h + hi) * g.w + wj] : 0.0f;
            }
        }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.k, pixels, crs, 1.0f, w.data(), crs, col.data(), pixels,
                0.0f, y.data() + std::size_t(n) * g.k * pixels, pixels);
  }
  return y;
}

// dx (N,C,H,W) float NCHW = conv_transpose(dy, w): one SGEMM per sample, then col2im.
std::vector<float> convolve_transposed(const ConvGeometry& g, const std::vector<float>& dy, const std::vector<float>& w) {
  const int crs = g.c * g.r * g.s, pixels = g.oh * g.ow, ph = (g.r - 1) / 2, pw = (g.s - 1) / 2;
  std::vector<float> dx(std::size_t(g.n) * g.c * g.h * g.w, 0.0f), col(std::size_t(crs) * pixels);
  for (int n = 0; n < g.n; ++n) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, crs, pixels, g.k, 1.0f, w.data(), crs,
                dy.data() + std::size_t(n) * g.k * pixels, pixels, 0.0f, col.data(), pixels);
    float* dxn = dx.data() + std::size_t(n) * g.c * g.h * g.w;
    for (int c = 0; c < g.c; ++c)
      for (int r = 0; r < g.r; ++r)
        for (int s = 0; s < g.s; ++s) {
          const float* row = col.data() + std::size_t((c * g.r + r) * g.s + s) * pixels;
          for (int i = 0; i < g.oh; ++i)
            for (int j = 0; j < g.ow; ++j) {
              const int hi = i + r - ph, wj = j + s - pw;
              if (hi >= 0 && hi < g.h && wj >= 0 && wj < g.w) dxn[(c * g.h + hi) * g.w + wj] += row[i * g.ow + j];
            }
        }
  }
  return dx;
}

// out = alpha·v + beta·out over a (N,C,H,W) float NCHW result v, into the described tensor.
void blend(const cudnnTensorStruct& d, void* out, const std::vector<float>& v, float alpha, float beta) {
  std::size_t o = 0;
  for (int n = 0; n < d.n; ++n)
    for (int c = 0; c < d.c; ++c)
      for (int h = 0; h < d.h; ++h)
        for (int w = 0; w < d.w; ++w, ++o) {
          const std::int64_t i = index(d.format, d.c, d.h, d.w, n, c, h, w);
          const float a = alpha * v[o];
          store(d.type, out, i, beta == 0.0f ? a : a + beta * load(d.type, out, i));
        }
}

float scalar(const void* p) { return *static_cast<const float*>(p); }

}  // namespace

extern "C" {

size_t cudnnGetVersion(void) { return CUDNN_VERSION; }

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE: return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE: return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    default: return "cuDNN status (emulated)";
  }
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  *handle = new cudnnContext;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

#define IMPASTO_FAKE_DESCRIPTOR(Name, Struct)                              \
  cudnnStatus_t cudnnCreate##Name##Descriptor(Struct** d) {                \
    *d = new Struct;                                                       \
    return CUDNN_STATUS_SUCCESS;                                           \
  }                                                                        \
  cudnnStatus_t cudnnDestroy##Name##Descriptor(Struct* d) {                \
    delete d;                                                              \
    return CUDNN_STATUS_SUCCESS;                                           \
  }
IMPASTO_FAKE_DESCRIPTOR(Tensor, cudnnTensorStruct)
IMPASTO_FAKE_DESCRIPTOR(Filter, cudnnFilterStruct)
IMPASTO_FAKE_DESCRIPTOR(Convolution, cudnnConvolutionStruct)
IMPASTO_FAKE_DESCRIPTOR(Activation, cudnnActivationStruct)
#undef IMPASTO_FAKE_DESCRIPTOR

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                                         cudnnDataType_t type, int n, int c, int h, int w) {
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return CUDNN_STATUS_BAD_PARAM;  // cuDNN refuses empty tensors
  if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC) return CUDNN_STATUS_NOT_SUPPORTED_LAYOUT;
  *d = cudnnTensorStruct{true, format, type, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format,
                                         int k, int c, int h, int w) {
  if (k <= 0 || c <= 0 || h <= 0 || w <= 0) return CUDNN_STATUS_BAD_PARAM;
  if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC) return CUDNN_STATUS_NOT_SUPPORTED_LAYOUT;
  *d = cudnnFilterStruct{true, type, format, k, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute) {
  if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0) return CUDNN_STATUS_BAD_PARAM;
  const cudnnMathType_t math = d->math;
  *d = cudnnConvolutionStruct{true, pad_h, pad_w, u, v, dilation_h, dilation_w, mode, compute, math};
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t* math) {
  if (!d || !math) return CUDNN_STATUS_BAD_PARAM;
  *math = d->math;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetActivationDescriptor(cudnnActivationDescriptor_t d, cudnnActivationMode_t mode,
                                           cudnnNanPropagation_t, double) {
  *d = cudnnActivationStruct{true, mode};
  return CUDNN_STATUS_SUCCESS;
}

// ---- algorithm choice ----------------------------------------------------------------------------------------

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                     const cudnnFilterDescriptor_t w,
                                                     const cudnnConvolutionDescriptor_t conv,
                                                     const cudnnTensorDescriptor_t y, const int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
  ConvGeometry g;
  if (const cudnnStatus_t st = geometry(x, w, conv, y, &g); st != CUDNN_STATUS_SUCCESS) return st;
  rank(perf, requested, returned, kFwdAlgos, kDeterminism, conv->math, &fwd_workspace, *x);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnFindConvolutionForwardAlgorithm(cudnnHandle_t handle, const cudnnTensorDescriptor_t x,
                                                   const cudnnFilterDescriptor_t w,
                                                   const cudnnConvolutionDescriptor_t conv,
                                                   const cudnnTensorDescriptor_t y, const int requested,
                                                   int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
  if (emu_capture::capturing(handle->stream)) {  // it runs and times every algorithm: a synchronization
    emu_capture::invalidate("cudnnFindConvolutionForwardAlgorithm");
    return CUDNN_STATUS_NOT_SUPPORTED;
  }
  return cudnnGetConvolutionForwardAlgorithm_v7(handle, x, w, conv, y, requested, returned, perf);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, const cudnnFilterDescriptor_t w,
                                                          const cudnnTensorDescriptor_t dy,
                                                          const cudnnConvolutionDescriptor_t conv,
                                                          const cudnnTensorDescriptor_t dx, const int requested,
                                                          int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  ConvGeometry g;
  if (const cudnnStatus_t st = geometry(dx, w, conv, dy, &g); st != CUDNN_STATUS_SUCCESS) return st;
  rank(perf, requested, returned, kBwdAlgos, kDeterminism, conv->math, &bwd_workspace, *dx);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithm(cudnnHandle_t handle, const cudnnFilterDescriptor_t w,
                                                        const cudnnTensorDescriptor_t dy,
                                                        const cudnnConvolutionDescriptor_t conv,
                                                        const cudnnTensorDescriptor_t dx, const int requested,
                                                        int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  if (emu_capture::capturing(handle->stream)) {
    emu_capture::invalidate("cudnnFindConvolutionBackwardDataAlgorithm");
    return CUDNN_STATUS_NOT_SUPPORTED;
  }
  return cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, w, dy, conv, dx, requested, returned, perf);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t, const cudnnTensorDescriptor_t x,
                                                      const cudnnFilterDescriptor_t w,
                                                      const cudnnConvolutionDescriptor_t conv,
                                                      const cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
                                                      size_t* size) {
  ConvGeometry g;
  if (const cudnnStatus_t st = geometry(x, w, conv, y, &g); st != CUDNN_STATUS_SUCCESS) return st;
  *size = fwd_workspace(algo, *x);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t, const cudnnFilterDescriptor_t w,
                                                           const cudnnTensorDescriptor_t dy,
                                                           const cudnnConvolutionDescriptor_t conv,
                                                           const cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* size) {
  ConvGeometry g;
  if (const cudnnStatus_t st = geometry(dx, w, conv, dy, &g); st != CUDNN_STATUS_SUCCESS) return st;
  *size = bwd_workspace(algo, *dx);
  return CUDNN_STATUS_SUCCESS;
}

// ---- convolutions --------------------------------------------------------------------------------------------

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, const cudnnTensorDescriptor_t xd,
                                      const void* x, const cudnnFilterDescriptor_t wd, const void* w,
                                      const cudnnConvolutionDescriptor_t conv, cudnnConvolutionFwdAlgo_t algo,
                                      void* ws, size_t ws_bytes, const void* beta, const cudnnTensorDescriptor_t yd,
                                      void* y) {
  ConvGeometry g;
  if (const cudnnStatus_t st = geometry(xd, wd, conv, yd, &g); st != CUDNN_STATUS_SUCCESS) return st;
  check_device_range("cudnnConvolutionForward (x)", x, bytes(*xd));
  check_device_range("cudnnConvolutionForward (w)", w, bytes(*wd));
  check_device_range("cudnnConvolutionForward (y)", y, bytes(*yd));
  if (const cudnnStatus_t st = use_workspace(ws, ws_bytes, fwd_workspace(algo, *xd), "cudnnConvolutionForward (workspace)");
      st != CUDNN_STATUS_SUCCESS)
    return st;
  check_disjoint("cudnnConvolutionForward", {{x, bytes(*xd), "x"}, {w, bytes(*wd), "w"}, {y, bytes(*yd), "y"},
                                             {ws, fwd_workspace(algo, *xd), "the workspace"}});
  // What the call reads on the host (descriptors, scalars) is taken now; the device work runs now or, on a
  // capturing stream, at the graph's launch.
  const bool tf32 = rounds_to_tf32(*xd, *conv);
  const cudnnTensorStruct xs = *xd, ys = *yd;
  const cudnnFilterStruct wf = *wd;
  const float a = scalar(alpha), b = scalar(beta);
  const std::size_t need = fwd_workspace(algo, *xd);
  emu_capture::run(handle->stream, [=] {
    poison_workspace(ws, need);
    blend(ys, y, convolve(g, to_nchw(xs, x, tf32), filter_rows(wf, w, tf32)), a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBiasActivationForward(
    cudnnHandle_t handle, const void* alpha1, const cudnnTensorDescriptor_t xd, const void* x,
    const cudnnFilterDescriptor_t wd, const void* w, const cudnnConvolutionDescriptor_t conv,
    cudnnConvolutionFwdAlgo_t algo, void* ws, size_t ws_bytes, const void* alpha2, const cudnnTensorDescriptor_t zd,
    const void* z, const cudnnTensorDescriptor_t bd, const void* bias, const cudnnActivationDescriptor_t act,
    const cudnnTensorDescriptor_t yd, void* y) {
  ConvGeometry g;
  if (const cudnnStatus_t st = geometry(xd, wd, conv, yd, &g); st != CUDNN_STATUS_SUCCESS) return st;
  if (!act || !act->set || !bd || !bd->set || !zd || !zd->set) return CUDNN_STATUS_BAD_PARAM;
  if (act->mode != CUDNN_ACTIVATION_RELU && act->mode != CUDNN_ACTIVATION_IDENTITY) return CUDNN_STATUS_NOT_SUPPORTED;
  if (act->mode == CUDNN_ACTIVATION_IDENTITY && algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
    return CUDNN_STATUS_NOT_SUPPORTED;
  if (g.c % 2 != 0) return CUDNN_STATUS_NOT_SUPPORTED_SHAPE;  // the fake's refusal: exercises the fallback
  if (bd->n != 1 || bd->c != g.k || bd->h != 1 || bd->w != 1 || bd->type != CUDNN_DATA_FLOAT)
    return CUDNN_STATUS_BAD_PARAM;
  if (zd->n != yd->n || zd->c != yd->c || zd->h != yd->h || zd->w != yd->w || zd->type != yd->type ||
      zd->format != yd->format)
    return CUDNN_STATUS_BAD_PARAM;
  check_device_range("cudnnConvolutionBiasActivationForward (x)", x, bytes(*xd));
  check_device_range("cudnnConvolutionBiasActivationForward (w)", w, bytes(*wd));
  check_device_range("cudnnConvolutionBiasActivationForward (z)", z, bytes(*zd));
  check_device_range("cudnnConvolutionBiasActivationForward (bias)", bias, bytes(*bd));
  check_device_range("cudnnConvolutionBiasActivationForward (y)", y, bytes(*yd));
  if (const cudnnStatus_t st = use_workspace(ws, ws_bytes, fwd_workspace(algo, *xd),
                                             "cudnnConvolutionBiasActivationForward (workspace)");
      st != CUDNN_STATUS_SUCCESS)
    return st;
  check_disjoint("cudnnConvolutionBiasActivationForward",  // z may be y (the in-place blend cuDNN allows)
                 {{x, bytes(*xd), "x"}, {w, bytes(*wd), "w"}, {bias, bytes(*bd), "bias"}, {y, bytes(*yd), "y"},
                  {ws, fwd_workspace(algo, *xd), "the workspace"}});
  const bool tf32 = rounds_to_tf32(*xd, *conv);
  const cudnnTensorStruct xs = *xd, ys = *yd, zs = *zd;
  const cudnnFilterStruct wf = *wd;
  const float a1 = scalar(alpha1), a2 = scalar(alpha2);
  const bool relu = act->mode == CUDNN_ACTIVATION_RELU;
  const std::size_t need = fwd_workspace(algo, *xd);
  emu_capture::run(handle->stream, [=] {
    poison_workspace(ws, need);
    const std::vector<float> v = convolve(g, to_nchw(xs, x, tf32), filter_rows(wf, w, tf32));
    const std::vector<float> zv = a2 == 0.0f ? std::vector<float>() : to_nchw(zs, z, false);
    std::vector<float> out(v.size());
    const std::size_t plane = std::size_t(g.oh) * g.ow;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const float pre = a1 * v[i] + (a2 == 0.0f ? 0.0f : a2 * zv[i]) +
                        static_cast<const float*>(bias)[i / plane % std::size_t(g.k)];
      out[i] = relu ? (pre > 0.0f ? pre : (pre != pre ? pre : 0.0f)) : pre;
    }
    blend(ys, y, out, 1.0f, 0.0f);
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha, const cudnnFilterDescriptor_t wd,
                                           const void* w, const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const cudnnConvolutionDescriptor_t conv, cudnnConvolutionBwdDataAlgo_t algo,
                                           void* ws, size_t ws_bytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxd, void* dx) {
  ConvGeometry g;
  if (const cudnnStatus_t st = geometry(dxd, wd, conv, dyd, &g); st != CUDNN_STATUS_SUCCESS) return st;
  check_device_range("cudnnConvolutionBackwardData (w)", w, bytes(*wd));
  check_device_range("cudnnConvolutionBackwardData (dy)", dy, bytes(*dyd));
  check_device_range("cudnnConvolutionBackwardData (dx)", dx, bytes(*dxd));
  if (const cudnnStatus_t st = use_workspace(ws, ws_bytes, bwd_workspace(algo, *dxd),
                                             "cudnnConvolutionBackwardData (workspace)");
      st != CUDNN_STATUS_SUCCESS)
    return st;
  check_disjoint("cudnnConvolutionBackwardData", {{w, bytes(*wd), "w"}, {dy, bytes(*dyd), "dy"},
                                                  {dx, bytes(*dxd), "dx"}, {ws, bwd_workspace(algo, *dxd), "the workspace"}});
  const bool tf32 = rounds_to_tf32(*dxd, *conv);
  const cudnnTensorStruct dxs = *dxd, dys = *dyd;
  const cudnnFilterStruct wf = *wd;
  const float a = scalar(alpha), b = scalar(beta);
  const std::size_t need = bwd_workspace(algo, *dxd);
  emu_capture::run(handle->stream, [=] {
    poison_workspace(ws, need);
    blend(dxs, dx, convolve_transposed(g, to_nchw(dys, dy, tf32), filter_rows(wf, w, tf32)), a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

}  // extern "C"
