// engine/cpu/conv.cpp — "same" 2-D convolution (stride 1, zero padding (K−1)/2) on the CPU, all of it OpenBLAS
// SGEMM, by one of two methods (engine/cpu/conv_method.hpp), chosen per layer shape:
// - im2col (Chellapilla et al. 2006, "High performance convolutional neural networks for document
//   processing"): forward Y = W·col(x) + b; backward-data dcol = Wᵀ·dY, then col2im scatters dcol onto dx.
//   Its col matrix is K² copies of the input: cheap for small planes, memory-bound for large ones.
// - shifted GEMMs (a variant of kn2row: Vasudevan, Anderson & Gregg 2017, "Parallel multi channel
//   convolution using general matrix multiplication", one GEMM per kernel tap): zero-pad the input once to (H+2p)×(W+2p); on that
//   padded grid tap t = (ki,kj) is a pointer offset ki·(W+2p)+kj, so Y_pad += W_t · X_pad[shift_t] is a plain
//   SGEMM with leading dimension (H+2p)(W+2p) and no copies. The output rows carry 2p junk columns, dropped
//   (with bias and ReLU applied) when a row strip is copied out; strips keep the accumulator in cache.
//   Backward-data is the same convolution of the padded dY with the flipped, transposed taps W_{K²−1−t}ᵀ.
// Batches (N > 1) loop over samples; 1×1 kernels multiply x directly. Bias is written into the output
// before the SGEMM (beta = 1), so only a fused ReLU needs a pass of its own.
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "engine/cpu/conv_method.hpp"
#include "engine/cpu/cpu_backend.hpp"
#include "engine/cpu/dims.hpp"
#include "engine/op_checks.hpp"
#include "kernels/pointwise.cuh"

