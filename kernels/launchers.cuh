// kernels/launchers.cuh — host-side entry points of the custom CUDA kernels (element-wise, reductions, fused
// losses, Adam, masks, pooling backward, color, video warping, the matting Laplacian, the L-BFGS history's skinny
// product) and the one launch-configuration rule they all share. The CUDA backend
// (engine/cuda/*.cu) calls these with raw device pointers; shapes were checked before. Every launcher
// checks its launch (IMPASTO_CUDA_CHECK_LAUNCH); all work is queued on the given stream.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace impasto::kernels {

// ---- launching: IMPASTO_LAUNCH(kernel, grid, block, stream)(args…) is kernel<<<grid, block, 0, stream>>>(args…)
//      under nvcc; a host compiler builds these files only for the CPU kernel emulator of the tests
//      (tests/emu), whose cuda_runtime.h runs each thread as a fiber. ------------------------------------------
#if defined(__CUDACC__)
#define IMPASTO_LAUNCH(kernel, grid, block, stream) kernel<<<(grid), (block), 0, (stream)>>>
#else
#define IMPASTO_LAUNCH(kernel, grid, block, stream) IMPASTO_EMU_LAUNCH(kernel, grid, block, stream)
#endif

// ---- launch configuration: grid-stride loops, 256 threads, at most kMaxBlocks blocks --------------------
constexpr int kThreads = 256;
// Enough blocks to fill an H100/H200 (132 SMs x 8 resident blocks of 256 threads); also the size of the
// reduction partial-sum buffer, so every stage-1 reduction fits it.
constexpr int kMaxBlocks = 1024;
inline int blocks_for(std::int64_t n) {
  return int(std::max<std::int64_t>(1, std::min<std::int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks)));
}

// ---- element-wise (kernels/elementwise.cu); n = element count --------------------------------------------
// fill and axpy (y += a·x): on float32, or on bf16 activations (bf16: computed in float, rounded once).
void fill(void* y, std::int64_t n, float value, bool bf16, cudaStream_t s);
void axpy(float a, const void* x, void* y, std::int64_t n, bool bf16, cudaStream_t s);
// y = a·x + b·y; b == 0 overwrites y without reading it (BLAS convention), so a NaN-poisoned y is fine.
void axpby(float a, const float* x, float b, float* y, std::int64_t n, cudaStream_t s);
void scale(float* y, std::int64_t n, float a, cudaStream_t s);
void mul(const float* a, const float* b, float* y, std::int64_t n, cudaStream_t s);
// y = x ⊙ mask, mask one (H,W) plane broadcast over all N·C planes of x; neighbouring pixels of x lie
// pixel_stride elements apart (1 in NCHW, C in NHWC). x and y float32, or bf16 activations (bf16).
void mul_mask(const void* x, const float* mask, void* y, std::int64_t n, std::int64_t plane,
              std::int64_t pixel_stride, bool bf16, cudaStream_t s);
void clamp(const float* x, float lo, float hi, float* y, std::int64_t n, cudaStream_t s);
// relu_forward, relu_backward, relu_mask and relu_backward_mask: on float32, or on bf16 activations (bf16).
void relu_forward(const void* x, void* y, std::int64_t n, bool bf16, cudaStream_t s);
void relu_backward(const void* y, const void* dy, void* dx, std::int64_t n, bool bf16, cudaStream_t s);
// ReLU masks (math::relu_mask_word): the `count` = ⌈n/32⌉ words of y's n elements; dx = dy where the bit is set.
void relu_mask(const void* y, unsigned* words, std::int64_t count, std::int64_t n, bool bf16, cudaStream_t s);
void relu_backward_mask(const unsigned* words, const void* dy, void* dx, std::int64_t n, bool bf16, cudaStream_t s);
// y (N,C,H,W) = y + b[c], then ReLU when relu; the epilogue of a convolution that cuDNN could not fuse.
// Channels of y lie channel_stride elements apart (H·W in NCHW, 1 in NHWC).
void bias_act(float* y, const float* b, std::int64_t n, int channels, std::int64_t channel_stride, bool relu,
              cudaStream_t s);
// s (C×C) = g + gᵀ (g row-major C×C).
void symmetrize(const float* g, void* out, int c, bool bf16, cudaStream_t s);  // out float32 or bf16 (bf16)
// One Adam step; step_size = lr/(1−β1ᵗ), inv_sqrt_bc2 = 1/sqrt(1−β2ᵗ) (see math::adam_update).
void adam(float* x, const float* g, float* m, float* v, std::int64_t n, float beta1, float beta2, float eps,
          float step_size, float inv_sqrt_bc2, cudaStream_t s);

