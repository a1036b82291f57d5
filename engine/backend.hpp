// engine/backend.hpp — the backend seam: one interface, a CPU and a CUDA implementation with the same op
// names and argument order (DESIGN.md "Backends"). Everything above this line (VGG-19, losses, optimizers,
// pipelines) is backend-neutral and only calls these ops.
//
// Conventions for every op:
// - Tensors are float32 on the backend's device, (N,C,H,W) in NCHW order; the CUDA backend also computes the
//   layout-dependent ops (convolution, pooling, Gram, masks, squared differences) on channels-last NHWC
//   tensors (Tensor::layout), which VGG-19 uses for its activations where activation_layout() says so.
//   Images, flows and masks are NCHW. Shapes and layouts are checked and a mismatch throws impasto::Error.
// - bf16 activations (DType::bf16, NHWC, CUDA only: the storage of --precision bf16) are taken by
//   convert_layout (to and from float32), split_bf16 (y), the convolutions, relu_*, pool2d_*, gram and
//   gram_backward (f, df), fill, copy, axpy, mul_mask (x, y) and sq_diff_loss (x, target, grad); each computes
//   in float from the stored values and rounds once where it stores. One call's activations are all of one
//   type; every other op refuses bf16.
// - Outputs are fully overwritten unless the op says it accumulates.
// - "alias" notes say which inputs may be the same tensor as the output.
// - Reductions return double on the host (the only device→host traffic an iteration needs); the loss ops can
//   queue theirs instead (begin_deferred / take_deferred) so that an evaluation reads them back at once.
// - Ops never allocate after plan time except the backend's own workspace, which grows when an op needs more
//   (reserve_workspace lets the caller size it once per image size; trim_workspace shrinks it for a new plan).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.hpp"

namespace impasto {

enum class PoolMode { average, max };
template <>
struct EnumNames<PoolMode> {
  static constexpr const char* what = "pooling";
  static constexpr EnumName<PoolMode> table[] = {
      {PoolMode::average, "avg"}, {PoolMode::max, "max"}, {PoolMode::average, "average"}};
};

// Total variation (kernels/pointwise.cuh has the formulas): l1 (neural-style-tf, neural-style-pt), squared, and
// squared_interior, ½·Σd² over the top-left (H−1)×(W−1) block (jcjohnson/neural-style's TVLoss gradient).
enum class TvMode { l1, squared, squared_interior };
template <>
struct EnumNames<TvMode> {
  static constexpr const char* what = "TV";
  static constexpr EnumName<TvMode> table[] = {
      {TvMode::l1, "l1"}, {TvMode::squared, "squared"}, {TvMode::squared_interior, "squared-interior"}};
};

// Luminance/chroma spaces for color preservation. Channel 0 of the converted image is the luminance.
enum class ColorSpace { yuv, ycrcb, lab, luv };
template <>
struct EnumNames<ColorSpace> {
  static constexpr const char* what = "color space";
  static constexpr EnumName<ColorSpace> table[] = {
      {ColorSpace::yuv, "yuv"}, {ColorSpace::ycrcb, "ycrcb"}, {ColorSpace::lab, "lab"}, {ColorSpace::luv, "luv"}};
};

// Numeric mode of the heavy ops (CUDA only; the CPU backend always computes in fp32). fp32 is the reference;
// tf32 lets tensor cores round convolution and Gram inputs to 10-bit mantissas; bf16 (experimental) runs the
// convolutions on bf16 copies of their inputs and weights (8-bit mantissas, channels-last) with fp32
// accumulation and fp32 results, everything else as tf32. Tensors stay float32 in every mode.
enum class Precision { fp32, tf32, bf16 };
template <>
struct EnumNames<Precision> {
  static constexpr const char* what = "precision";
  static constexpr EnumName<Precision> table[] = {
      {Precision::fp32, "fp32"}, {Precision::tf32, "tf32"}, {Precision::bf16, "bf16"}};
};

// The 32-bit words of a ReLU mask of n elements (Backend::relu_mask).
inline std::int64_t relu_mask_words(std::int64_t n) { return (n + 31) / 32; }

struct MemoryAvailable {
  std::size_t bytes = 0;
  std::string source;  // e.g. "free on NVIDIA H100 80GB HBM3" or "MemAvailable of this host"
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // e.g. "cpu (OpenBLAS, 2 threads)" or "cuda (NVIDIA H100, cuDNN 9.x)"
  virtual void set_precision(Precision p) = 0;
  virtual Precision precision() const = 0;
  // The layout VGG-19 keeps its activations (and weights) in on this backend at the current precision: NCHW
  // on the CPU; on CUDA NHWC under tf32/bf16 (cuDNN's tensor-core kernels are channels-last: NCHW costs a
  // transpose on each side of every convolution) and NCHW under fp32 (IMPASTO_LAYOUT=nchw|nhwc overrides).
  virtual Layout activation_layout() const { return Layout::nchw; }
  // The element type VGG-19 stores its activations in: float32, or bf16 on CUDA under bf16 with NHWC
  // activations (2 bytes per element; the image, the Grams, the losses and the optimizer stay float32).
  virtual DType activation_dtype() const { return DType::f32; }

