// engine/cuda/reduce.cu — reductions on the CUDA backend (dot, sum, L1, L∞, all_finite): a two-stage block
// reduction in double (kernels/reduce.cu) into the scratch allocated at construction, then one 8-byte copy
// to pinned host memory and one stream synchronization — the only device→host traffic an op needs.
#include <cmath>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

double CudaBackend::finish_reduction(int blocks, bool is_max) {
  double* out = partials() + kernels::kMaxBlocks;
  kernels::reduce_finish(partials(), blocks, is_max, out, stream_);
  IMPASTO_CUDA_CHECK(cudaMemcpyAsync(result_.as<double>(), out, sizeof(double), cudaMemcpyDeviceToHost, stream_));
  synchronize();
  return *result_.as<double>();
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