// ---- pooling (kernels/pool.cu): x, dx (n,c,h,w), dy (n,c,h/2,w/2), all NCHW or all NHWC (nhwc), all float32
//      or all bf16 (bf16); dx's dropped odd row/column is not written ---------------------------------------------
// y = the 2×2 windows' averages (average) or maxima (math::window_value).
void pool_forward(const void* x, void* y, int n, int c, int h, int w, bool nhwc, bool average, bool bf16,
                  cudaStream_t s);
// dx = the gradient through 2×2 average (average) or max pooling (math::window_grad: the first maximum), times
// relu'(x) when relu_mask.
void pool_backward(const void* x, const void* dy, void* dx, int n, int c, int h, int w, bool nhwc, bool average,
                   bool relu_mask, bool bf16, cudaStream_t s);
// The same through the ReLU below, given only x's pooling mask words (math::window_grad_masked).
void pool_backward_mask(const unsigned* words, const void* dy, void* dx, int n, int c, int h, int w, bool nhwc,
                        bool average, bool bf16, cudaStream_t s);
// The `count` = ⌈n·c·h·w/32⌉ words of x's pooling mask (math::pool_mask_word).
void pool_mask(const void* x, unsigned* words, std::int64_t count, int n, int c, int h, int w, bool nhwc,
               bool average, bool bf16, cudaStream_t s);
// pool_forward and pool_mask of x at once: one pass over x where nhwc and c is a multiple of 32 (the lanes of a
// warp pool 32 channels of one window, so each window element's bits make one word; the words of the dropped
// odd row/column follow in a pass over those alone), else the two kernels.
void pool_forward_mask(const void* x, void* y, unsigned* words, std::int64_t count, int n, int c, int h, int w,
                       bool nhwc, bool average, bool bf16, cudaStream_t s);
// The same in one pass over a convolution's raw bf16 output (n,c,h,w) NHWC, c a multiple of 32, h, w ≥ 2, whose
// bias + ReLU (bias_act_bf16) it applies on the way: y and the words are what bias_act_bf16 followed by
// pool_forward_mask would give; conv_out itself is not written.
void bias_relu_pool_mask_bf16(const void* conv_out, const float* bias, void* y, unsigned* words, int n, int c, int h,
                              int w, bool average, cudaStream_t s);

// ---- layouts and the bf16 convolution staging (kernels/convert.cu): 2-byte bf16 buffers passed as void* -------
// y (N, cols, rows) = x (N, rows, cols), float32: NCHW → NHWC with rows = C, cols = H·W; back with them swapped.
void transpose(const float* x, float* y, int n, std::int64_t rows, std::int64_t cols, cudaStream_t s);
// y (N, plane, C) bf16 = x (N, C, plane) float32: channels-last copy (weights: N = Cout, plane = K·K).
void to_bf16_channels_last(const float* x, void* y, int n, int c, std::int64_t plane, cudaStream_t s);
// y (N, C, plane) float32 = x (N, plane, C) bf16 (+ bias[c] when bias is not null, then ReLU when relu).
void from_bf16_channels_last(const void* x, float* y, const float* bias, bool relu, int n, int c, std::int64_t plane,
                             cudaStream_t s);
// y (N, Cy, plane) or (N, plane, Cy) (y_nhwc) = x (N, Cx, ·) in its layout and type, channels c ≥ Cx zero and
// c ≥ Cy dropped; float32 or bf16 on either side.
void convert_channels(const void* x, int cx, bool x_nhwc, bool x_bf16, void* y, int cy, bool y_nhwc, bool y_bf16, int n,
                      std::int64_t plane, cudaStream_t s);
// y (N, plane, Cy) bf16 = x (N, C, ·) float32 in two parts: channels [0,C) bf16(x), [C,2C) bf16(x − bf16(x)),
// the rest 0 (Backend::split_bf16).
void split_bf16(const float* x, int c, bool x_nhwc, void* y, int cy, int n, std::int64_t plane, cudaStream_t s);
// The same without the transposes, for tensors that are channels-last already (NHWC; weights KRSC):
// y = bf16(x), count elements; and y float32 = x (+ bias[i mod c] when bias, then ReLU when relu).
void to_bf16(const float* x, void* y, std::int64_t count, cudaStream_t s);
void from_bf16(const void* x, float* y, const float* bias, bool relu, std::int64_t count, int c, cudaStream_t s);
// y (N,H,W,C) bf16 = y + bias[i mod c] (then ReLU when relu), rounded to bf16 again: the epilogue of a
// convolution whose activations are bf16. relu_words (relu only; else null): also writes the ⌈count/32⌉ words of
// the result's ReLU mask (math::relu_mask_word) in the same pass.
void bias_act_bf16(void* y, const float* bias, std::int64_t count, int c, bool relu, unsigned* relu_words,
                   cudaStream_t s);

