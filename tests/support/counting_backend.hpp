// tests/support/counting_backend.hpp — a Backend that forwards every op to the CPU backend and counts what the
// optimizer tests assert on: tensor allocations (minimize() must make none) and the operations that would
// block the host on a GPU — downloads, reductions that return a value, explicit synchronizations, the round trip
// of each take_deferred — next to uploads and the history products gemm_nt / gemv_t (asynchronous on a GPU).
// `syncs()` is the sum of the blocking ones.
#pragma once

#include <string>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"

namespace impasto::test {

class CountingBackend final : public Backend {
 public:
  int allocations = 0;
  int downloads = 0, reductions = 0, synchronizations = 0;  // blocking on a GPU
  int uploads = 0, history_passes = 0;                       // asynchronous on a GPU (gemm_nt, gemv_t)
  CpuBackend cpu;

  int syncs() const { return downloads + reductions + synchronizations; }

 protected:
  // One round trip for the queued values and the extra tensor riding with them.
  void fetch_deferred(double* out, int count, const Tensor* extra, float* extra_out) override {
    ++reductions;
    Backend::fetch_deferred(out, count, nullptr, nullptr);
    if (extra) cpu.download(*extra, extra_out);
  }

 public:
  Device device() const override { return cpu.device(); }
  std::string name() const override { return "counting " + cpu.name(); }
  void set_precision(Precision p) override { cpu.set_precision(p); }
  Precision precision() const override { return cpu.precision(); }
  Tensor empty(Shape s) override {
    ++allocations;
    return cpu.empty(s);
  }
  void upload(const float* h, Tensor& d) override {
    ++uploads;
    cpu.upload(h, d);
  }
  void download(const Tensor& s, float* h) override {
    ++downloads;
    cpu.download(s, h);
  }
  void synchronize() override { ++synchronizations; }
  void reserve_workspace(std::size_t b) override { cpu.reserve_workspace(b); }
  void trim_workspace(std::size_t b) override { cpu.trim_workspace(b); }
  std::size_t conv2d_workspace_bytes(Shape x, Shape w, Layout layout = Layout::nchw,
                                     DType values = DType::f32) override {
    return cpu.conv2d_workspace_bytes(x, w, layout, values);
  }
  std::size_t bytes_in_use() const override { return cpu.bytes_in_use(); }
  std::size_t peak_bytes_in_use() const override { return cpu.peak_bytes_in_use(); }
  void reset_peak_bytes() override { cpu.reset_peak_bytes(); }
  MemoryAvailable memory_available() const override { return cpu.memory_available(); }
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, bool r) override {
    cpu.conv2d_forward(x, w, b, y, r);
  }
  void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override {
    cpu.conv2d_backward_data(dy, w, dx);
  }
  Layout activation_layout() const override { return cpu.activation_layout(); }
  DType activation_dtype() const override { return cpu.activation_dtype(); }
  void convert_layout(const Tensor& x, Tensor& y) override { cpu.convert_layout(x, y); }
  void split_bf16(const Tensor& x, Tensor& y) override { cpu.split_bf16(x, y); }
  void relu_forward(const Tensor& x, Tensor& y) override { cpu.relu_forward(x, y); }
  void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override { cpu.relu_backward(y, dy, dx); }
  void relu_mask(const Tensor& y, Tensor& bits) override { cpu.relu_mask(y, bits); }
  void relu_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx) override {
    cpu.relu_backward_mask(bits, dy, dx);
  }
  void pool2d_forward(const Tensor& x, Tensor& y, PoolMode m) override { cpu.pool2d_forward(x, y, m); }
  void pool2d_backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, PoolMode m,
                       bool relu_mask = false) override {
    cpu.pool2d_backward(x, y, dy, dx, m, relu_mask);
  }
  void pool2d_mask(const Tensor& x, Tensor& bits, PoolMode m) override { cpu.pool2d_mask(x, bits, m); }
  void pool2d_backward_mask(const Tensor& bits, const Tensor& dy, Tensor& dx, PoolMode m) override {
    cpu.pool2d_backward_mask(bits, dy, dx, m);
  }
  void gram(const Tensor& f, Tensor& g) override { cpu.gram(f, g); }
  void gram_backward(const Tensor& dg, const Tensor& f, Tensor& df, float beta) override {
    cpu.gram_backward(dg, f, df, beta);
  }
  void fill(Tensor& y, float v) override { cpu.fill(y, v); }
  void copy(const Tensor& x, Tensor& y) override { cpu.copy(x, y); }
  void axpy(float a, const Tensor& x, Tensor& y) override { cpu.axpy(a, x, y); }
  void axpby(float a, const Tensor& x, float b, Tensor& y) override { cpu.axpby(a, x, b, y); }
  void scale(Tensor& y, float a) override { cpu.scale(y, a); }
  void mul(const Tensor& a, const Tensor& b, Tensor& y) override { cpu.mul(a, b, y); }
  void mul_mask(const Tensor& x, const Tensor& m, Tensor& y) override { cpu.mul_mask(x, m, y); }
  void clamp(const Tensor& x, float lo, float hi, Tensor& y) override { cpu.clamp(x, lo, hi, y); }
  double dot(const Tensor& x, const Tensor& y) override { return ++reductions, cpu.dot(x, y); }
  double sum(const Tensor& x) override { return ++reductions, cpu.sum(x); }
  double abs_sum(const Tensor& x) override { return ++reductions, cpu.abs_sum(x); }
  double abs_max(const Tensor& x) override { return ++reductions, cpu.abs_max(x); }
  bool all_finite(const Tensor& x) override { return ++reductions, cpu.all_finite(x); }
  // Deferred values block nothing until take_deferred, which counts as one reduction (one round trip).
  void queue_reduction(Reduction op, const Tensor& x, const Tensor* y) override {
    IMPASTO_ASSERT(deferring());
    deliver(op == Reduction::dot ? cpu.dot(x, *y)
            : op == Reduction::sum ? cpu.sum(x)
            : op == Reduction::abs_sum ? cpu.abs_sum(x)
                                       : cpu.abs_max(x));
  }
  double sq_diff_loss(const Tensor& x, const Tensor& t, const Tensor* w, float s, Tensor* g) override {
    if (!deferring()) ++reductions;
    return deliver(cpu.sq_diff_loss(x, t, w, s, g));
  }
  double tv_loss(const Tensor& x, TvMode m, float s, Tensor* g) override {
    if (!deferring()) ++reductions;
    return deliver(cpu.tv_loss(x, m, s, g));
  }
  void adam_step(Tensor& x, const Tensor& g, Tensor& m, Tensor& v, float lr, float b1, float b2, float eps,
                 int t) override {
    cpu.adam_step(x, g, m, v, lr, b1, b2, eps, t);
  }
  void color_convert(const Tensor& x, Tensor& y, ColorSpace s, bool inv) override { cpu.color_convert(x, y, s, inv); }
  void warp(const Tensor& x, const Tensor& f, const Tensor& fill, Tensor& y) override { cpu.warp(x, f, fill, y); }
  void consistency(const Tensor& f, const Tensor& b, Tensor& c) override { cpu.consistency(f, b, c); }
  void gaussian_blur(const Tensor& x, float s, Tensor& t, Tensor& y) override { cpu.gaussian_blur(x, s, t, y); }
  void matting_prepare(const Tensor& guide, float eps, Tensor& stats) override {
    cpu.matting_prepare(guide, eps, stats);
  }
  double matting_loss(const Tensor& v, const Tensor& guide, const Tensor& stats, float s, Tensor& coef,
                      Tensor* g) override {
    if (!deferring()) ++reductions;
    return deliver(cpu.matting_loss(v, guide, stats, s, coef, g));
  }
  void gemm_nt(const Tensor& a, const Tensor& b, Tensor& c) override {
    ++history_passes;
    cpu.gemm_nt(a, b, c);
  }
  void gemv_t(const Tensor& a, const Tensor& x, float alpha, float beta, Tensor& y) override {
    ++history_passes;
    cpu.gemv_t(a, x, alpha, beta, y);
  }
};

}  // namespace impasto::test
