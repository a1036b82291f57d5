// engine/cpu/conv.cpp — "same" 2-D convolution (stride 1, zero padding (K−1)/2) on the CPU by im2col +
// OpenBLAS SGEMM (Chellapilla et al. 2006, "High performance convolutional neural networks for document
// processing"): forward Y = W·col(x) + b (optional fused ReLU); backward-data dcol = Wᵀ·dY, then col2im
// scatters dcol back onto dx. Batches (N > 1) loop over samples; 1×1 kernels skip im2col.
#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "engine/cpu/checks.hpp"
#include "engine/cpu/cpu_backend.hpp"
#include "kernels/pointwise.cuh"

namespace impasto {
namespace {

// Geometry shared by forward and backward: x (N,Cin,H,W), w (Cout,Cin,K,K).
struct ConvGeometry {
  int n, cin, cout, h, w, k, pad;
  int col_rows() const { return cin * k * k; }
  int plane() const { return h * w; }
};

// Checks x-side (x or dx), w, and y-side (y or dy) tensors; returns the geometry.
ConvGeometry check_conv(const Tensor& x, const Tensor& w, const Tensor& y, const char* op, const char* x_name,
                        const char* y_name) {
  cpu::check_tensor(x, op, x_name);
  cpu::check_tensor(w, op, "w");
  const Shape xs = x.shape();  // (N,Cin,H,W)
  const Shape ws = w.shape();  // (Cout,Cin,K,K)
  IMPASTO_CHECK(ws.h == ws.w && ws.h % 2 == 1,
                op << ": kernel w " << ws.str() << " must be square with an odd size K");
  IMPASTO_CHECK(ws.c == xs.c, op << ": w " << ws.str() << " expects " << ws.c << " input channels, " << x_name
                                 << " " << xs.str() << " has " << xs.c);
  cpu::check_shape(y, Shape{xs.n, ws.n, xs.h, xs.w}, op, y_name);  // (N,Cout,H,W)
  cpu::check_no_alias(y, x, op, y_name, x_name);
  cpu::check_no_alias(y, w, op, y_name, "w");
  cpu::check_no_alias(x, w, op, x_name, "w");
  return ConvGeometry{xs.n, xs.c, ws.n, xs.h, xs.w, ws.h, (ws.h - 1) / 2};
}

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

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool fuse_relu) {
  const ConvGeometry g = check_conv(x, w, y, "conv2d_forward", "x", "y");
  cpu::check_shape(b, Shape{1, 1, 1, g.cout}, "conv2d_forward", "b");  // (1,1,1,Cout)
  const int plane = g.plane();
  if (plane == 0 || g.cout == 0) return;
  float* col = g.k == 1 ? nullptr : workspace(conv2d_workspace_bytes(x.shape(), w.shape()) / sizeof(float));
  const float* bias = b.data();
  for (int s = 0; s < g.n; ++s) {
    const float* xs = x.sample(s).data();  // (1,Cin,H,W)
    float* ys = y.sample(s).data();        // (1,Cout,H,W)
    const float* a = xs;
    if (col != nullptr) {
      im2col(g, xs, col);
      a = col;
    }
    // Y (Cout × HW) = W (Cout × Cin·K·K) · col (Cin·K·K × HW)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.cout, plane, g.col_rows(), 1.0f, w.data(),
                cpu::blas_ld(g.col_rows()), a, cpu::blas_ld(plane), 0.0f, ys, cpu::blas_ld(plane));
    for (int co = 0; co < g.cout; ++co) {
      float* row = ys + std::int64_t(co) * plane;
      const float bc = bias[co];
      if (fuse_relu) {
        for (int p = 0; p < plane; ++p) row[p] = math::relu(row[p] + bc);
      } else {
        for (int p = 0; p < plane; ++p) row[p] += bc;
      }
    }
  }
}

void CpuBackend::conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  const ConvGeometry g = check_conv(dx, w, dy, "conv2d_backward_data", "dx", "dy");
  const int plane = g.plane();
  if (plane == 0 || g.cin == 0) return;
  if (g.cout == 0) {  // no output channels: the gradient is zero
    fill(dx, 0.0f);
    return;
  }
  float* col = g.k == 1 ? nullptr : workspace(conv2d_workspace_bytes(dx.shape(), w.shape()) / sizeof(float));
  for (int s = 0; s < g.n; ++s) {
    const float* dys = dy.sample(s).data();  // (1,Cout,H,W)
    float* dxs = dx.sample(s).data();        // (1,Cin,H,W)
    // dcol (Cin·K·K × HW) = Wᵀ (Cin·K·K × Cout) · dY (Cout × HW); a 1×1 kernel writes dx directly.
    float* dcol = col != nullptr ? col : dxs;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g.col_rows(), plane, g.cout, 1.0f, w.data(),
                cpu::blas_ld(g.col_rows()), dys, cpu::blas_ld(plane), 0.0f, dcol, cpu::blas_ld(plane));
    if (col != nullptr) col2im(g, col, dxs);
  }
}

}  // namespace impasto
