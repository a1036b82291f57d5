// engine/cuda/conv.cu — 2-D convolution on cuDNN (legacy API): forward with bias (+ReLU) and backward data.
// Per shape and precision a plan holds the descriptors, the chosen algorithms and their workspace sizes.
// Algorithms come from cuDNN's heuristics (cudnnGet*_v7: deterministic choice, no benchmarking), or from
// cudnnFind* (benchmarked on the device) when IMPASTO_CUDNN_FIND=1. Deterministic algorithms are preferred,
// and (first pass) ones whose workspace stays under the backend's cap (1/16 of the device's memory): the
// workspace is part of the memory plan, and a fast algorithm with a workspace of gigabytes at 4K would cost
// more than it saves.
// Tensors are float32 NCHW or NHWC (x, w and y in one layout; an NHWC filter is KRSC): NHWC is what cuDNN's
// tensor-core kernels run on, NCHW costs them a transpose on each side.
// Precision::bf16 (experimental): layers whose channel counts are multiples of 8 run on channels-last bf16
// copies of x (or dy) and w made in the workspace (kernels/convert.cu: a transpose and a cast from NCHW, a
// cast from NHWC), with fp32 accumulation, and the result is turned back into float32 in the tensors' layout
// with bias and ReLU in the same pass; the copies are part of the workspace size, hence of the memory plan.
// bf16 activations (x and y, or dx and dy, both DType::bf16, NHWC) need no copies: the convolution reads and
// writes them, and the bias and ReLU are applied in place (kernels::bias_act_bf16).
// A filter made once by conv_filter (a bf16 tensor: channels-last bits, labelled with the float filter's
// layout, which the check compares with x's) is used as it is: VGG-19 makes its filters so per plan.
// Forward with ReLU uses the fused cudnnConvolutionBiasActivationForward (any algorithm; the identity
// activation would need IMPLICIT_PRECOMP_GEMM, so conv taps without ReLU are not fused); when cuDNN refuses a
// configuration (any "not supported" status) the plan falls back for good to cudnnConvolutionForward
// followed by a one-pass bias(+ReLU) kernel.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {
namespace {

using cuda_detail::ConvDesc;
using cuda_detail::ConvPlan;

// Whether a convolution with these channel counts runs on bf16 copies: Precision::bf16 where the bf16
// tensor-core kernels apply (channel counts multiples of 8: not conv1_1's 3 inputs); such a layer runs as under
// tf32 otherwise.
bool bf16_convolution(Precision precision, int cin, int cout) {
  return precision == Precision::bf16 && cin % 8 == 0 && cout % 8 == 0;
}

// A bf16 filter (conv_filter's copy) and bf16 activations serve only a convolution that runs on bf16: a copy
// made before the precision changed does not describe this plan's filter.
void check_types(const ConvPlan& p, const Tensor& w, const checks::ConvShape& cs, const char* op,
                 Precision precision) {
  IMPASTO_CHECK(w.dtype() == DType::f32 || p.bf16,
                op << ": w is a bf16 filter copy (conv_filter) but this convolution runs on float32 (precision "
                   << enum_name(precision) << "); make the copy again after set_precision");
  IMPASTO_CHECK(cs.values == DType::f32 || p.bf16,
                op << ": the activations hold bf16 values but this convolution runs on float32 (precision "
                   << enum_name(precision) << ", " << cs.x.c << " to " << cs.w.n
                   << " channels; bf16 needs multiples of 8)");
}

// FFT and Winograd-nonfused algorithms: inputs transformed through a workspace.
bool transform_based(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool transform_based(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}

// The first usable algorithm of cuDNN's ranked list (heuristic or measured): status OK, deterministic and
// with a workspace of at most `cap` bytes on the first pass (anything on the second), FMA-only kernels under
// fp32, never a math type that converts fp32 data to fp16/bf16 (ALLOW_CONVERSION: below TF32's range and
// precision), and a workspace query that succeeds with the math type set on `conv`. Under fp32 the first pass
// also skips the transform-based algorithms: cuDNN 9.19's heuristics rank FFT_TILING first for several of
// VGG-19's backward-data layers, where it is several times slower than IMPLICIT_PRECOMP_GEMM/ALGO_1
// (perf/RESULTS.md). Leaves `conv` set to the chosen math type.
template <typename Perf, typename Algo, typename WorkspaceQuery>
void choose(const std::vector<Perf>& ranked, Precision precision, std::size_t cap, ConvDesc& conv,
            WorkspaceQuery bytes_for, Algo* algo, std::size_t* bytes, const char* what, Shape x, Shape w) {
  for (int pass = 0; pass < 2; ++pass) {
    for (const Perf& r : ranked) {
      if (r.status != CUDNN_STATUS_SUCCESS) continue;
      if (pass == 0 && r.determinism != CUDNN_DETERMINISTIC) continue;
      if (r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
      if (precision == Precision::fp32 && r.mathType == CUDNN_TENSOR_OP_MATH) continue;
      if (pass == 0 && precision == Precision::fp32 && transform_based(r.algo)) continue;
      const cudnnMathType_t math = precision == Precision::fp32 ? CUDNN_FMA_MATH : r.mathType;
      if (cudnnSetConvolutionMathType(conv, math) != CUDNN_STATUS_SUCCESS) continue;
      std::size_t b = 0;
      if (bytes_for(r.algo, &b) != CUDNN_STATUS_SUCCESS) continue;
      if (pass == 0 && b > cap) continue;
      *algo = r.algo;
      *bytes = b;
      return;
    }
  }
  IMPASTO_FAIL("cuDNN offers no usable " << what << " algorithm for x " << x.str() << ", w " << w.str() << " ("
                                         << enum_name(precision) << ")");
}

// IMPASTO_CUDNN_VERBOSE=1: cuDNN's ranked list for one plan (time when measured, workspace, math type,
// determinism) with the chosen entry marked, on stderr. For tuning the choice on a device.
template <typename Perf, typename Algo>
void report(const char* what, const std::vector<Perf>& ranked, Algo chosen, const ConvDesc& conv, Shape x, Shape w,
            Layout layout, Precision precision, bool measured) {
  cudnnMathType_t math{};
  cudnnGetConvolutionMathType(conv, &math);
  std::fprintf(stderr, "cudnn %s x %s w %s %s %s (%s): chosen algo %d, math %d\n", what, x.str().c_str(),
               w.str().c_str(), enum_name(layout), enum_name(precision),
               measured ? "cudnnFind" : "heuristic", int(chosen), int(math));
  for (const Perf& r : ranked)
    std::fprintf(stderr, "  %s algo %d status %d time %.3f ms workspace %.1f MiB math %d %s\n",
                 r.algo == chosen ? "*" : " ", int(r.algo), int(r.status), double(r.time),
                 double(r.memory) / double(1 << 20), int(r.mathType),
                 r.determinism == CUDNN_DETERMINISTIC ? "deterministic" : "non-deterministic");
}

}  // namespace

void CudaBackend::to_bf16_staging(const Tensor& t, void* staging) {
  const Shape s = t.shape();  // (N,C,H,W) or a filter (Cout,Cin,K,K)
  if (t.layout() == Layout::nhwc)
    kernels::to_bf16(t.data(), staging, s.numel(), stream_);
  else
    kernels::to_bf16_channels_last(t.data(), staging, s.n, s.c, s.plane(), stream_);
}

void CudaBackend::from_bf16_staging(const void* staging, Tensor& t, const float* bias, bool relu) {
  const Shape s = t.shape();  // (N,C,H,W)
  if (t.layout() == Layout::nhwc)
    kernels::from_bf16(staging, t.data(), bias, relu, s.numel(), s.c, stream_);
  else
    kernels::from_bf16_channels_last(staging, t.data(), bias, relu, s.n, s.c, s.plane(), stream_);
}

ConvPlan& CudaBackend::conv_plan(Shape x, Shape w, Layout layout) {
  const cuda_detail::ConvKey key{x.n, x.c, x.h, x.w, w.n, w.h, precision_, layout};
  auto it = conv_plans_.find(key);
  if (it != conv_plans_.end()) return *it->second;
  return *conv_plans_.emplace(key, make_conv_plan(x, w, layout, find_algorithms_)).first->second;
}

std::unique_ptr<ConvPlan> CudaBackend::make_conv_plan(Shape x, Shape w, Layout layout, bool measure) {
  const bool bf16 = bf16_convolution(precision_, x.c, w.n);
  auto plan = std::make_unique<ConvPlan>(x, w, bf16, layout);
  ConvPlan& p = *plan;
  // The math type the ranking is asked under: FMA only for fp32; tensor cores for bf16; the default (TF32
  // allowed on sm_80+) otherwise.
  const cudnnMathType_t query_math = precision_ == Precision::fp32 ? CUDNN_FMA_MATH
                                     : bf16                        ? CUDNN_TENSOR_OP_MATH
                                                                   : CUDNN_DEFAULT_MATH;
  p.fwd_conv.set_math(query_math);
  p.bwd_conv.set_math(query_math);

  std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> bwd(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
  int nf = 0, nb = 0;
  if (measure) {
    IMPASTO_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(cudnn_, p.x_desc, p.w_desc, p.fwd_conv, p.y_desc,
                                                             int(fwd.size()), &nf, fwd.data()));
    IMPASTO_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(cudnn_, p.w_desc, p.y_desc, p.bwd_conv, p.x_desc,
                                                                  int(bwd.size()), &nb, bwd.data()));
  } else {
    IMPASTO_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_, p.x_desc, p.w_desc, p.fwd_conv, p.y_desc,
                                                               int(fwd.size()), &nf, fwd.data()));
    IMPASTO_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn_, p.w_desc, p.y_desc, p.bwd_conv,
                                                                    p.x_desc, int(bwd.size()), &nb, bwd.data()));
  }
  fwd.resize(std::size_t(nf));
  bwd.resize(std::size_t(nb));

  choose(
      fwd, precision_, workspace_cap_, p.fwd_conv,
      [&](cudnnConvolutionFwdAlgo_t a, std::size_t* b) {
        return cudnnGetConvolutionForwardWorkspaceSize(cudnn_, p.x_desc, p.w_desc, p.fwd_conv, p.y_desc, a, b);
      },
      &p.fwd_algo, &p.fwd_bytes, "forward convolution", x, w);
  choose(
      bwd, precision_, workspace_cap_, p.bwd_conv,
      [&](cudnnConvolutionBwdDataAlgo_t a, std::size_t* b) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn_, p.w_desc, p.y_desc, p.bwd_conv, p.x_desc, a, b);
      },
      &p.bwd_algo, &p.bwd_bytes, "backward-data convolution", x, w);
  if (verbose_algorithms_) {
    report("forward", fwd, p.fwd_algo, p.fwd_conv, x, w, layout, precision_, measure);
    report("backward-data", bwd, p.bwd_algo, p.bwd_conv, x, w, layout, precision_, measure);
  }
  return plan;
}

