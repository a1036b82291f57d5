// engine/cpu/memory.cpp — the CPU backend's memory: 64-byte-aligned tensor storage owned by RAII, host
// transfers (plain copies), the grow-only op workspace (im2col buffers, Gram scratch) and the byte count
// that memory plans and messages report.
#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>

#include <unistd.h>

#include "engine/cpu/conv_blas.hpp"
#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "engine/op_checks.hpp"

namespace impasto {
namespace {

constexpr std::size_t kAlignment = 64;  // a cache line; also what AVX-512 loads like

// Storage for one tensor: aligned host memory, counted in the backend's live-byte total while it lives.
class CpuStorage final : public Storage {
 public:
  CpuStorage(float* data, std::size_t count, std::shared_ptr<MemoryCounter> memory)
      : Storage(data, count, Device::cpu), memory_(std::move(memory)) {
    memory_->add(count * sizeof(float));
  }
  ~CpuStorage() override {
    std::free(data());
    memory_->sub(count() * sizeof(float));
  }

 private:
  std::shared_ptr<MemoryCounter> memory_;
};

float* aligned_floats(std::size_t count) {
  // std::aligned_alloc wants a size that is a multiple of the alignment; never ask for 0 bytes.
  const std::size_t bytes = std::max<std::size_t>(kAlignment, (count * sizeof(float) + kAlignment - 1) /
                                                                  kAlignment * kAlignment);
  void* p = std::aligned_alloc(kAlignment, bytes);
  if (p == nullptr) {
    throw OutOfMemoryError("cpu: out of memory allocating " + std::to_string(bytes) + " bytes");
  }
  return static_cast<float*>(p);
}

}  // namespace

CpuBackend::CpuBackend() { cpu::select_blas_kernels(); }

std::string CpuBackend::name() const {
  const int threads = openblas_get_num_threads();
  const std::string core = cpu::blas_core_name();
  return "cpu (OpenBLAS" + (core.empty() ? "" : " " + core) + ", " + std::to_string(threads) +
         (threads == 1 ? " thread)" : " threads)");
}

Tensor CpuBackend::empty(Shape s) {
  checks::empty(s);  // (N,C,H,W), no negative dimension
  const auto count = std::size_t(s.numel());
  float* data = aligned_floats(count);
  std::shared_ptr<Storage> storage;
  try {
    storage = std::make_shared<CpuStorage>(data, count, memory_);
  } catch (...) {
    std::free(data);
    throw;
  }
  return Tensor(std::move(storage), s);
}

void CpuBackend::upload(const float* host, Tensor& dst) {
  checks::check_tensor(dst, Device::cpu, "upload", "dst");
  IMPASTO_CHECK(host != nullptr || dst.numel() == 0, "upload: null host pointer");
  if (dst.numel() > 0 && host != dst.data()) std::memmove(dst.data(), host, std::size_t(dst.numel()) * sizeof(float));
}

void CpuBackend::download(const Tensor& src, float* host) {
  checks::check_tensor(src, Device::cpu, "download", "src");
  IMPASTO_CHECK(host != nullptr || src.numel() == 0, "download: null host pointer");
  if (src.numel() > 0 && host != src.data()) std::memmove(host, src.data(), std::size_t(src.numel()) * sizeof(float));
}

float* CpuBackend::workspace(std::size_t floats) {
  if (workspace_.size() < floats) {
    const std::size_t old = workspace_.size();
    try {
      workspace_.resize(floats);
    } catch (const std::bad_alloc&) {
      throw OutOfMemoryError("cpu: out of memory growing the workspace to " +
                             std::to_string(floats * sizeof(float)) + " bytes");
    }
    memory_->add((floats - old) * sizeof(float));
  }
  return workspace_.data();
}

void CpuBackend::reserve_workspace(std::size_t bytes) { workspace((bytes + sizeof(float) - 1) / sizeof(float)); }

void CpuBackend::trim_workspace(std::size_t bytes) {
  const std::size_t floats = (bytes + sizeof(float) - 1) / sizeof(float);
  if (workspace_.size() <= floats) return;
  memory_->sub(workspace_.size() * sizeof(float));
  std::vector<float>().swap(workspace_);  // frees it (shrink_to_fit may keep the block)
  workspace(floats);
}

// conv2d_workspace_bytes: in conv.cpp, next to the methods whose buffers it sizes.

std::size_t CpuBackend::bytes_in_use() const { return memory_->live(); }
std::size_t CpuBackend::peak_bytes_in_use() const { return memory_->peak(); }
void CpuBackend::reset_peak_bytes() { memory_->reset_peak(); }

MemoryAvailable CpuBackend::memory_available() const {
  // The kernel's estimate of what can be allocated without swapping (Linux ≥ 3.14); else free physical pages.
  std::ifstream meminfo("/proc/meminfo");
  for (std::string line; std::getline(meminfo, line);) {  // "MemAvailable:   12345678 kB"
    if (line.rfind("MemAvailable:", 0) == 0)
      return {std::size_t(std::strtoull(line.c_str() + 13, nullptr, 10)) * 1024, "MemAvailable of this host"};
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return {pages > 0 && page > 0 ? std::size_t(pages) * std::size_t(page) : 0, "free physical memory of this host"};
}

}  // namespace impasto
