// engine/op_checks.hpp — the argument checks of every backend op, written once for all backends: each op
// validates device, emptiness, shapes and forbidden aliasing through these, so the CPU and CUDA backends
// reject the same calls with the same messages ("conv2d_forward: y has shape (1,4,5,7), expected (1,4,5,6)").
// The generic helpers take the device the backend expects; one function per op family checks a whole call
// and returns what the op needs (shapes, counts). Backend-only limits (cuBLAS's int range, cuDNN's bias
// layout) stay in the backends.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>

#include "engine/tensor.hpp"

namespace impasto::checks {

// ---- generic helpers ----------------------------------------------------------------------------------------

// t is a real (non-null) tensor living on `device`.
void check_tensor(const Tensor& t, Device device, const char* op, const char* name);

// t is a tensor on `device` of exactly shape `want`.
void check_shape(const Tensor& t, Shape want, Device device, const char* op, const char* name);

// Both are tensors on `device` with the same element count (element-wise ops accept any shapes of equal numel).
void check_same_numel(const Tensor& a, const Tensor& b, Device device, const char* op, const char* a_name,
                      const char* b_name);

// The output must not share memory with an input the op still reads after writing the output.
void check_no_alias(const Tensor& out, const Tensor& in, const char* op, const char* out_name, const char* in_name);

// The layout the named tensors of a layout-dependent op share (null entries are skipped): all the same, and
// NHWC only on the CUDA backend (the CPU backend computes in NCHW). Returns it.
using NamedTensor = std::pair<const Tensor*, const char*>;
Layout common_layout(Device device, const char* op, std::initializer_list<NamedTensor> tensors);

// Images, flows and their masks are NCHW on every backend.
void check_nchw(const Tensor& t, const char* op, const char* name);

// x (1,C,H,W) on `device` with N == 1; returns its shape.
Shape single_image(const Tensor& x, Device device, const char* op, const char* name);

// ---- memory ---------------------------------------------------------------------------------------------------

// A shape empty() may allocate: no negative dimension.
void empty(Shape s);

// ---- convolution ----------------------------------------------------------------------------------------------

// Geometry of a "same" convolution: x (N,Cin,H,W), w (Cout,Cin,K,K), y (N,Cout,H,W).
struct ConvShape {
  Shape x, w;
  Layout layout;  // of x, w and y (w in NHWC is cuDNN's KRSC)
  DType values;   // of x and y
};

// x-side (x or dx), w, the bias b when given, and y-side (y or dy) tensors of a convolution: K square and odd,
// channels agree, b (1,1,1,Cout), y of shape (N,Cout,H,W), x not overlapping w, y overlapping neither. All
// float32, or where the backend takes bf16 (`bf16`: CUDA) w may be its own bf16 filter copy
// (Backend::conv_filter) and x and y both bf16 activations (NHWC).
ConvShape conv2d(const Tensor& x, const Tensor& w, const Tensor* b, const Tensor& y, Device device, const char* op,
                 const char* x_name, const char* y_name, bool bf16 = false);

// ---- layout ---------------------------------------------------------------------------------------------------

// x (N,C,H,W) and y (N,C',H,W), differing in layout, element type or channel count (bf16 only on CUDA, NHWC, and
// on one side); y not overlapping x.
void convert_layout(const Tensor& x, const Tensor& y, Device device);

// x (N,C,H,W) float32, y (N,C',H,W) bf16 activations (CUDA, NHWC) with C' ≥ 2C, not overlapping x.
void split_bf16(const Tensor& x, const Tensor& y, Device device);

// ---- pooling (2×2, stride 2, floor mode) ------------------------------------------------------------------

// (N,C,H,W) → (N,C,H/2,W/2).
Shape pooled_shape(const Shape& x);

// x (N,C,H,W), y (N,C,H/2,W/2), y not overlapping x; returns x's shape.
Shape pool2d_forward(const Tensor& x, const Tensor& y, Device device);

// x, dx (N,C,H,W), y, dy (N,C,H/2,W/2), dx overlapping neither x nor dy; returns x's shape.
Shape pool2d_backward(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& dx, Device device);

// ---- activation and element-wise ------------------------------------------------------------------------

// y of x's shape (N,C,H,W); y may be x.
void relu_forward(const Tensor& x, const Tensor& y, Device device);

// dy and dx of y's shape (N,C,H,W); dx may be dy.
void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, Device device);

// y (N,C,H,W) and bits (1,1,1,⌈n/32⌉) for its n elements (Backend::relu_mask), not overlapping. `op` names the
// op in the message (conv2d_forward_relu_mask checks its mask here too).
void relu_mask(const Tensor& y, const Tensor& bits, Device device, const char* op = "relu_mask");

// dx of dy's shape (N,C,H,W), may be dy; bits (1,1,1,⌈n/32⌉) for its elements, overlapping neither.
void relu_backward_mask(const Tensor& bits, const Tensor& dy, const Tensor& dx, Device device);

// x (N,C,H,W) and bits (1,1,1,⌈n/32⌉) for its n elements (Backend::pool2d_mask), not overlapping; returns x's shape.
Shape pool2d_mask(const Tensor& x, const Tensor& bits, Device device, const char* op = "pool2d_mask");