std::size_t CudaBackend::conv2d_workspace_bytes(Shape x, Shape w, Layout layout, DType values) {
  // A size query (memory plans ask it for many sizes): with IMPASTO_CUDNN_FIND=1 it must not benchmark (cudnnFind
  // allocates and runs every algorithm), so it sizes a heuristic plan and leaves measuring to the first real
  // call, whose plan may want more workspace (the workspace then grows once).
  std::unique_ptr<ConvPlan> query;
  if (find_algorithms_ &&
      conv_plans_.count(cuda_detail::ConvKey{x.n, x.c, x.h, x.w, w.n, w.h, precision_, layout}) == 0)
    query = make_conv_plan(x, w, layout, false);
  const ConvPlan& p = query ? *query : conv_plan(x, w, layout);
  const std::size_t gram_scratch = std::size_t(std::max(x.c, w.n)) * std::size_t(std::max(x.c, w.n)) * sizeof(float);
  return std::max(p.workspace_bytes(values == DType::bf16), gram_scratch);
}

Tensor CudaBackend::conv_filter(const Tensor& w) {
  checks::check_tensor(w, Device::cuda, "conv_filter", "w");  // (Cout,Cin,K,K)
  const Shape s = w.shape();
  if (!bf16_convolution(precision_, s.c, s.n)) return w;
  Tensor copy = empty_typed(s, DType::bf16, w.layout());
  to_bf16_staging(w, copy.raw());  // channels-last bf16, as the bf16 plans' filter descriptor says
  return copy;
}

