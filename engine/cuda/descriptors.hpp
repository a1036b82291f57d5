// engine/cuda/descriptors.hpp — RAII owners for everything the CUDA backend creates: the stream, the cuDNN
// and cuBLAS handles, cuDNN descriptors (tensor, filter, convolution, pooling, activation), raw device
// buffers (the growing workspace, reduction scratch) and pinned host memory. Move-only; destructors never
// throw (failures are logged, see check.hpp).
#pragma once

#include <cstddef>
#include <utility>

#include "kernels/check.hpp"
#include "engine/tensor.hpp"

namespace impasto::cuda_detail {

// ---- one template for "create in the constructor, destroy in the destructor" -----------------------------
template <typename Traits>
class Owned {
 public:
  using Handle = typename Traits::Handle;
  Owned() { Traits::create(&h_); }
  ~Owned() {
    if (h_) Traits::destroy(h_);
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  Owned(Owned&& o) noexcept : h_(std::exchange(o.h_, Handle{})) {}
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      if (h_) Traits::destroy(h_);
      h_ = std::exchange(o.h_, Handle{});
    }
    return *this;
  }
  Handle get() const { return h_; }
  operator Handle() const { return h_; }  // NOLINT: pass straight into library calls

 private:
  Handle h_{};
};

struct StreamTraits {
  using Handle = cudaStream_t;
  static void create(Handle* h) { IMPASTO_CUDA_CHECK(cudaStreamCreateWithFlags(h, cudaStreamNonBlocking)); }
  static void destroy(Handle h) { IMPASTO_CUDA_LOG(cudaStreamDestroy(h)); }
};
struct CudnnTraits {
  using Handle = cudnnHandle_t;
  static void create(Handle* h) { IMPASTO_CUDNN_CHECK(cudnnCreate(h)); }
  static void destroy(Handle h) { IMPASTO_CUDNN_LOG(cudnnDestroy(h)); }
};
struct CublasTraits {
  using Handle = cublasHandle_t;
  static void create(Handle* h) { IMPASTO_CUBLAS_CHECK(cublasCreate(h)); }
  static void destroy(Handle h) { IMPASTO_CUBLAS_LOG(cublasDestroy(h)); }
};
struct TensorDescTraits {
  using Handle = cudnnTensorDescriptor_t;
  static void create(Handle* h) { IMPASTO_CUDNN_CHECK(cudnnCreateTensorDescriptor(h)); }
  static void destroy(Handle h) { IMPASTO_CUDNN_LOG(cudnnDestroyTensorDescriptor(h)); }
};
struct FilterDescTraits {
  using Handle = cudnnFilterDescriptor_t;
  static void create(Handle* h) { IMPASTO_CUDNN_CHECK(cudnnCreateFilterDescriptor(h)); }
  static void destroy(Handle h) { IMPASTO_CUDNN_LOG(cudnnDestroyFilterDescriptor(h)); }
};
struct ConvDescTraits {
  using Handle = cudnnConvolutionDescriptor_t;
  static void create(Handle* h) { IMPASTO_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(h)); }
  static void destroy(Handle h) { IMPASTO_CUDNN_LOG(cudnnDestroyConvolutionDescriptor(h)); }
};
struct ActivationDescTraits {
  using Handle = cudnnActivationDescriptor_t;
  static void create(Handle* h) { IMPASTO_CUDNN_CHECK(cudnnCreateActivationDescriptor(h)); }
  static void destroy(Handle h) { IMPASTO_CUDNN_LOG(cudnnDestroyActivationDescriptor(h)); }
};

using Stream = Owned<StreamTraits>;
using CudnnHandle = Owned<CudnnTraits>;
using CublasHandle = Owned<CublasTraits>;

// ---- cuDNN descriptors with their one-line setters ------------------------------------------------------
class TensorDesc : public Owned<TensorDescTraits> {
 public:
  TensorDesc() = default;
  explicit TensorDesc(const Shape& s, cudnnDataType_t type = CUDNN_DATA_FLOAT,
                      cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW) {
    set(s, type, format);
  }
  // (N,C,H,W) packed: float32 NCHW or NHWC (our tensors), or bf16 NHWC (the bf16 convolutions' copies).
  void set(const Shape& s, cudnnDataType_t type = CUDNN_DATA_FLOAT, cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW) {
    IMPASTO_CUDNN_CHECK(cudnnSetTensor4dDescriptor(get(), format, type, s.n, s.c, s.h, s.w));
  }
};

class FilterDesc : public Owned<FilterDescTraits> {
 public:
  // (Cout,Cin,K,K): float32 KCRS or KRSC (CUDNN_TENSOR_NHWC: weights of an NHWC network), or bf16 KRSC for the
  // bf16 convolutions.
  explicit FilterDesc(const Shape& w, cudnnDataType_t type = CUDNN_DATA_FLOAT,
                      cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW) {
    IMPASTO_CUDNN_CHECK(cudnnSetFilter4dDescriptor(get(), type, format, w.n, w.c, w.h, w.w));
  }
};

inline cudnnTensorFormat_t format_of(Layout l) { return l == Layout::nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW; }

class ConvDesc : public Owned<ConvDescTraits> {
 public:
  // Stride 1, "same" zero padding, cross-correlation (what every framework calls convolution).
  explicit ConvDesc(int k) {
    const int pad = (k - 1) / 2;
    IMPASTO_CUDNN_CHECK(
        cudnnSetConvolution2dDescriptor(get(), pad, pad, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  }
  void set_math(cudnnMathType_t m) { IMPASTO_CUDNN_CHECK(cudnnSetConvolutionMathType(get(), m)); }
};

class ActivationDesc : public Owned<ActivationDescTraits> {
 public:
  explicit ActivationDesc(cudnnActivationMode_t mode) {
    IMPASTO_CUDNN_CHECK(cudnnSetActivationDescriptor(get(), mode, CUDNN_NOT_PROPAGATE_NAN, 0.0));
  }
};

// ---- raw memory -----------------------------------------------------------------------------------------
// Device bytes that only grow (the op workspace). Growing frees the old block first so that the peak is the
// new size, not old + new; contents are not preserved.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes) { grow(bytes); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void grow(std::size_t bytes) {
    if (bytes <= bytes_) return;
    release();
    IMPASTO_CUDA_CHECK(cudaMalloc(&ptr_, bytes));
    bytes_ = bytes;
  }
  void* get() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  std::size_t bytes() const { return bytes_; }
  void release() {
    if (ptr_) IMPASTO_CUDA_LOG(cudaFree(ptr_));
    ptr_ = nullptr;
    bytes_ = 0;
  }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// Page-locked host memory: the landing place of reduction results (one small async copy, then one sync).
class PinnedBuffer {
 public:
  explicit PinnedBuffer(std::size_t bytes) { IMPASTO_CUDA_CHECK(cudaMallocHost(&ptr_, bytes)); }
  ~PinnedBuffer() {
    if (ptr_) IMPASTO_CUDA_LOG(cudaFreeHost(ptr_));
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
};

}  // namespace impasto::cuda_detail