  // ---- memory -----------------------------------------------------------------------------------------
  virtual Tensor empty(Shape s) = 0;                                  // uninitialized
  Tensor zeros(Shape s);                                              // empty + fill(0)
  // Uninitialized, of element type d in layout l (bf16: 2 bytes per element, allocated as floats).
  Tensor empty_typed(Shape s, DType d, Layout l);
  virtual void upload(const float* host, Tensor& dst) = 0;           // dst.numel() floats host → device
  virtual void download(const Tensor& src, float* host) = 0;         // src.numel() floats device → host
  std::vector<float> to_host(const Tensor& src);                      // download into a new vector
  Tensor from_host(const std::vector<float>& host, Shape s);         // empty + upload
  virtual void synchronize() {}
  // Size the op workspace once (bytes); ops that need more grow it (never shrink).
  virtual void reserve_workspace(std::size_t bytes) = 0;
  // Give back the workspace beyond `bytes` (free it and reserve `bytes` again) when it holds more: a network plan
  // that needs less than the one before it (the output after a larger style image's strips) does not carry the
  // larger one's workspace. Invalidates pointers into the old workspace (plans re-record their work anyway).
  virtual void trim_workspace(std::size_t bytes) = 0;
  // Changes whenever the workspace moves (grows or is trimmed): recorded work that used it is then stale, so
  // the keys of recordings include it (CPU: always 0).
  virtual std::uint64_t workspace_generation() const { return 0; }
  // Workspace that conv2d_forward / conv2d_backward_data need for these shapes with tensors in `layout` holding
  // `values` (bf16 activations need no staging copies).
  virtual std::size_t conv2d_workspace_bytes(Shape x, Shape w, Layout layout = Layout::nchw,
                                             DType values = DType::f32) = 0;
  // Bytes in use by tensors, workspace and scratch on the device (for memory plans and messages).
  virtual std::size_t bytes_in_use() const = 0;
  // The most bytes_in_use() has been since the backend was made or reset_peak_bytes() was last called.
  virtual std::size_t peak_bytes_in_use() const = 0;
  virtual void reset_peak_bytes() = 0;
  // The part of bytes_in_use() the backend holds from its creation on, in every run (CUDA: the reduction scratch
  // and cuBLAS's workspace; CPU: none).
  virtual std::size_t fixed_bytes() const { return 0; }
  // Memory a new plan may still take on this backend's device (CUDA: cudaMemGetInfo's free bytes; CPU: the
  // kernel's MemAvailable), and where that number comes from, for messages.
  virtual MemoryAvailable memory_available() const = 0;

