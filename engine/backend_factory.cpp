// engine/backend_factory.cpp — see backend_factory.hpp.
#include "engine/backend_factory.hpp"

#include <optional>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#ifdef IMPASTO_HAVE_CUDA
#include "engine/cuda/cuda_backend.hpp"
#endif

namespace impasto {

#ifdef IMPASTO_HAVE_CUDA
bool cuda_available() { return cuda_device_count() > 0; }
std::string cuda_unavailable_reason() { return cuda_available() ? "" : cuda_device_problem(); }
#else
bool cuda_available() { return false; }
std::string cuda_unavailable_reason() {
  return "this build of impasto has no CUDA backend (configured without nvcc/cuDNN); use --device cpu";
}
#endif

std::unique_ptr<Backend> make_backend(Device d, int slot) {
  if (d == Device::cpu) return std::make_unique<CpuBackend>();
  IMPASTO_CHECK(cuda_available(), "--device cuda: " << cuda_unavailable_reason());
#ifdef IMPASTO_HAVE_CUDA
  return make_cuda_backend(slot);
#else
  (void)slot;
  return nullptr;
#endif
}

Device parse_device(const std::string& s) {
  if (s == "auto") return cuda_available() ? Device::cuda : Device::cpu;
  if (const std::optional<Device> d = find_enum<Device>(s)) return *d;
  IMPASTO_FAIL("unknown device '" << s << "' (expected auto, " << one_of(enum_names<Device>()) << ")");
}

}  // namespace impasto