std::size_t CudaBackend::conv_filter_bytes(Shape w) const {  // (Cout,Cin,K,K)
  return bf16_convolution(precision_, w.c, w.n) ? std::size_t((w.numel() + 1) / 2) * sizeof(float) : 0;
}

// The bf16 filter of a bf16 plan: w itself when conv_filter made it, else w's copy staged in the workspace.
const void* CudaBackend::bf16_filter(const ConvPlan& p, const Tensor& w, void* ws) {
  if (w.dtype() != DType::bf16) {
    to_bf16_staging(w, p.w16(ws));
    return p.w16(ws);
  }
  return w.raw();
}

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool fuse_relu) {
  convolve_forward("conv2d_forward", x, w, b, y, fuse_relu, nullptr);
}

void CudaBackend::conv2d_forward_relu_mask(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                                           Tensor& bits) {
  const char* op = "conv2d_forward_relu_mask";
  checks::relu_mask(y, bits, Device::cuda, op);  // y (N,Cout,H,W), bits (1,1,1,⌈n/32⌉)
  checks::check_no_alias(bits, x, op, "bits", "x");
  convolve_forward(op, x, w, b, y, /*fuse_relu=*/true, reinterpret_cast<unsigned*>(bits.data()));
}

void CudaBackend::conv2d_forward_pool_mask(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                                           Tensor& pooled, Tensor& bits, PoolMode mode) {
  const Shape ys = y.shape();  // (N,Cout,H,W)
  if (y.dtype() != DType::bf16 || ys.c % 32 != 0 || ys.h < 2 || ys.w < 2) {
    Backend::conv2d_forward_pool_mask(x, w, b, y, pooled, bits, mode);  // the two ops
    return;
  }
  const char* op = "conv2d_forward_pool_mask";
  checks::pool2d_forward(y, pooled, Device::cuda);  // pooled (N,Cout,H/2,W/2)
  checks::pool2d_mask(y, bits, Device::cuda, op);   // bits (1,1,1,⌈n/32⌉)
  checks::check_no_alias(bits, pooled, op, "bits", "pooled");
  checks::check_no_alias(bits, x, op, "bits", "x");
  convolve_forward(op, x, w, b, y, /*fuse_relu=*/true, nullptr, /*raw=*/true);
  kernels::bias_relu_pool_mask_bf16(y.raw(), b.data(), pooled.raw(), reinterpret_cast<unsigned*>(bits.data()), ys.n,
                                    ys.c, ys.h, ys.w, mode == PoolMode::average, stream_);
}