// bits for dx's elements, dy (N,C,H/2,W/2) for dx (N,C,H,W), dx overlapping neither; returns dx's shape.
Shape pool2d_backward_mask(const Tensor& bits, const Tensor& dy, const Tensor& dx, Device device);

// y float32, or (CUDA) bf16 activations; returns its element type.
DType fill(const Tensor& y, Device device);

// x and y of equal element count and one element type: float32, or (CUDA) bf16 activations (copy, axpy);
// returns it.
DType same_numel_values(const Tensor& x, const Tensor& y, Device device, const char* op);

// a, b and y of equal element count.
void mul(const Tensor& a, const Tensor& b, const Tensor& y, Device device);

// x (N,C,H,W), mask (1,1,H,W), y (N,C,H,W) (may be x); returns x's shape.
Shape mul_mask(const Tensor& x, const Tensor& mask, const Tensor& y, Device device);

// A non-empty range [lo, hi]; x and y of equal element count (y may be x).
void clamp(const Tensor& x, float lo, float hi, const Tensor& y, Device device);

// ---- losses and Adam ------------------------------------------------------------------------------------------

// x, target, grad (N,C,H,W); weight either (N,C,H,W) or one (1,1,H,W) plane broadcast over every channel and
// sample. Returns the weight's plane size H·W when it is broadcast, 0 when it matches x or is absent.
std::int64_t sq_diff_loss(const Tensor& x, const Tensor& target, const Tensor* weight, const Tensor* grad,
                          Device device);

// x, grad (N,C,H,W), grad not overlapping x (the stencil reads neighbours of what it writes); returns x's shape.
Shape tv_loss(const Tensor& x, const Tensor* grad, Device device);

// g, m, v of x's element count, t >= 1, betas in [0, 1).
void adam_step(const Tensor& x, const Tensor& g, const Tensor& m, const Tensor& v, float beta1, float beta2, int t,
               Device device);

// ---- color ------------------------------------------------------------------------------------------------------

// x, y (1,3,H,W); y is x or does not overlap it (each pixel reads its inputs before writing). Returns x's shape.
Shape color_convert(const Tensor& x, const Tensor& y, Device device);

// ---- video ------------------------------------------------------------------------------------------------------

// x, y (1,C,H,W), flow (1,2,H,W), fill (1,C,1,1), y overlapping neither x nor flow; returns x's shape.
Shape warp(const Tensor& x, const Tensor& flow, const Tensor& fill, const Tensor& y, Device device);

// fwd, bwd (1,2,H,W), c (1,1,H,W) overlapping neither; returns fwd's shape.
Shape consistency(const Tensor& fwd, const Tensor& bwd, const Tensor& c, Device device);

// x, tmp, y (N,C,H,W), sigma in [0, 10], tmp overlapping neither x nor y; returns x's shape.
Shape gaussian_blur(const Tensor& x, float sigma, const Tensor& tmp, const Tensor& y, Device device);

// ---- photorealism: the matting Laplacian (kernels/matting.cuh) -------------------------------------------------

// guide (1,3,H,W) with H, W >= 3, stats (1,15,H,W) not overlapping it, eps positive and finite, both NCHW;
// returns guide's shape.
Shape matting_prepare(const Tensor& guide, float eps, const Tensor& stats, Device device);

// v (1,C,H,W), guide (1,3,H,W) with H, W >= 3, stats (1,15,H,W), coef (1,4C,H,W), grad of v's shape when given,
// all NCHW; coef overlapping none of v, guide, stats, grad; grad overlapping none of v, guide, stats. Returns v's
// shape.
Shape matting_loss(const Tensor& v, const Tensor& guide, const Tensor& stats, const Tensor& coef, const Tensor* grad,
                   Device device);

// ---- Gram matrices ------------------------------------------------------------------------------------------

// f (1,C,H,W), g (1,1,C,C) not overlapping f; returns C.
int gram(const Tensor& f, const Tensor& g, Device device);

// f (1,C,H,W), dg (1,1,C,C), df (1,C,H,W) overlapping neither; returns C.
int gram_backward(const Tensor& dg, const Tensor& f, const Tensor& df, Device device);

// ---- history products (GEMM / GEMV) ----------------------------------------------------------------------------

struct GemmDims {
  int ra, rb, n;
};

// A gemm_nt call c (1,1,ra,rb) = a (ra×n)·b (rb×n)ᵀ: c of that shape, a and b holding ra·n and rb·n elements,
// sizes within the int range of the BLAS named `blas` ("BLAS", "cuBLAS"), c overlapping neither a nor b.
GemmDims gemm_nt(const Tensor& a, const Tensor& b, const Tensor& c, Device device, const char* blas);

struct GemvDims {
  int rows, n;
};

// A gemv_t call where a (rows×n) maps x (rows) to y (n): rows·n elements in a, sizes within the int range of
// `blas`, y overlapping neither a nor x. Returns {rows, n} as ints.
GemvDims gemv_t(const Tensor& a, const Tensor& x, const Tensor& y, Device device, const char* blas);

}  // namespace impasto::checks