  // ---- convolution: x (1,Cin,H,W), w (Cout,Cin,K,K) with K odd, b (1,1,1,Cout), y (1,Cout,H,W);
  //      stride 1, zero padding (K-1)/2 ("same"). N > 1 is allowed and loops over samples.
  // y = conv(x, w) + b, then ReLU when fuse_relu.
  virtual void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool fuse_relu) = 0;
  // dx = conv_transpose(dy, w): the gradient of conv2d_forward (without ReLU) with respect to x.
  virtual void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) = 0;
  // The filter w (Cout,Cin,K,K), float32 in activation_layout(), as this backend's convolutions take it at the
  // current precision: w itself, or a copy made now that both conv2d ops accept in w's place and that spares
  // them converting w at every call (CUDA under bf16: channels-last bf16 where both channel counts are multiples
  // of 8). A copy is only good until the precision changes (the convolutions then refuse it).
  // conv_filter_bytes: the bytes such a copy of a (Cout,Cin,K,K) filter takes (0: w itself serves).
  virtual Tensor conv_filter(const Tensor& w) { return w; }
  virtual std::size_t conv_filter_bytes(Shape /*w*/) const { return 0; }

  // ---- layout: y (N,C,H,W) = x (N,C,H,W) reordered into y's layout and element type (they differ in one or
  //      both; no overlap). bf16 activations (CUDA only, NHWC): from float32 rounded to nearest even, and back.
  //      y may also have more channels than x (the extra ones 0) or fewer (x's first ones): the image's gradient
  //      leaves a bf16 network's 8-channel input (split_bf16) cropped to its 3.
  virtual void convert_layout(const Tensor& x, Tensor& y) = 0;
  // y (N,C',H,W) bf16 NHWC, C' ≥ 2C = x (N,C,H,W) float32 (either layout) as two bf16 parts: channels [0,C)
  // bf16(x) (nearest even), [C,2C) bf16(x − bf16(x)), the rest 0. A convolution whose filter repeats its taps
  // for the second part sees x to ~16 significant bits: the image entering a bf16 network, whose 8-bit
  // rounding (a step of 0.5 at 100) would swallow the optimizer's small steps. CUDA only.
  virtual void split_bf16(const Tensor& x, Tensor& y) = 0;

  // ---- activation ---------------------------------------------------------------------------------------
  virtual void relu_forward(const Tensor& x, Tensor& y) = 0;                       // alias: y may be x
  // dx = dy where y > 0 else 0 (y is the ReLU output). alias: dx may be dy or y (VGG-19's backward writes the
  // gradient over the activation it no longer needs).
  virtual void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) = 0;
  // ReLU masks: all that a ReLU backward needs of the ReLU's output, one bit per element. bits (1,1,1,
  // relu_mask_words(n)) holds "y > 0" of element e (in memory order, so either layout) in bit e mod 32 of 32-bit
  // word e / 32, the words in a float tensor's memory. VGG-19 keeps these instead of the activations that only a
  // ReLU backward reads. relu_mask: bits of y (N,C,H,W).
  virtual void relu_mask(const Tensor& y, Tensor& bits) = 0;
  // dx = dy where the element's bit is set, else 0: relu_backward with y's mask. alias: dx may be dy.
  virtual void relu_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx) = 0;

  // ---- pooling: 2x2 window, stride 2, floor mode: x (N,C,H,W) → y (N,C,H/2,W/2) -----------------------
  virtual void pool2d_forward(const Tensor& x, Tensor& y, PoolMode mode) = 0;
  // dx (shape of x) = gradient through the pooling; rows/columns dropped by floor mode get 0.
  // Max: the gradient goes to the first maximum of each window in row-major order. relu_mask: x is a ReLU
  // output and dx is also taken through that ReLU (0 where x <= 0: relu_backward fused in).
  virtual void pool2d_backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, PoolMode mode,
                               bool relu_mask = false) = 0;
  // Pooling masks: all that pool2d_backward(relu_mask = true) needs of a ReLU output x (N,C,H,W), one bit per
  // element as relu_mask's (memory order, either layout): average pooling: x > 0 (relu_mask's bits); max
  // pooling: the element is its window's first maximum and > 0 (0 in the rows/columns floor mode drops).
  // VGG-19 keeps these of a pooled layer instead of the activation. bits (1,1,1,relu_mask_words(n)).
  virtual void pool2d_mask(const Tensor& x, Tensor& bits, PoolMode mode) = 0;
  // dx (N,C,H,W, x's shape and layout) = pool2d_backward(x, y, dy, dx, mode, relu_mask = true) given only x's
  // pooling mask (the same mode's).
  virtual void pool2d_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx, PoolMode mode) = 0;

  // ---- a mask with the output that it describes: each does the two ops named, in one pass over the activation
  //      where the backend can, so that the mask costs no read of its own (by default: the two ops in turn).
  // conv2d_forward(x, w, b, y, fuse_relu = true), then relu_mask(y, bits). CUDA: one pass when the activations
  // are bf16 (the mask comes out of the bias + ReLU pass over y).
  virtual void conv2d_forward_relu_mask(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, Tensor& bits);
  // pool2d_forward(x, y, mode), then pool2d_mask(x, bits, mode). CUDA: one pass over x when x is NHWC with a
  // multiple of 32 channels (every VGG-19 layer).
  virtual void pool2d_forward_mask(const Tensor& x, Tensor& y, Tensor& bits, PoolMode mode);
  // conv2d_forward(x, w, b, y, fuse_relu = true), then pool2d_forward_mask(y, pooled, bits, mode): a layer whose
  // ReLU output only its pooling reads. CUDA, bf16 activations with a multiple of 32 channels: the bias, ReLU,
  // pooling and mask in one pass over the convolution's raw output, which y then holds (never the ReLU output).
  virtual void conv2d_forward_pool_mask(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, Tensor& pooled,
                                        Tensor& bits, PoolMode mode);

  // ---- Gram matrices: f (1,C,H,W) seen as F (C × M), M = H·W ------------------------------------------
  // g (1,1,C,C) = F·Fᵀ (unnormalized).
  virtual void gram(const Tensor& f, Tensor& g) = 0;
  // df (1,C,H,W) = (dg + dgᵀ)·F + beta·df. dg is dL/dG; beta = 0 overwrites, 1 accumulates.
  virtual void gram_backward(const Tensor& dg, const Tensor& f, Tensor& df, float beta) = 0;

  // ---- element-wise (x and y have equal numel unless stated) -----------------------------------------
  virtual void fill(Tensor& y, float value) = 0;
  virtual void copy(const Tensor& x, Tensor& y) = 0;                               // y = x
  virtual void axpy(float a, const Tensor& x, Tensor& y) = 0;                      // y += a·x
  virtual void axpby(float a, const Tensor& x, float b, Tensor& y) = 0;            // y = a·x + b·y
  virtual void scale(Tensor& y, float a) = 0;                                      // y *= a
  virtual void mul(const Tensor& a, const Tensor& b, Tensor& y) = 0;               // y = a ⊙ b; alias ok
  // y (N,C,H,W) = x ⊙ mask broadcast over channels; mask (1,1,H,W). alias: y may be x.
  virtual void mul_mask(const Tensor& x, const Tensor& mask, Tensor& y) = 0;
  // Clamp into [lo, hi]; alias ok.
  virtual void clamp(const Tensor& x, float lo, float hi, Tensor& y) = 0;

  // ---- reductions ---------------------------------------------------------------------------------------
  virtual double dot(const Tensor& x, const Tensor& y) = 0;
  virtual double sum(const Tensor& x) = 0;
  virtual double abs_sum(const Tensor& x) = 0;                                     // L1 norm
  virtual double abs_max(const Tensor& x) = 0;                                     // L∞ norm; NaN if any NaN
  // True when every element is finite.
  virtual bool all_finite(const Tensor& x) = 0;

  // ---- fused loss terms -----------------------------------------------------------------------------------
  // L = scale·Σ w⊙(x − t)²; when grad is given, grad += 2·scale·w⊙(x − t). weight may be null (w = 1);
  // a weight (1,1,H,W) broadcasts over the channels of x (N,C,H,W), else it must match x.
  virtual double sq_diff_loss(const Tensor& x, const Tensor& target, const Tensor* weight, float scale,
                              Tensor* grad) = 0;
  // Total variation of x (N,C,H,W): L1: Σ|x(i+1,j)−x(i,j)| + Σ|x(i,j+1)−x(i,j)|; squared: the same with
  // squares; squared_interior: ½ times the squares of the differences owned by the pixels i < H−1, j < W−1.
  // L = scale·TV; grad (shape of x) += scale·dTV/dx when given. d|u|/du = sign(u), 0 at 0.
  virtual double tv_loss(const Tensor& x, TvMode mode, float scale, Tensor* grad) = 0;

  // ---- deferred values: between begin_deferred() and take_deferred(), sq_diff_loss, tv_loss and matting_loss
  //      return 0 and queue their value instead of blocking the host (on a GPU: a device→host copy and a stream
  //      sync each); queue_reduction queues a reduction the same way (only while deferring: the optimizer's
  //      scalars join the objective's loss values). take_deferred writes the queued values, in call order, to
  //      out and returns their count: one round trip on a GPU, which also brings back `extra` (a small tensor,
  //      extra.numel() floats into extra_out) when given. The blocking reductions above never defer. An L-BFGS
  //      iteration thus reads its loss terms, ‖g‖∞ and its history products back at once.
  //      cancel_deferred() drops the queue (an evaluation that threw; DeferralGuard below).
  static constexpr int kMaxDeferred = 128;
  enum class Reduction { dot, sum, abs_sum, abs_max };  // as the ops of the same names; y only for dot
  void begin_deferred();
  virtual void queue_reduction(Reduction op, const Tensor& x, const Tensor* y = nullptr);
  int take_deferred(double* out, const Tensor* extra = nullptr, float* extra_out = nullptr);  // out: kMaxDeferred
  void cancel_deferred() { deferring_ = false; }
  bool deferring() const { return deferring_; }
  int deferred_count() const { return deferred_count_; }  // values queued so far (the next one's index)

  // ---- recorded device work (CUDA graphs) -------------------------------------------------------------------
  //      record(work) runs `work` (calls of this backend's ops) and returns a Recording that replay() runs again
  //      without the host code that queued it: on a GPU one graph launch instead of a launch per kernel and
  //      library call. It returns nullptr where nothing was recorded (the CPU backend; CUDA with
  //      IMPASTO_CUDA_GRAPHS=0; a capture the driver refused — then the work ran eagerly, and one line says
  //      why). Recordable work depends on nothing the host changes between replays but device memory: the same
  //      tensors, the same scalar arguments, and it neither synchronizes, allocates nor reads back (queued
  //      values only). Values it queued while deferring are queued again by replay() into the same slots with
  //      the same scales, so replay() must find deferred_count() where record() did.
  class Recording {
   public:
    virtual ~Recording() = default;
  };
  virtual std::unique_ptr<Recording> record(const std::function<void()>& work);
  virtual void replay(const Recording& recording);

  // ---- optimizers -----------------------------------------------------------------------------------------
  // One Adam step (Kingma & Ba 2015, Alg. 1) in place on x with moments m, v; t is the 1-based step.
  virtual void adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float beta1, float beta2,
                         float eps, int t) = 0;

  // ---- color ------------------------------------------------------------------------------------------------
  // x (1,3,H,W) RGB in 0..255 → y (1,3,H,W) in `space` (channel 0 = luminance), or back when inverse.
  // alias: y may be x.
  virtual void color_convert(const Tensor& x, Tensor& y, ColorSpace space, bool inverse) = 0;

  // ---- video (Ruder et al. 2016; math in kernels/warp.cuh, shared by both backends) ---------------------
  // y (1,C,H,W) = x warped along flow (1,2,H,W): y(p) = x(p + flow(p)) sampled bilinearly; where p + flow(p)
  // leaves the frame, y = fill (1,C,1,1) (one value per channel, e.g. the mean pixel). y must not overlap x.
  virtual void warp(const Tensor& x, const Tensor& flow, const Tensor& fill, Tensor& y) = 0;
  // The forward-backward consistency test for the current frame: fwd (1,2,H,W) previous → current, bwd
  // (1,2,H,W) current → previous; c (1,1,H,W) = 1 reliable, 0 motion boundary or outside, −1 occluded
  // (unblurred: follow with gaussian_blur and clamp to [0,1] for the reliability weights of DESIGN.md).
  virtual void consistency(const Tensor& fwd, const Tensor& bwd, Tensor& c) = 0;
  // Separable Gaussian blur of every H×W plane of x (N,C,H,W), σ in [0, 10] (0 copies), taps within
  // ceil(3σ), weights renormalized at the border. tmp (shape of x) is scratch. alias: y may be x; tmp must
  // not overlap x or y.
  virtual void gaussian_blur(const Tensor& x, float sigma, Tensor& tmp, Tensor& y) = 0;

  // ---- photorealism (Luan et al. 2017): the matting Laplacian L of a guide image (Levin et al. 2008, 3×3
  //      windows, eq. 12), never stored: L·v from per-window means and covariances of the guide (He, Sun & Tang
  //      2010). Math in kernels/matting.cuh, shared by both backends. ---------------------------------------
  // stats (1,15,H,W) from guide (1,3,H,W) (RGB on a 0..1 scale; H, W ≥ 3; ε > 0): for the 3×3 window centred at
  // each pixel with 1 ≤ i ≤ H−2, 1 ≤ j ≤ W−2, the guide's mean μ (3 planes) and Δ = Σ + ε/9·I₃ (xx, xy, xz, yy, yz,
  // zz) as double-float pairs (6 high planes, 6 low planes), Σ the window's covariance (sums divided by 9); the
  // border pixels' entries are 0 (no window). matting_loss solves with Δ per window in double.
  virtual void matting_prepare(const Tensor& guide, float eps, Tensor& stats) = 0;
  // L = scale·Σ_c v_cᵀ·L·v_c over the planes v_c of v (1,C,H,W), L the matting Laplacian of `guide` (1,3,H,W)
  // whose `stats` matting_prepare made; grad (shape of v) += 2·scale·L·v_c when given. coef (1,4C,H,W) is
  // scratch: per window and plane, the local affine coefficients a (3) and the mean of v. Deferrable like
  // tv_loss. v and grad must not overlap coef.
  virtual double matting_loss(const Tensor& v, const Tensor& guide, const Tensor& stats, float scale, Tensor& coef,
                              Tensor* grad) = 0;

  // ---- dense matrix products over the L-BFGS history (BLAS; the compact L-BFGS of engine/lbfgs_history.cpp) --
  // Matrices are row-major views of tensors (rows of a history matrix: Tensor::slice_rows; a gradient is one row
  // of n). Always fp32 (also under tf32 and bf16): these products feed the optimizer's small solves. Sums run in
  // float in the library's order (not the double accumulation of the reductions).
  // c (1,1,ra,rb) = A·Bᵀ: A is `a` seen as ra×n, B is `b` seen as rb×n (n = a.numel() / ra = b.numel() / rb),
  // so c[i][j] = a_i·b_j: several dot products over long rows in one pass over B (one pass over the history
  // for every right-hand row in a). c must not overlap a or b; its old values are not read.
  virtual void gemm_nt(const Tensor& a, const Tensor& b, Tensor& c) = 0;
  // y (n) = alpha·Aᵀ·x (rows) + beta·y, A is `a` seen as a row-major rows×n matrix with rows = x.numel() and
  // n = y.numel(); beta = 0 overwrites y (its old values, even NaN, are not read). y must not overlap a or x.
  virtual void gemv_t(const Tensor& a, const Tensor& x, float alpha, float beta, Tensor& y) = 0;

 protected:
  // The queue's next slot (a one-line error past kMaxDeferred).
  int next_deferred_slot();
  // Drops the values queued since deferred_count() was `count` (a recording whose capture failed runs its work
  // again eagerly).
  void rewind_deferred(int count);
  // For a loss value the backend already has on the host: queued (returns 0) while deferring, else returned.
  double deliver(double value);
  // Writes the `count` queued values to out and, when extra is given, extra's floats to extra_out. The default
  // serves deliver() and downloads extra; the CUDA backend keeps its queue on the device and overrides this with
  // one round trip.
  virtual void fetch_deferred(double* out, int count, const Tensor* extra, float* extra_out);

 private:
  bool deferring_ = false;
  int deferred_count_ = 0;
  double host_deferred_[kMaxDeferred] = {};
};

// Cancels a deferral still open when it leaves scope: an exception between begin_deferred and take_deferred
// must not leave the next evaluation's begin_deferred facing an open queue.
class DeferralGuard {
 public:
  explicit DeferralGuard(Backend& backend) : backend_(backend) {}
  DeferralGuard(const DeferralGuard&) = delete;
  DeferralGuard& operator=(const DeferralGuard&) = delete;
  ~DeferralGuard() {
    if (backend_.deferring()) backend_.cancel_deferred();
  }

 private:
  Backend& backend_;
};

}  // namespace impasto
