// engine/backend.cpp — backend-independent helpers and the backend factory.
#include "engine/backend.hpp"

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#ifdef IMPASTO_HAVE_CUDA
#include "engine/cuda/cuda_backend.hpp"
#endif

namespace impasto {

Tensor Backend::zeros(Shape s) {
  Tensor t = empty(s);
  fill(t, 0.0f);
  return t;
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

#ifdef IMPASTO_HAVE_CUDA
bool cuda_available() { return cuda_device_count() > 0; }
std::string cuda_unavailable_reason() { return cuda_available() ? "" : cuda_device_problem(); }
#else
bool cuda_available() { return false; }
std::string cuda_unavailable_reason() {
  return "this build of impasto has no CUDA backend (configured without nvcc/cuDNN)";
}
#endif

std::unique_ptr<Backend> make_backend(Device d) {
  if (d == Device::cpu) return std::make_unique<CpuBackend>();
  IMPASTO_CHECK(cuda_available(), "--device cuda: " << cuda_unavailable_reason());
#ifdef IMPASTO_HAVE_CUDA
  return make_cuda_backend();
#else
  return nullptr;
#endif
}

void Backend::begin_deferred() {
  IMPASTO_ASSERT(!deferring_);
  deferring_ = true;
  deferred_count_ = 0;
}

int Backend::take_deferred(double* out) {
  IMPASTO_ASSERT(deferring_);
  deferring_ = false;  // first: a failing transfer leaves the backend usable
  fetch_deferred(out, deferred_count_);
  return deferred_count_;
}

int Backend::next_deferred_slot() {
  IMPASTO_CHECK(deferred_count_ < kMaxDeferred,
                "more than " << kMaxDeferred << " loss terms in one evaluation (styles x style layers too many)");
  return deferred_count_++;
}

double Backend::deliver(double value) {
  if (!deferring_) return value;
  host_deferred_[next_deferred_slot()] = value;
  return 0.0;
}

void Backend::fetch_deferred(double* out, int count) {
  for (int i = 0; i < count; ++i) out[i] = host_deferred_[i];
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::fp32: return "fp32";
    case Precision::tf32: return "tf32";
    case Precision::bf16: return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& s) {
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::bf16})
    if (s == precision_name(p)) return p;
  IMPASTO_FAIL("unknown precision '" << s << "' (expected fp32, tf32 or bf16)");
}

Device parse_device(const std::string& s) {
  if (s == "auto") return cuda_available() ? Device::cuda : Device::cpu;
  if (s == "cpu") return Device::cpu;
  if (s == "cuda" || s == "gpu") return Device::cuda;
  IMPASTO_FAIL("unknown device '" << s << "' (expected auto, cpu or cuda)");
}

}  // namespace impasto
