// engine/cpu/cpu_backend.hpp — the CPU backend: plain C++ loops calling the shared math of kernels/*.cuh,
// im2col + OpenBLAS SGEMM for convolutions and Gram matrices. The answer key for every GPU result.
// One file per op family: memory.cpp, conv.cpp, pool.cpp, gram.cpp, elementwise.cpp, reduce.cpp,
// loss.cpp, color.cpp, video.cpp, photo.cpp (the matting Laplacian), blas.cpp (GEMV for the compact L-BFGS).
#pragma once

#include <memory>
#include <vector>

#include "engine/backend.hpp"
#include "engine/memory_counter.hpp"

namespace impasto {

class CpuBackend final : public Backend {
 public:
  CpuBackend();
  Device device() const override { return Device::cpu; }
  std::string name() const override;
  void set_precision(Precision) override {}  // always fp32
  Precision precision() const override { return Precision::fp32; }

  Tensor empty(Shape s) override;
  void upload(const float* host, Tensor& dst) override;
  void download(const Tensor& src, float* host) override;
  void reserve_workspace(std::size_t bytes) override;
  void trim_workspace(std::size_t bytes) override;
  std::size_t conv2d_workspace_bytes(Shape x, Shape w, Layout layout = Layout::nchw,
                                     DType values = DType::f32) override;
  std::size_t bytes_in_use() const override;
  std::size_t peak_bytes_in_use() const override;
  void reset_peak_bytes() override;
  MemoryAvailable memory_available() const override;

  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool fuse_relu) override;
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override;
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

 private:
  float* workspace(std::size_t floats);  // grows the im2col buffer when needed
  std::vector<float> workspace_;
  // Live and peak bytes of the tensors handed out by empty() and of the workspace; shared with each storage
  // so that a tensor may outlive the backend.
  std::shared_ptr<MemoryCounter> memory_ = std::make_shared<MemoryCounter>();
};

}  // namespace impasto