namespace impasto {
namespace cpu {
namespace {
std::atomic<ConvMethod> forced_method{ConvMethod::automatic};
}  // namespace

void set_conv_method(ConvMethod method) { forced_method = method; }
ConvMethod conv_method() { return forced_method; }

}  // namespace cpu

namespace {

using cpu::ConvMethod;

// Columns (output pixels, junk included) of one row strip of the shifted method: the strip accumulator then
// stays in L2 for the channel counts that use the method (64 × 4096 floats = 1 MiB), while each SGEMM is still
// wide enough to amortize packing its tap matrix (narrower strips lose at 64 channels, a whole plane gains
// nothing: perf/RESULTS.md).
constexpr int kStripColumns = 4096;
// Workspace sub-buffers start on 64-byte boundaries.
constexpr std::int64_t kAlignFloats = 16;

std::int64_t align_up(std::int64_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

// Geometry shared by forward and backward: x (N,Cin,H,W), w (Cout,Cin,K,K).
struct ConvGeometry {
  int n, cin, cout, h, w, k, pad;
  int col_rows() const { return cin * k * k; }
  int plane() const { return h * w; }
  int taps() const { return k * k; }
  int padded_w() const { return w + 2 * pad; }
  std::int64_t padded_plane() const { return std::int64_t(h + 2 * pad) * padded_w(); }
};

// One direction of the convolution: `src_c` channels in, `dst_c` channels out. Forward: x → y (Cin → Cout);
// backward-data: dy → dx (Cout → Cin).
struct Direction {
  int src_c, dst_c;
};
Direction forward_direction(const ConvGeometry& g) { return {g.cin, g.cout}; }
Direction backward_direction(const ConvGeometry& g) { return {g.cout, g.cin}; }

ConvGeometry geometry(Shape x, Shape w) { return ConvGeometry{x.n, x.c, w.n, x.h, x.w, w.h, (w.h - 1) / 2}; }

// Checks x-side (x or dx), w, the bias when given and y-side (y or dy) tensors (engine/op_checks.hpp);
// returns the geometry.
ConvGeometry check_conv(const Tensor& x, const Tensor& w, const Tensor* b, const Tensor& y, const char* op,
                        const char* x_name, const char* y_name) {
  const checks::ConvShape s = checks::conv2d(x, w, b, y, Device::cpu, op, x_name, y_name);
  return geometry(s.x, s.w);
}

// ---- method choice and workspace ---------------------------------------------------------------------------

enum class Method { direct, im2col, shifted };

// Automatic choice by the memory each method moves per sample besides the SGEMM operands they share:
// im2col writes and reads K²·src_c·H·W floats; shifted GEMMs copy the K²·Cin·Cout weights per call and compute
// 2p junk columns per row. So shifted GEMMs win on large planes with many channels, im2col on small planes with
// many channels and on 3-channel inputs, where the K² GEMMs are only 3 deep (per-layer times: perf/RESULTS.md).
Method choose_method(const ConvGeometry& g, Direction d) {
  if (g.k == 1) return Method::direct;
  switch (cpu::conv_method()) {
    case ConvMethod::im2col: return Method::im2col;
    case ConvMethod::shifted: return Method::shifted;
    case ConvMethod::automatic: break;
  }
  const bool large_plane = g.plane() >= 4096 && std::int64_t(g.plane()) >= 8 * std::int64_t(d.dst_c);
  const bool wide_taps = std::min(g.cin, g.cout) >= 16;  // im2col's one deep SGEMM beats K² shallow ones
  const bool long_rows = g.w >= 8 * g.pad;               // junk columns ≤ 20 % of the SGEMM work
  return large_plane && wide_taps && long_rows ? Method::shifted : Method::im2col;
}

// Rows of one strip of the shifted method (at least 1, at most H).
int strip_rows(const ConvGeometry& g) {
  return std::clamp((kStripColumns + g.padded_w() - 1) / g.padded_w(), 1, g.h);
}

// The shifted method's workspace, in order: the padded source (src_c planes of (H+2p)×(W+2p), plus K−1
// floats the last taps of the last row read past its end), the weights as K² tap matrices (K², Cout, Cin),
// the strip accumulator (dst_c × strip rows × (W+2p)).
struct ShiftedLayout {
  std::int64_t padded, taps, strip, total;  // offsets (floats) and the total
};
ShiftedLayout shifted_layout(const ConvGeometry& g, Direction d) {
  ShiftedLayout l{};
  l.padded = 0;
  l.taps = align_up(std::int64_t(d.src_c) * g.padded_plane() + (g.k - 1));
  l.strip = l.taps + align_up(std::int64_t(g.taps()) * g.cout * g.cin);
  l.total = l.strip + std::int64_t(d.dst_c) * strip_rows(g) * g.padded_w();
  return l;
}

std::int64_t workspace_floats(const ConvGeometry& g, Direction d) {
  switch (choose_method(g, d)) {
    case Method::direct: return 0;
    case Method::im2col: return std::int64_t(g.col_rows()) * g.plane();  // (Cin·K·K) × (H·W), both directions
    case Method::shifted: return shifted_layout(g, d).total;
  }
  return 0;
}

// What forward and backward-data of this shape need, so that one reservation serves both.
std::int64_t workspace_floats(const ConvGeometry& g) {
  return std::max(workspace_floats(g, forward_direction(g)), workspace_floats(g, backward_direction(g)));
}

// ---- im2col ----------------------------------------------------------------------------------------------

// The valid output columns [j0, j1) for kernel column offset kj: those whose input column j + kj − pad
// lies inside [0, W).
void valid_columns(const ConvGeometry& g, int kj, int* j0, int* j1) {
  const int shift = kj - g.pad;
  *j0 = std::max(0, -shift);
  *j1 = std::min(g.w, g.w - shift);
}

// col (Cin·K·K) × (H·W): row (c,ki,kj), column (i,j) holds x[c, i+ki−pad, j+kj−pad] or 0 outside.
void im2col(const ConvGeometry& g, const float* x, float* col) {
  const std::int64_t plane = g.plane();
  for (int c = 0; c < g.cin; ++c) {
    for (int ki = 0; ki < g.k; ++ki) {
      for (int kj = 0; kj < g.k; ++kj) {
        float* row = col + (std::int64_t(c * g.k + ki) * g.k + kj) * plane;
        int j0, j1;
        valid_columns(g, kj, &j0, &j1);
        const int shift = kj - g.pad;
        for (int i = 0; i < g.h; ++i) {
          float* out = row + std::int64_t(i) * g.w;
          const int ii = i + ki - g.pad;
          if (ii < 0 || ii >= g.h || j0 >= j1) {
            std::fill(out, out + g.w, 0.0f);
            continue;
          }
          const float* in = x + c * plane + std::int64_t(ii) * g.w;
          std::fill(out, out + j0, 0.0f);
          std::memcpy(out + j0, in + j0 + shift, std::size_t(j1 - j0) * sizeof(float));
          std::fill(out + j1, out + g.w, 0.0f);
        }
      }
    }
  }
}

// The adjoint of im2col: dx[c, i+ki−pad, j+kj−pad] += col[(c,ki,kj), (i,j)]; dx is overwritten.
void col2im(const ConvGeometry& g, const float* col, float* dx) {
  const std::int64_t plane = g.plane();
  std::fill(dx, dx + g.cin * plane, 0.0f);
  for (int c = 0; c < g.cin; ++c) {
    for (int ki = 0; ki < g.k; ++ki) {
      for (int kj = 0; kj < g.k; ++kj) {
        const float* row = col + (std::int64_t(c * g.k + ki) * g.k + kj) * plane;
        int j0, j1;
        valid_columns(g, kj, &j0, &j1);
        const int shift = kj - g.pad;
        for (int i = 0; i < g.h; ++i) {
          const int ii = i + ki - g.pad;
          if (ii < 0 || ii >= g.h) continue;
          const float* in = row + std::int64_t(i) * g.w;
          float* out = dx + c * plane + std::int64_t(ii) * g.w + shift;
          for (int j = j0; j < j1; ++j) out[j] += in[j];
        }
      }
    }
  }
}

// ---- shifted GEMMs -----------------------------------------------------------------------------------------

// taps (K², Cout, Cin): taps[t][co][ci] = w[co][ci][t], t = ki·K + kj.
void relayout_taps(const ConvGeometry& g, const float* w, float* taps) {
  const int t_count = g.taps();
  const std::int64_t tap_floats = std::int64_t(g.cout) * g.cin;
  for (int co = 0; co < g.cout; ++co) {
    for (int ci = 0; ci < g.cin; ++ci) {
      const float* src = w + (std::int64_t(co) * g.cin + ci) * t_count;
      float* dst = taps + std::int64_t(co) * g.cin + ci;
      for (int t = 0; t < t_count; ++t) dst[t * tap_floats] = src[t];
    }
  }
}

// src_pad (C × (H+2p) × (W+2p)) = src (C × H × W) with a zero border, then K−1 zero floats.
void pad_planes(const ConvGeometry& g, int channels, const float* src, float* src_pad) {
  const int wp = g.padded_w();
  const std::int64_t border = std::int64_t(g.pad) * wp;  // p padded rows
  float* out = src_pad;
  for (int c = 0; c < channels; ++c) {
    out = std::fill_n(out, border, 0.0f);
    for (int i = 0; i < g.h; ++i) {
      out = std::fill_n(out, g.pad, 0.0f);
      out = std::copy_n(src + (std::int64_t(c) * g.h + i) * g.w, g.w, out);
      out = std::fill_n(out, g.pad, 0.0f);
    }
    out = std::fill_n(out, border, 0.0f);
  }
  std::fill_n(out, g.k - 1, 0.0f);
}

// dst (dst_c × H × W) = Σ_t A_t · shift_t(src_pad) (+ bias, ReLU), one strip of output rows at a time. A_t is
// taps[t] (Cout × Cin) forward, taps[K²−1−t]ᵀ backward. Strip column (ii, j), j < W+2p, is output (i0+ii, j)
// for j < W and junk otherwise; tap (ki,kj) reads src_pad[(i0+ii+ki)·(W+2p) + j + kj].
void shifted_conv(const ConvGeometry& g, Direction d, bool transpose, const float* taps, const float* src_pad,
                  const float* bias, bool relu, float* strip, float* dst) {
  const int wp = g.padded_w();
  const int rows = strip_rows(g);
  const int t_count = g.taps();
  const std::int64_t tap_floats = std::int64_t(g.cout) * g.cin;
  for (int i0 = 0; i0 < g.h; i0 += rows) {
    const int n = std::min(rows, g.h - i0) * wp;  // strip columns
    if (bias != nullptr) {
      for (int c = 0; c < d.dst_c; ++c) std::fill_n(strip + std::int64_t(c) * n, n, bias[c]);
    }
    for (int t = 0; t < t_count; ++t) {
      const float* a = taps + (transpose ? t_count - 1 - t : t) * tap_floats;
      const float* b = src_pad + std::int64_t(i0 + t / g.k) * wp + t % g.k;
      const float beta = (bias != nullptr || t > 0) ? 1.0f : 0.0f;
      // strip (dst_c × n) += A_t (dst_c × src_c) · B_t (src_c × n, row stride (H+2p)(W+2p))
      cblas_sgemm(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, CblasNoTrans, d.dst_c, n, d.src_c, 1.0f, a,
                  cpu::blas_ld(g.cin), b, cpu::blas_ld(g.padded_plane()), beta, strip, cpu::blas_ld(n));
    }
    for (int c = 0; c < d.dst_c; ++c) {
      for (int i = i0; i < i0 + n / wp; ++i) {
        const float* in = strip + std::int64_t(c) * n + std::int64_t(i - i0) * wp;
        float* out = dst + (std::int64_t(c) * g.h + i) * g.w;
        if (relu) {
          for (int j = 0; j < g.w; ++j) out[j] = math::relu(in[j]);
        } else {
          std::copy_n(in, g.w, out);
        }
      }
    }
  }
}

// ---- per-sample drivers ----------------------------------------------------------------------------------

// y (Cout × HW) = b (+ ReLU) + W · a, a = x (1×1) or col(x) (Cin·K·K × HW).
void gemm_forward(const ConvGeometry& g, const float* w, const float* a, const float* bias, bool relu, float* y) {
  const std::int64_t plane = g.plane();
  for (int co = 0; co < g.cout; ++co) std::fill_n(y + co * plane, plane, bias[co]);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.cout, g.plane(), g.col_rows(), 1.0f, w,
              cpu::blas_ld(g.col_rows()), a, cpu::blas_ld(plane), 1.0f, y, cpu::blas_ld(plane));
  if (relu) {
    for (std::int64_t p = 0; p < g.cout * plane; ++p) y[p] = math::relu(y[p]);
  }
}

}  // namespace

std::size_t CpuBackend::conv2d_workspace_bytes(Shape x, Shape w, Layout, DType) {
  return std::size_t(workspace_floats(geometry(x, w))) * sizeof(float);
}

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool fuse_relu) {
  const ConvGeometry g = check_conv(x, w, &b, y, "conv2d_forward", "x", "y");  // b (1,1,1,Cout)
  if (g.plane() == 0 || g.cout == 0) return;
  const Direction d = forward_direction(g);
  const Method method = choose_method(g, d);
  float* ws = workspace(std::size_t(workspace_floats(g)));
  const ShiftedLayout l = shifted_layout(g, d);
  if (method == Method::shifted) relayout_taps(g, w.data(), ws + l.taps);
  for (int s = 0; s < g.n; ++s) {
    const float* xs = x.sample(s).data();  // (1,Cin,H,W)
    float* ys = y.sample(s).data();        // (1,Cout,H,W)
    switch (method) {
      case Method::direct: gemm_forward(g, w.data(), xs, b.data(), fuse_relu, ys); break;
      case Method::im2col:
        im2col(g, xs, ws);
        gemm_forward(g, w.data(), ws, b.data(), fuse_relu, ys);
        break;
      case Method::shifted:
        pad_planes(g, d.src_c, xs, ws + l.padded);
        shifted_conv(g, d, false, ws + l.taps, ws + l.padded, b.data(), fuse_relu, ws + l.strip, ys);
        break;
    }
  }
}

void CpuBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  const ConvGeometry g = check_conv(dx, w, nullptr, dy, "conv2d_backward_data", "dx", "dy");
  if (g.plane() == 0 || g.cin == 0) return;
  if (g.cout == 0) {  // no output channels: the gradient is zero
    fill(dx, 0.0f);
    return;
  }
  const Direction d = backward_direction(g);
  const Method method = choose_method(g, d);
  float* ws = workspace(std::size_t(workspace_floats(g)));
  const ShiftedLayout l = shifted_layout(g, d);
  if (method == Method::shifted) relayout_taps(g, w.data(), ws + l.taps);
  const int plane = g.plane();
  for (int s = 0; s < g.n; ++s) {
    const float* dys = dy.sample(s).data();  // (1,Cout,H,W)
    float* dxs = dx.sample(s).data();        // (1,Cin,H,W)
    if (method == Method::shifted) {
      pad_planes(g, d.src_c, dys, ws + l.padded);
      shifted_conv(g, d, true, ws + l.taps, ws + l.padded, nullptr, false, ws + l.strip, dxs);
      continue;
    }
    // dcol (Cin·K·K × HW) = Wᵀ (Cin·K·K × Cout) · dY (Cout × HW); a 1×1 kernel writes dx directly.
    float* dcol = method == Method::im2col ? ws : dxs;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.col_rows(), plane, g.cout, 1.0f, w.data(),
                cpu::blas_ld(g.col_rows()), dys, cpu::blas_ld(plane), 0.0f, dcol, cpu::blas_ld(plane));
    if (method == Method::im2col) col2im(g, ws, dxs);
  }
}

}  // namespace impasto