void CudaBackend::convolve_forward(const char* op, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                                   bool fuse_relu, unsigned* relu_words, bool raw) {
  // x (N,Cin,H,W), w (Cout,Cin,K,K), b (1,1,1,Cout), y (N,Cout,H,W)
  const checks::ConvShape cs = checks::conv2d(x, w, &b, y, Device::cuda, op, "x", "y", /*bf16=*/true);
  if (y.numel() == 0) return;
  ConvPlan& p = conv_plan(x.shape(), w.shape(), cs.layout);
  check_types(p, w, cs, op, precision_);
  const bool stored = cs.values == DType::bf16;
  IMPASTO_ASSERT(!raw || stored);
  void* ws = workspace(p.workspace_bytes(stored));
  const float one = 1.0f, zero = 0.0f;
  const Shape ys = y.shape();
  if (p.bf16) {
    // bf16 x and w (channels-last copies of float32 ones), the convolution with fp32 accumulation into a bf16 y;
    // the bias and ReLU in one pass over y, on the way back to float32 in the tensors' layout (kernels/convert.cu)
    // or in place over bf16 activations.
    const void* x16 = x.raw();
    if (!stored) {
      to_bf16_staging(x, p.x16(ws));
      x16 = p.x16(ws);
    }
    void* y16 = stored ? y.raw() : p.y16(ws);
    const void* w16 = bf16_filter(p, w, ws);
    IMPASTO_CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &one, p.x_desc, x16, p.w_desc, w16, p.fwd_conv,
                                                p.fwd_algo, ws, p.fwd_bytes, &zero, p.y_desc, y16));
    if (stored) {
      if (!raw) kernels::bias_act_bf16(y16, b.data(), ys.numel(), ys.c, fuse_relu, relu_words, stream_);
      return;
    }
    from_bf16_staging(y16, y, b.data(), fuse_relu);
  } else {
    convolve_forward_f32(p, x, w, b, y, fuse_relu, ws);
  }
  if (relu_words) kernels::relu_mask(y.raw(), relu_words, relu_mask_words(y.numel()), y.numel(), stored, stream_);
}

