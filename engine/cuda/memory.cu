// engine/cuda/memory.cu — device memory of the CUDA backend: tensors (cudaMalloc'ed, freed by their storage),
// host↔device copies on the backend's stream, the growing op workspace, and the memory accounting.
#include <sstream>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"

namespace impasto {
namespace {

// A tensor's device memory; cudaFree in the destructor (never throws: failures are logged).
class DeviceStorage final : public Storage {
 public:
  DeviceStorage(float* data, std::size_t count, std::shared_ptr<MemoryCounter> memory)
      : Storage(data, count, Device::cuda), memory_(std::move(memory)) {
    memory_->add(count * sizeof(float));
  }
  ~DeviceStorage() override {
    if (data() != nullptr) IMPASTO_CUDA_LOG(cudaFree(data()));
    memory_->sub(count() * sizeof(float));
  }

 private:
  std::shared_ptr<MemoryCounter> memory_;
};

double gib(std::size_t bytes) { return double(bytes) / double(1ull << 30); }

}  // namespace

Tensor CudaBackend::empty(Shape s) {  // (N,C,H,W)
  checks::empty(s);
  const auto count = std::size_t(s.numel());
  float* p = nullptr;
  if (count > 0) {
    const cudaError_t e = cudaMalloc(&p, count * sizeof(float));
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      out_of_memory("a tensor " + s.str(), count * sizeof(float), __FILE__, __LINE__);
    }
    IMPASTO_CUDA_CHECK(e);
  }
  return Tensor(std::make_shared<DeviceStorage>(p, count, memory_), s);
}

void CudaBackend::upload(const float* host, Tensor& dst) {
  checks::check_tensor(dst, Device::cuda, "upload", "dst");
  if (dst.numel() == 0) return;
  // From pageable memory the call returns once `host` has been staged, so the caller may reuse it at once.
  IMPASTO_CUDA_CHECK(cudaMemcpyAsync(dst.data(), host, std::size_t(dst.numel()) * sizeof(float),
                                     cudaMemcpyHostToDevice, stream_));
}

void CudaBackend::download(const Tensor& src, float* host) {
  checks::check_tensor(src, Device::cuda, "download", "src");
  if (src.numel() == 0) return;
  IMPASTO_CUDA_CHECK(cudaMemcpyAsync(host, src.data(), std::size_t(src.numel()) * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream_));
  synchronize();
}

void CudaBackend::synchronize() { IMPASTO_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

void CudaBackend::reserve_workspace(std::size_t bytes) { workspace(bytes); }

void CudaBackend::trim_workspace(std::size_t bytes) {
  if (workspace_.bytes() <= bytes) return;
  synchronize();  // work still queued may use the block
  memory_->sub(workspace_.bytes());
  workspace_.release();
  ++workspace_generation_;
  if (bytes > 0) workspace(bytes);
}

void* CudaBackend::workspace(std::size_t bytes) {
  if (bytes > workspace_.bytes()) {
    // Work still queued may use the old block; cudaFree waits for the device, but be explicit.
    synchronize();
    memory_->sub(workspace_.bytes());
    ++workspace_generation_;  // recorded work that used the old block is stale
    try {
      workspace_.grow(bytes);  // frees the old block first (so a failed growth leaves none)
    } catch (const OutOfMemoryError&) {
      out_of_memory("the convolution workspace", bytes, __FILE__, __LINE__);
    }
    memory_->add(workspace_.bytes());
  }
  return workspace_.get();
}

void CudaBackend::out_of_memory(const std::string& what, std::size_t bytes, const char* file, int line) const {
  std::size_t free_bytes = 0, total_bytes = 0;
  (void)cudaMemGetInfo(&free_bytes, &total_bytes);
  (void)cudaGetLastError();
  std::ostringstream m;
  m.precision(3);
  m << "out of GPU memory: " << what << " needs " << gib(bytes) << " GiB, " << gib(free_bytes) << " GiB free of "
    << gib(total_bytes) << " GiB (impasto holds " << gib(bytes_in_use())
    << " GiB; another process may have taken memory since the check); try a smaller --size [" << file << ":"
    << line << "]";
  throw OutOfMemoryError(m.str());
}

std::size_t CudaBackend::bytes_in_use() const { return memory_->live(); }
std::size_t CudaBackend::peak_bytes_in_use() const { return memory_->peak(); }
void CudaBackend::reset_peak_bytes() { memory_->reset_peak(); }
std::size_t CudaBackend::fixed_bytes() const { return scratch_.bytes() + cublas_workspace_.bytes(); }

MemoryAvailable CudaBackend::memory_available() const {
  std::size_t free_bytes = 0, total_bytes = 0;
  IMPASTO_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return {free_bytes, "free on " + device_name_};
}

}  // namespace impasto