// ---- reductions (kernels/reduce.cu): stage 1 writes one double per block into `partials` (kMaxBlocks
//      doubles) and returns the block count; stage 2 (reduce_finish) folds them into out[0]. -------------
enum class ReduceOp { sum, dot, abs_sum, abs_max };
int reduce_partials(ReduceOp op, const float* x, const float* y, std::int64_t n, double* partials, cudaStream_t s);
// Folds `blocks` partials into *out: a sum, or for abs_max a NaN-propagating max.
void reduce_finish(const double* partials, int blocks, bool is_max, double* out, cudaStream_t s);

// ---- the L-BFGS history's skinny product (kernels/blas.cu) ---------------------------------------------------
// c (ra×rb) = a (ra×n)·b (rb×n)ᵀ, all row-major, 1 ≤ ra ≤ kSkinnyMaxRows; `partials` holds
// gemm_nt_skinny_partials(ra, rb, n) floats of scratch. Deterministic: a fixed reduction order.
constexpr int kSkinnyMaxRows = 4;
std::int64_t gemm_nt_skinny_partials(int ra, int rb, std::int64_t n);
void gemm_nt_skinny(const float* a, const float* b, float* c, int ra, int rb, std::int64_t n, float* partials,
                    cudaStream_t s);

// ---- fused losses (kernels/loss.cu): gradient accumulated in place, loss partials as above ------------
// L = scale·Σ w(x−t)², grad += 2·scale·w(x−t) when grad is not null. w null: w = 1; w_plane > 0: w is one
// plane of that size broadcast over channels, neighbouring pixels of x lying w_pixel_stride elements apart
// (1 in NCHW, C in NHWC); w_plane == 0: w has n elements. x, t and grad float32, or bf16 activations (bf16:
// the gradient added in float and rounded once).
int sq_diff_partials(const void* x, const void* t, const float* w, std::int64_t w_plane,
                     std::int64_t w_pixel_stride, float scale, void* grad, std::int64_t n, bool bf16,
                     double* partials, cudaStream_t s);
// Σ TV over `planes` H×W planes (unscaled); grad += scale·dTV/dx when grad is not null. mode: the int of
// impasto::TvMode (kernels/pointwise.cuh).
int tv_partials(const float* x, std::int64_t planes, int h, int w, int mode, float scale, float* grad,
                double* partials, cudaStream_t s);

// ---- the matting Laplacian (kernels/matting.cu, math in kernels/matting.cuh; Levin et al. 2008, He et al. 2010):
//      guide (3,H,W), stats (9,H,W), v (C,H,W), coef (4C,H,W), grad (C,H,W), all NCHW planes; H, W >= 3 ---------
// stats = per window centre μ and (Σ + ε/9·I₃)⁻¹, zeros at the border pixels.
void matting_prepare(const float* guide, float eps, float* stats, int h, int w, cudaStream_t s);
// Σ_c v_cᵀ·L·v_c (unscaled; the host multiplies by scale) into per-block partials; returns the block count.
// coef receives each window's affine fit (a, v̄) of each plane; grad += 2·scale·L·v_c when grad is not null.
int matting_partials(const float* v, const float* guide, const float* stats, float* coef, int channels, int h, int w,
                     float scale, float* grad, double* partials, cudaStream_t s);

// ---- color (kernels/color.cu): x, y (1,3,H,W); space is the int of impasto::ColorSpace; alias ok -----
void color_convert(const float* x, float* y, std::int64_t plane, int space, bool inverse, cudaStream_t s);

// ---- video (kernels/warp.cu, math in kernels/warp.cuh) ------------------------------------------------------
// y (C,H,W) = x (C,H,W) warped along flow (2,H,W); fill: C device floats for sources outside the frame.
void warp(const float* x, const float* flow, const float* fill, float* y, int channels, int h, int w,
          cudaStream_t s);
// c (H,W) = the consistency test of fwd and bwd (each (2,H,W)): 1, 0 or −1 (unblurred).
void consistency(const float* fwd, const float* bwd, float* c, int h, int w, cudaStream_t s);
// y = Gaussian blur of x (planes × H×W) with σ in (0, 10]; tmp (same size) holds the horizontal pass.
void gaussian_blur(const float* x, float* tmp, float* y, std::int64_t planes, int h, int w, float sigma,
                   cudaStream_t s);

}  // namespace impasto::kernels
