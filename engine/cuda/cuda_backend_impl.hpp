// engine/cuda/cuda_backend_impl.hpp — the CUDA backend class (DESIGN.md "Backends"): cuDNN convolutions,
// cuBLAS Gram matrices, custom kernels (kernels/launchers.cuh) for the rest (pooling included), all queued on
// one stream owned by the backend. One file per op family implements it: device.cpp (construction, name,
// precision), memory.cu, conv.cu, pool.cu, gram.cu, elementwise.cu, reduce.cu, loss.cu, color.cu, video.cu,
// photo.cu (the matting Laplacian), blas.cu (GEMM and GEMV for the compact L-BFGS), graph.cu (recorded work).
//
// Memory: tensors are cudaMalloc'ed by empty() and freed by their storage; besides them the backend owns one
// growing workspace (cuDNN convolution workspaces and the Gram-gradient symmetrization share it) and the
// reduction scratch and cuBLAS's workspace (allocated once in the constructor: a graph capture must find
// cuBLAS allocating nothing). Ops allocate nothing else.
//
// Argument checks: every op validates its arguments through engine/op_checks.hpp (shared with the CPU
// backend, so both reject the same calls with the same messages); only cuBLAS/cuDNN limits are checked in the
// op files here.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "engine/backend.hpp"
#include "engine/cuda/cuda_backend.hpp"
#include "engine/cuda/descriptors.hpp"
#include "engine/memory_counter.hpp"
#include "kernels/launchers.cuh"

namespace impasto {
namespace cuda_detail {

// ---- convolution plans: descriptors, algorithms and workspace sizes, made once per shape + precision ----
struct ConvKey {
  int n, cin, h, w, cout, k;
  Precision precision;
  Layout layout;
  bool operator<(const ConvKey& o) const {
    return std::tie(n, cin, h, w, cout, k, precision, layout) <
           std::tie(o.n, o.cin, o.h, o.w, o.cout, o.k, o.precision, o.layout);
  }
};

struct ConvPlan {
  // bf16: the descriptors describe the channels-last bf16 copies the convolution runs on (Precision::bf16
  // where both channel counts are multiples of 8, what bf16 tensor-core kernels want); else float32 tensors
  // in `layout` (x, w and y share it).
  ConvPlan(Shape x, Shape w, bool bf16, Layout layout)  // x (N,Cin,H,W), w (Cout,Cin,K,K)
      : bf16(bf16),
        x_desc(x, data_type(bf16), format(bf16, layout)),
        y_desc(Shape{x.n, w.n, x.h, x.w}, data_type(bf16), format(bf16, layout)),
        bias_desc(Shape{1, w.n, 1, 1}),
        w_desc(w, data_type(bf16), format(bf16, layout)),
        fwd_conv(w.h),
        bwd_conv(w.h),
        x_elems(x.numel()),
        y_elems(Shape{x.n, w.n, x.h, x.w}.numel()),
        w_elems(w.numel()) {}
  static cudnnDataType_t data_type(bool bf16) { return bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }
  static cudnnTensorFormat_t format(bool bf16, Layout l) { return bf16 ? CUDNN_TENSOR_NHWC : format_of(l); }

  bool bf16;
  TensorDesc x_desc, y_desc, bias_desc;  // (N,Cin,H,W), (N,Cout,H,W), (1,Cout,1,1)
  FilterDesc w_desc;                     // (Cout,Cin,K,K)
  ConvDesc fwd_conv, bwd_conv;           // each carries the math type its algorithm was chosen with
  cudnnConvolutionFwdAlgo_t fwd_algo{};
  cudnnConvolutionBwdDataAlgo_t bwd_algo{};
  std::size_t fwd_bytes = 0, bwd_bytes = 0;
  bool fused_relu = true;  // cleared when cuDNN refuses the fused bias+ReLU call for this plan
  std::int64_t x_elems, y_elems, w_elems;

