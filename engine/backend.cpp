// engine/backend.cpp — the backend-independent parts of the seam: host transfers and deferred values.
#include "engine/backend.hpp"

#include "engine/error.hpp"

namespace impasto {

Tensor Backend::zeros(Shape s) {
  Tensor t = empty(s);
  fill(t, 0.0f);
  return t;
}

Tensor Backend::empty_typed(Shape s, DType d, Layout l) {
  if (d == DType::f32) return empty(s).with_layout(l);
  return empty(Shape{1, 1, 1, int(storage_bytes(s.numel(), d) / sizeof(float))}).viewed_as(d, s).with_layout(l);
}

std::vector<float> Backend::to_host(const Tensor& src) {
  std::vector<float> host(std::size_t(src.numel()));
  download(src, host.data());
  return host;
}

Tensor Backend::from_host(const std::vector<float>& host, Shape s) {
  IMPASTO_CHECK(std::int64_t(host.size()) == s.numel(),
                "from_host: " << host.size() << " values for shape " << s.str());
  Tensor t = empty(s);
  upload(host.data(), t);
  return t;
}

void Backend::begin_deferred() {
  IMPASTO_ASSERT(!deferring_);
  deferring_ = true;
  deferred_count_ = 0;
}

void Backend::queue_reduction(Reduction op, const Tensor& x, const Tensor* y) {
  IMPASTO_ASSERT(deferring_ && (op == Reduction::dot) == (y != nullptr));
  double v = 0;
  switch (op) {
    case Reduction::dot: v = dot(x, *y); break;
    case Reduction::sum: v = sum(x); break;
    case Reduction::abs_sum: v = abs_sum(x); break;
    case Reduction::abs_max: v = abs_max(x); break;
  }
  deliver(v);
}

int Backend::take_deferred(double* out, const Tensor* extra, float* extra_out) {
  IMPASTO_ASSERT(deferring_ && (extra == nullptr) == (extra_out == nullptr));
  deferring_ = false;  // first: a failing transfer leaves the backend usable
  fetch_deferred(out, deferred_count_, extra, extra_out);
  return deferred_count_;
}

int Backend::next_deferred_slot() {
  IMPASTO_CHECK(deferred_count_ < kMaxDeferred,
                "more than " << kMaxDeferred << " loss terms in one evaluation (styles x style layers too many)");
  return deferred_count_++;
}

void Backend::rewind_deferred(int count) {
  IMPASTO_ASSERT(deferring_ && count >= 0 && count <= deferred_count_);
  deferred_count_ = count;
}

void Backend::conv2d_forward_relu_mask(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, Tensor& bits) {
  conv2d_forward(x, w, b, y, /*fuse_relu=*/true);
  relu_mask(y, bits);
}

void Backend::pool2d_forward_mask(const Tensor& x, Tensor& y, Tensor& bits, PoolMode mode) {
  pool2d_forward(x, y, mode);
  pool2d_mask(x, bits, mode);
}

void Backend::conv2d_forward_pool_mask(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y, Tensor& pooled,
                                       Tensor& bits, PoolMode mode) {
  conv2d_forward(x, w, b, y, /*fuse_relu=*/true);
  pool2d_forward_mask(y, pooled, bits, mode);
}

std::unique_ptr<Backend::Recording> Backend::record(const std::function<void()>& work) {
  work();  // nothing to record on the host: the work ran, and runs again each time
  return nullptr;
}

void Backend::replay(const Recording&) { IMPASTO_ASSERT(!"replay of a recording this backend never made"); }

double Backend::deliver(double value) {
  if (!deferring_) return value;
  host_deferred_[next_deferred_slot()] = value;
  return 0.0;
}

void Backend::fetch_deferred(double* out, int count, const Tensor* extra, float* extra_out) {
  for (int i = 0; i < count; ++i) out[i] = host_deferred_[i];
  if (extra) download(*extra, extra_out);
}

}  // namespace impasto