void CudaBackend::convolve_forward_f32(ConvPlan& p, const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                                       bool fuse_relu, void* ws) {
  const float one = 1.0f, zero = 0.0f;
  const Shape ys = y.shape();
  if (fuse_relu && p.fused_relu) {
    // y = ReLU(conv(x) + 0·z + b); z = y is not read with alpha2 = 0 (as TensorFlow's fused conv relies on)
    // but must be a valid tensor of y's shape.
    const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
        cudnn_, &one, p.x_desc, x.data(), p.w_desc, w.data(), p.fwd_conv, p.fwd_algo, ws, p.fwd_bytes, &zero,
        p.y_desc, y.data(), p.bias_desc, b.data(), relu_, p.y_desc, y.data());
    if (st == CUDNN_STATUS_SUCCESS) return;
    // cuDNN 9 reports refusals as CUDNN_STATUS_NOT_SUPPORTED_* sub-codes (3001…): the category is 3000.
    if (CUDNN_STATUS_CATEGORY(st) != CUDNN_STATUS_NOT_SUPPORTED)
      cuda_detail::throw_cudnn(st, "cudnnConvolutionBiasActivationForward(...)", __FILE__, __LINE__);
    p.fused_relu = false;  // not for this configuration: unfused from now on
  }
  IMPASTO_CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &one, p.x_desc, x.data(), p.w_desc, w.data(), p.fwd_conv,
                                              p.fwd_algo, ws, p.fwd_bytes, &zero, p.y_desc, y.data()));
  kernels::bias_act(y.data(), b.data(), ys.numel(), ys.c, y.channel_stride(), fuse_relu, stream_);
}

void CudaBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  // dx (N,Cin,H,W), w (Cout,Cin,K,K), dy (N,Cout,H,W)
  const char* op = "conv2d_backward_data";
  const checks::ConvShape cs = checks::conv2d(dx, w, nullptr, dy, Device::cuda, op, "dx", "dy", /*bf16=*/true);
  const bool stored = cs.values == DType::bf16;
  if (dx.numel() == 0) return;
  if (dy.numel() == 0) {  // no output channels: the gradient is zero
    IMPASTO_CUDA_CHECK(cudaMemsetAsync(dx.raw(), 0, std::size_t(dx.numel()) * dx.element_bytes(), stream_));
    return;
  }
  const ConvPlan& p = conv_plan(dx.shape(), w.shape(), cs.layout);
  check_types(p, w, cs, op, precision_);
  void* ws = workspace(p.workspace_bytes(stored));
  const float one = 1.0f, zero = 0.0f;
  if (p.bf16) {
    // dy and w in channels-last bf16 (float32 ones copied: dy in y's slot), dx in bf16 (x's slot, then back to
    // float32, unless the activations are bf16).
    const void* dy16 = dy.raw();
    if (!stored) {
      to_bf16_staging(dy, p.y16(ws));
      dy16 = p.y16(ws);
    }
    void* dx16 = stored ? dx.raw() : p.x16(ws);
    const void* w16 = bf16_filter(p, w, ws);
    IMPASTO_CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_, &one, p.w_desc, w16, p.y_desc, dy16, p.bwd_conv,
                                                     p.bwd_algo, ws, p.bwd_bytes, &zero, p.x_desc, dx16));
    if (!stored) from_bf16_staging(dx16, dx, nullptr, false);
    return;
  }
  IMPASTO_CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_, &one, p.w_desc, w.data(), p.y_desc, dy.data(), p.bwd_conv,
                                                   p.bwd_algo, ws, p.bwd_bytes, &zero, p.x_desc, dx.data()));
}

}  // namespace impasto
