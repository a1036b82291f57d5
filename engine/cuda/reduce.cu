// engine/cuda/reduce.cu — reductions on the CUDA backend (dot, sum, L1, L∞, all_finite): a two-stage block
// reduction in double (kernels/reduce.cu) into the scratch allocated at construction, then one 8-byte copy
// to pinned host memory and one stream synchronization — the only device→host traffic an op needs. Loss
// values asked for while deferring (Backend::begin_deferred) stay in device slots after the partials until
// fetch_deferred brings them all back in one copy.
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

void CudaBackend::fetch_deferred(double* out, int count) {
  if (count == 0) return;
  IMPASTO_CUDA_CHECK(cudaMemcpyAsync(result_.as<double>(), deferred_slots(), std::size_t(count) * sizeof(double),
                                     cudaMemcpyDeviceToHost, stream_));
  synchronize();
  for (int i = 0; i < count; ++i) out[i] = deferred_scale_[i] * result_.as<double>()[i];
}

double CudaBackend::dot(const Tensor& x, const Tensor& y) {
  checks::check_same_numel(x, y, Device::cuda, "dot", "x", "y");
  const int blocks = kernels::reduce_partials(kernels::ReduceOp::dot, x.data(), y.data(), x.numel(), partials(), stream_);
  return finish_reduction(blocks, false);
}

double CudaBackend::sum(const Tensor& x) {
  checks::check_tensor(x, Device::cuda, "sum", "x");
  const int blocks = kernels::reduce_partials(kernels::ReduceOp::sum, x.data(), nullptr, x.numel(), partials(), stream_);
  return finish_reduction(blocks, false);
}

double CudaBackend::abs_sum(const Tensor& x) {
  checks::check_tensor(x, Device::cuda, "abs_sum", "x");
  const int blocks =
      kernels::reduce_partials(kernels::ReduceOp::abs_sum, x.data(), nullptr, x.numel(), partials(), stream_);
  return finish_reduction(blocks, false);
}

double CudaBackend::abs_max(const Tensor& x) {
  checks::check_tensor(x, Device::cuda, "abs_max", "x");
  const int blocks =
      kernels::reduce_partials(kernels::ReduceOp::abs_max, x.data(), nullptr, x.numel(), partials(), stream_);
  return finish_reduction(blocks, true);
}

// Finite everywhere ⇔ the NaN-propagating L∞ norm is finite (an Inf makes it Inf, a NaN makes it NaN).
bool CudaBackend::all_finite(const Tensor& x) {
  checks::check_tensor(x, Device::cuda, "all_finite", "x");
  return std::isfinite(abs_max(x));
}

}  // namespace impasto