  // The workspace of one call: cuDNN's, then (bf16) the staging copies of w, of x or dx, and of y or dy — w's
  // alone where the activations are bf16 already (`stored`).
  static constexpr std::size_t kAlign = 256;
  static std::size_t aligned(std::size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }
  std::size_t library_bytes() const { return aligned(std::max(fwd_bytes, bwd_bytes)); }
  std::size_t staging_bytes(bool stored) const {
    if (!bf16) return 0;
    const std::size_t w = aligned(std::size_t(w_elems) * 2);
    return stored ? w : w + aligned(std::size_t(x_elems) * 2) + aligned(std::size_t(y_elems) * 2);
  }
  std::size_t workspace_bytes(bool stored = false) const { return library_bytes() + staging_bytes(stored); }
  // The staging copies inside a workspace of workspace_bytes(stored) at `ws` (x16 and y16: not stored).
  void* w16(void* ws) const { return static_cast<char*>(ws) + library_bytes(); }
  void* x16(void* ws) const { return static_cast<char*>(w16(ws)) + aligned(std::size_t(w_elems) * 2); }
  void* y16(void* ws) const { return static_cast<char*>(x16(ws)) + aligned(std::size_t(x_elems) * 2); }
};

}  // namespace cuda_detail

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device);
  ~CudaBackend() override = default;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::cuda; }
  std::string name() const override { return name_; }
  void set_precision(Precision p) override;
  Precision precision() const override { return precision_; }

  Tensor empty(Shape s) override;
  void upload(const float* host, Tensor& dst) override;
  void download(const Tensor& src, float* host) override;
  void synchronize() override;
  void reserve_workspace(std::size_t bytes) override;
  std::uint64_t workspace_generation() const override { return workspace_generation_; }
  void trim_workspace(std::size_t bytes) override;
  // The larger of cuDNN's forward and backward-data workspaces for these shapes and the Gram-gradient
  // scratch of a (Cin or Cout)² matrix, so that one reservation per layer covers everything an iteration does.
  std::size_t conv2d_workspace_bytes(Shape x, Shape w, Layout layout = Layout::nchw,
                                     DType values = DType::f32) override;
  std::size_t bytes_in_use() const override;
  std::size_t peak_bytes_in_use() const override;
  void reset_peak_bytes() override;
  std::size_t fixed_bytes() const override;
  MemoryAvailable memory_available() const override;

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool fuse_relu) override;
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override;
  Tensor conv_filter(const Tensor& w) override;
  std::size_t conv_filter_bytes(Shape w) const override;
  Layout activation_layout() const override;
  DType activation_dtype() const override;
  void convert_layout(const Tensor& x, Tensor& y) override;
  void split_bf16(const Tensor& x, Tensor& y) override;
  void relu_forward(const Tensor& x, Tensor& y) override;
  void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override;
  void relu_mask(const Tensor& y, Tensor& bits) override;
  void relu_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx) override;
  void pool2d_forward(const Tensor& x, Tensor& y, PoolMode mode) override;
  void pool2d_backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, PoolMode mode,
                       bool relu_mask = false) override;
  void pool2d_mask(const Tensor& x, Tensor& bits, PoolMode mode) override;
  void pool2d_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx, PoolMode mode) override;
  void conv2d_forward_relu_mask(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, Tensor& bits) override;
  void pool2d_forward_mask(const Tensor& x, Tensor& y, Tensor& bits, PoolMode mode) override;
  void conv2d_forward_pool_mask(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, Tensor& pooled,
                                Tensor& bits, PoolMode mode) override;
  void gram(const Tensor& f, Tensor& g) override;
  void gram_backward(const Tensor& dg, const Tensor& f, Tensor& df, float beta) override;

  void fill(Tensor& y, float value) override;
  void copy(const Tensor& x, Tensor& y) override;
  void axpy(float a, const Tensor& x, Tensor& y) override;
  void axpby(float a, const Tensor& x, float b, Tensor& y) override;
  void scale(Tensor& y, float a) override;
  void mul(const Tensor& a, const Tensor& b, Tensor& y) override;
  void mul_mask(const Tensor& x, const Tensor& mask, Tensor& y) override;
  void clamp(const Tensor& x, float lo, float hi, Tensor& y) override;

  double dot(const Tensor& x, const Tensor& y) override;
  double sum(const Tensor& x) override;
  double abs_sum(const Tensor& x) override;
  double abs_max(const Tensor& x) override;
  bool all_finite(const Tensor& x) override;
  void queue_reduction(Reduction op, const Tensor& x, const Tensor* y = nullptr) override;
  std::unique_ptr<Recording> record(const std::function<void()>& work) override;
  void replay(const Recording& recording) override;

  double sq_diff_loss(const Tensor& x, const Tensor& target, const Tensor* weight, float scale,
                      Tensor* grad) override;
  double tv_loss(const Tensor& x, TvMode mode, float scale, Tensor* grad) override;
  void adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2, float eps,
                 int t) override;
  void color_convert(const Tensor& x, Tensor& y, ColorSpace space, bool inverse) override;
  void warp(const Tensor& x, const Tensor& flow, const Tensor& fill, Tensor& y) override;
  void consistency(const Tensor& fwd, const Tensor& bwd, Tensor& c) override;
  void gaussian_blur(const Tensor& x, float sigma, Tensor& tmp, Tensor& y) override;
  void matting_prepare(const Tensor& guide, float eps, Tensor& stats) override;
  double matting_loss(const Tensor& v, const Tensor& guide, const Tensor& stats, float scale, Tensor& coef,
                      Tensor* grad) override;
  void gemm_nt(const Tensor& a, const Tensor& b, Tensor& c) override;
  void gemv_t(const Tensor& a, const Tensor& x, float alpha, float beta, Tensor& y) override;

  cudaStream_t stream() const { return stream_; }

 private:
  // The plan for these shapes at the current precision (made and cached on first use).
  cuda_detail::ConvPlan& conv_plan(Shape x, Shape w, Layout layout);
  // A new plan: algorithms by cuDNN's heuristics, or measured (cudnnFind*) when `measure`.
  std::unique_ptr<cuda_detail::ConvPlan> make_conv_plan(Shape x, Shape w, Layout layout, bool measure);
  // conv2d_forward as op `op`; relu_words (fuse_relu only): also the ReLU mask of y (conv2d_forward_relu_mask);
  // raw (bf16 activations only): y = the convolution alone, its bias and ReLU left to the caller's pass.
  void convolve_forward(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool fuse_relu,
                        unsigned* relu_words, bool raw = false);
  // Its float32 path (TF32/FP32 plans): cuDNN's fused bias + ReLU where the configuration allows, else the
  // convolution and our bias_act.
  void convolve_forward_f32(cuda_detail::ConvPlan& p, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                            bool fuse_relu, void* ws);
  // bf16 staging of a float32 tensor (activation or filter) for a bf16 convolution: channels-last bf16 at
  // `staging`, and back into t's layout (+ bias per channel, then ReLU) (kernels/convert.cu).
  void to_bf16_staging(const Tensor& t, void* staging);
  void from_bf16_staging(const void* staging, Tensor& t, const float* bias, bool relu);
  // The bf16 filter a bf16 plan runs on: w itself when it is conv_filter's copy, else w staged into `ws`.
  const void* bf16_filter(const cuda_detail::ConvPlan& p, const Tensor& w, void* ws);
  // The workspace, grown to at least `bytes` (first use of a larger shape only).
  void* workspace(std::size_t bytes);
  // Throws the OutOfMemoryError of a failed allocation of `bytes` for `what`: need, free and total device
  // memory, what impasto holds, and what to try.
  [[noreturn]] void out_of_memory(const std::string& what, std::size_t bytes, const char* file, int line) const;
  // Stage 2 of a reduction whose stage 1 wrote `blocks` partials; the one device→host sync of the op, or (a
  // deferrable loss while deferring) into the next deferred slot without a sync. The value is multiplied by
  // `scale` on the host.
  double finish_reduction(int blocks, bool is_max, bool deferrable = false, double scale = 1.0);
  void fetch_deferred(double* out, int count, const Tensor* extra, float* extra_out) override;
  // Stage 1 of a reduction of x (and y for dot) into the partials; returns the blocks written.
  int reduce_partials(Reduction op, const Tensor& x, const Tensor* y, const char* name);
  double* partials() const { return scratch_.as<double>(); }
  double* deferred_slots() const { return partials() + kernels::kMaxBlocks + 1; }
  // Checks the cuDNN runtime against the headers and makes `device` current; runs before any member that
  // touches the device is constructed (device_ is initialized from it and declared first).
  static int activate(int device);

  int device_;
  std::string name_;
  Precision precision_ = Precision::fp32;
  int compute_major_ = 0;
  std::string device_name_;  // e.g. "NVIDIA H100 80GB HBM3"
  bool find_algorithms_ = false;  // IMPASTO_CUDNN_FIND=1: benchmark (cudnnFind*) instead of heuristics
  bool verbose_algorithms_ = false;  // IMPASTO_CUDNN_VERBOSE=1: each plan's ranked algorithms on stderr
  int layout_override_ = -1;         // IMPASTO_LAYOUT=nchw|nhwc: int(Layout), else -1 (by precision)
  std::size_t workspace_cap_ = 0; // convolution algorithms needing more workspace are a last resort (1/16 of memory)
  bool graphs_ = true;               // IMPASTO_CUDA_GRAPHS=0: record() runs the work eagerly (graph.cu)
  bool graph_failure_said_ = false;  // a refused capture is reported once
  // Declaration order = reverse destruction order: the stream outlives the handles that use it, and cuBLAS's
  // workspace outlives the handle.
  cuda_detail::Stream stream_;
  cuda_detail::DeviceBuffer cublas_workspace_;
  cuda_detail::CudnnHandle cudnn_;
  cuda_detail::CublasHandle cublas_;
  cuda_detail::DeviceBuffer workspace_;
  std::uint64_t workspace_generation_ = 0;  // bumped when workspace_ moves (Backend::workspace_generation)
  cuda_detail::DeviceBuffer scratch_;  // doubles: kMaxBlocks partial sums, 1 result, kMaxDeferred deferred slots
  cuda_detail::PinnedBuffer result_;   // kMaxDeferred doubles, the host end of every reduction
  double deferred_scale_[kMaxDeferred] = {};  // host factors of the deferred slots (tv_loss's scale)
  cuda_detail::ActivationDesc relu_{CUDNN_ACTIVATION_RELU};
  std::map<cuda_detail::ConvKey, std::unique_ptr<cuda_detail::ConvPlan>> conv_plans_;
  // Live and peak bytes of the tensors handed out by empty(), the workspace and the scratch; shared with each
  // storage so a tensor may outlive us.
  std::shared_ptr<MemoryCounter> memory_ = std::make_shared<MemoryCounter>();
};

}  // namespace impasto
