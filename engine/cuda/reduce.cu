// engine/cuda/reduce.cu — reductions on the CUDA backend (dot, sum, L1, L∞, all_finite): a two-stage block
// reduction in double (kernels/reduce.cu) into the scratch allocated at construction, then one 8-byte copy
// to pinned host memory and one stream synchronization — the only device→host traffic an op needs. Loss
// values and queued reductions asked for while deferring (Backend::begin_deferred) stay in device slots after
// the partials until fetch_deferred brings them all back in one copy.
#include <cmath>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

double CudaBackend::finish_reduction(int blocks, bool is_max, bool deferrable, double scale) {
  if (deferrable && deferring()) {
    // Stage 2 into the queue's slot on the device; the next stage 1 may reuse the partials (same stream).
    const int slot = next_deferred_slot();
    kernels::reduce_finish(partials(), blocks, is_max, deferred_slots() + slot, stream_);
    deferred_scale_[slot] = scale;
    return 0.0;
  }
  double* out = partials() + kernels::kMaxBlocks;
  kernels::reduce_finish(partials(), blocks, is_max, out, stream_);
  IMPASTO_CUDA_CHECK(cudaMemcpyAsync(result_.as<double>(), out, sizeof(double), cudaMemcpyDeviceToHost, stream_));
  synchronize();
  return scale * *result_.as<double>();
}

void CudaBackend::fetch_deferred(double* out, int count, const Tensor* extra, float* extra_out) {
  if (count > 0)
    IMPASTO_CUDA_CHECK(cudaMemcpyAsync(result_.as<double>(), deferred_slots(), std::size_t(count) * sizeof(double),
                                       cudaMemcpyDeviceToHost, stream_));
  // Queued behind the values on the same stream; a copy into pageable memory returns when it is done, so the
  // synchronize below waits for nothing more: one round trip for both.
  if (extra) {
    checks::check_tensor(*extra, Device::cuda, "take_deferred", "extra");
    IMPASTO_CUDA_CHECK(cudaMemcpyAsync(extra_out, extra->data(), std::size_t(extra->numel()) * sizeof(float),
                                       cudaMemcpyDeviceToHost, stream_));
  }
  if (count == 0 && !extra) return;
  synchronize();
  for (int i = 0; i < count; ++i) out[i] = deferred_scale_[i] * result_.as<double>()[i];
}

int CudaBackend::reduce_partials(Reduction op, const Tensor& x, const Tensor* y, const char* name) {
  kernels::ReduceOp k = kernels::ReduceOp::sum;
  switch (op) {
    case Reduction::dot: k = kernels::ReduceOp::dot; break;
    case Reduction::sum: k = kernels::ReduceOp::sum; break;
    case Reduction::abs_sum: k = kernels::ReduceOp::abs_sum; break;
    case Reduction::abs_max: k = kernels::ReduceOp::abs_max; break;
  }
  if (y)
    checks::check_same_numel(x, *y, Device::cuda, name, "x", "y");
  else
    checks::check_tensor(x, Device::cuda, name, "x");
  return kernels::reduce_partials(k, x.data(), y ? y->data() : nullptr, x.numel(), partials(), stream_);
}

double CudaBackend::dot(const Tensor& x, const Tensor& y) {
  return finish_reduction(reduce_partials(Reduction::dot, x, &y, "dot"), false);
}

double CudaBackend::sum(const Tensor& x) {
  return finish_reduction(reduce_partials(Reduction::sum, x, nullptr, "sum"), false);
}

double CudaBackend::abs_sum(const Tensor& x) {
  return finish_reduction(reduce_partials(Reduction::abs_sum, x, nullptr, "abs_sum"), false);
}

double CudaBackend::abs_max(const Tensor& x) {
  return finish_reduction(reduce_partials(Reduction::abs_max, x, nullptr, "abs_max"), true);
}

void CudaBackend::queue_reduction(Reduction op, const Tensor& x, const Tensor* y) {
  IMPASTO_ASSERT(deferring() && (op == Reduction::dot) == (y != nullptr));
  const int blocks = reduce_partials(op, x, y, "queue_reduction");
  finish_reduction(blocks, op == Reduction::abs_max, /*deferrable=*/true);
}

// Finite everywhere ⇔ the NaN-propagating L∞ norm is finite (an Inf makes it Inf, a NaN makes it NaN).
bool CudaBackend::all_finite(const Tensor& x) {
  checks::check_tensor(x, Device::cuda, "all_finite", "x");
  return std::isfinite(abs_max(x));
}

}  // namespace impasto
