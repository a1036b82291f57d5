// engine/cpu/pool.cpp — 2×2 stride-2 pooling (average or max, floor mode) on the CPU, forward and backward.
// Each H×W plane of x (N,C,H,W) maps to an (H/2)×(W/2) plane of y; a last odd row/column is dropped and
// gets a zero gradient. Max pooling routes the gradient to the first maximum of its window in row-major
// order (the convention cuDNN and PyTorch follow).
#include "engine/cpu/cpu_backend.hpp"
#include "engine/cpu/dims.hpp"
#include "kernels/pool.cuh"
#include "engine/op_checks.hpp"

namespace impasto {
namespace {

// Calls visit(window, out_index, offsets) for every 2×2 window of every plane: window points at the
// window's top-left element in x, offsets are the four element offsets from it in row-major order.
template <typename Visit>
void for_each_window(const Shape& xs, Visit&& visit) {
  const int oh = xs.h / 2, ow = xs.w / 2;
  const std::int64_t offsets[4] = {0, 1, xs.w, std::int64_t(xs.w) + 1};
  const std::int64_t planes = cpu::plane_count(xs);
  for (std::int64_t p = 0; p < planes; ++p) {
    for (int i = 0; i < oh; ++i) {
      for (int j = 0; j < ow; ++j) {
        const std::int64_t top_left = p * xs.plane() + std::int64_t(2 * i) * xs.w + 2 * j;
        const std::int64_t out = (p * oh + i) * ow + j;
        visit(top_left, out, offsets);
      }
    }
  }
}

// Zeroes the rows and columns of dx (N,C,H,W) that floor mode drops: the last one of an odd H or W.
void clear_dropped(const Shape& xs, float* dxv) {
  if (xs.h % 2 == 1 || xs.w % 2 == 1) {
    const std::int64_t planes = cpu::plane_count(xs);
    for (std::int64_t p = 0; p < planes; ++p) {
      float* plane = dxv + p * xs.plane();
      if (xs.w % 2 == 1) {
        for (int i = 0; i < xs.h; ++i) plane[std::int64_t(i) * xs.w + xs.w - 1] = 0.0f;
      }
      if (xs.h % 2 == 1) {
        for (int j = 0; j < xs.w; ++j) plane[std::int64_t(xs.h - 1) * xs.w + j] = 0.0f;
      }
    }
  }
}

}  // namespace

void CpuBackend::pool2d_forward(const Tensor& x, Tensor& y, PoolMode mode) {
  checks::pool2d_forward(x, y, Device::cpu);  // x (N,C,H,W), y (N,C,H/2,W/2)
  const float* xv = x.data();
  float* yv = y.data();
  for_each_window(x.shape(), [&](std::int64_t tl, std::int64_t out, const std::int64_t* off) {
    const float v[4] = {xv[tl + off[0]], xv[tl + off[1]], xv[tl + off[2]], xv[tl + off[3]]};
    yv[out] = math::window_value(v, mode == PoolMode::average);
  });
}

void CpuBackend::pool2d_backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, PoolMode mode,
                                 bool relu_mask) {
  const Shape xs = checks::pool2d_backward(x, y, dy, dx, Device::cpu);  // x, dx (N,C,H,W), y, dy (N,C,H/2,W/2)
  const float* xv = x.data();
  const float* dyv = dy.data();
  float* dxv = dx.data();
  clear_dropped(xs, dxv);
  // Windows do not overlap (stride = size), so each covered element of dx is written exactly once.
  for_each_window(xs, [&](std::int64_t tl, std::int64_t out, const std::int64_t* off) {
    const float v[4] = {xv[tl + off[0]], xv[tl + off[1]], xv[tl + off[2]], xv[tl + off[3]]};
    float d[4];
    math::window_grad(v, dyv[out], mode == PoolMode::average, relu_mask, d);
    for (int k = 0; k < 4; ++k) dxv[tl + off[k]] = d[k];
  });
}

void CpuBackend::pool2d_mask(const Tensor& x, Tensor& bits, PoolMode mode) {
  const Shape xs = checks::pool2d_mask(x, bits, Device::cpu);  // x (N,C,H,W), bits (1,1,1,⌈n/32⌉)
  const bool nhwc = false;  // the CPU computes in NCHW (checked)
  auto* words = reinterpret_cast<unsigned*>(bits.data());
  const std::int64_t n = x.numel();
  for (std::int64_t w = 0; w < bits.numel(); ++w)
    words[w] = math::pool_mask_word<float, std::int64_t>(x.data(), w, n, xs.c, xs.h, xs.w, nhwc,
                                                        mode == PoolMode::average);
}

void CpuBackend::pool2d_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx, PoolMode mode) {
  const Shape xs = checks::pool2d_backward_mask(bits, dy, dx, Device::cpu);  // dx (N,C,H,W), dy (N,C,H/2,W/2)
  const auto* words = reinterpret_cast<const unsigned*>(bits.data());
  const float* dyv = dy.data();
  float* dxv = dx.data();
  clear_dropped(xs, dxv);
  for_each_window(xs, [&](std::int64_t tl, std::int64_t out, const std::int64_t* off) {
    float d[4];
    math::window_grad_masked(words, tl, off, dyv[out], mode == PoolMode::average, d);
    for (int k = 0; k < 4; ++k) dxv[tl + off[k]] = d[k];
  });
}

}  // namespace impasto
