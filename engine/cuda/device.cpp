// engine/cuda/device.cpp — finding the device and building the CUDA backend: device count and the one-line
// reason when there is none, the factory, the cuDNN version check (runtime major must match the headers),
// the backend's name, and precision (fp32 vs TF32 tensor cores) for cuDNN and cuBLAS.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>

#include "engine/cuda/cuda_backend_impl.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

int cuda_device_count() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();  // not sticky; leave no trace for later checks
    return 0;
  }
  return n;
}

std::string cuda_device_problem() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) (void)cudaGetLastError();
  // The runtime says "driver version is insufficient" also where there is no driver at all (no GPU).
  const bool driver = std::filesystem::exists("/proc/driver/nvidia/version");
  if (e == cudaErrorInsufficientDriver && !driver) return "no NVIDIA driver on this machine (no GPU?); use --device cpu";
  if (e == cudaErrorInsufficientDriver)
    return "the NVIDIA driver is older than this build's CUDA " + std::to_string(CUDART_VERSION / 1000) + "." +
           std::to_string(CUDART_VERSION % 1000 / 10) + " runtime; update the driver, or use --device cpu";
  if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0)) return "no CUDA-capable GPU found; use --device cpu";
  if (e != cudaSuccess) return std::string("CUDA: ") + cudaGetErrorString(e) + "; use --device cpu";
  return "";
}

std::unique_ptr<Backend> make_cuda_backend(int slot) {
  const int count = cuda_device_count();
  IMPASTO_CHECK(count > 0, "cannot create the CUDA backend: " << cuda_device_problem());
  return std::make_unique<CudaBackend>(slot % count);
}

namespace {

std::string version_string(std::size_t v) {  // cuDNN 9 encodes major·10000 + minor·100 + patch
  std::ostringstream s;
  s << v / 10000 << "." << (v % 10000) / 100 << "." << v % 100;
  return s.str();
}

}  // namespace

int CudaBackend::activate(int device) {
  const std::size_t runtime = cudnnGetVersion();
  IMPASTO_CHECK(runtime / 10000 == CUDNN_MAJOR,
                "cuDNN runtime " << version_string(runtime) << " does not match the cuDNN " << CUDNN_MAJOR
                                 << ".x headers this build used (" << version_string(CUDNN_VERSION)
                                 << "); install cuDNN " << CUDNN_MAJOR << " or rebuild");
  IMPASTO_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

CudaBackend::CudaBackend(int device)
    : device_(activate(device)),
      scratch_((kernels::kMaxBlocks + 1 + kMaxDeferred) * sizeof(double)),
      result_(kMaxDeferred * sizeof(double)) {
  memory_->add(scratch_.bytes());
  IMPASTO_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  IMPASTO_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
  // cuBLAS keeps scalars (alpha, beta) on the host: the Gram calls pass them by address.
  IMPASTO_CUBLAS_CHECK(cublasSetPointerMode(cublas_, CUBLAS_POINTER_MODE_HOST));

  cudaDeviceProp prop{};
  IMPASTO_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
  // cuBLAS's workspace given once (after the stream: setting the stream resets it): otherwise each captured
  // graph would get a workspace of its own from cuBLAS's pool. 32 MiB is what cuBLAS advises for Hopper
  // (4 MiB before it).
  const std::size_t cublas_bytes = std::size_t(prop.major >= 9 ? 32 : 4) << 20;
  try {
    cublas_workspace_.grow(cublas_bytes);
  } catch (const OutOfMemoryError&) {
    out_of_memory("cuBLAS's workspace", cublas_bytes, __FILE__, __LINE__);
  }
  memory_->add(cublas_workspace_.bytes());
  IMPASTO_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_.get(), cublas_workspace_.bytes()));
  const char* find = std::getenv("IMPASTO_CUDNN_FIND");
  find_algorithms_ = find != nullptr && std::string(find) == "1";
  const char* verbose = std::getenv("IMPASTO_CUDNN_VERBOSE");
  verbose_algorithms_ = verbose != nullptr && std::string(verbose) == "1";
  if (const char* layout = std::getenv("IMPASTO_LAYOUT")) {
    const std::optional<Layout> l = find_enum<Layout>(layout);
    IMPASTO_CHECK(l.has_value(), "IMPASTO_LAYOUT=" << layout << ": expected nchw or nhwc");
    layout_override_ = int(*l);
  }
  const char* graphs = std::getenv("IMPASTO_CUDA_GRAPHS");
  graphs_ = graphs == nullptr || std::string(graphs) != "0";
  workspace_cap_ = std::max<std::size_t>(std::size_t(64) << 20, prop.totalGlobalMem / 16);

  std::ostringstream s;
  const double gib = double(prop.totalGlobalMem) / double(1ull << 30);
  s << "cuda (" << prop.name << ", sm_" << prop.major << prop.minor << ", cuDNN " << version_string(cudnnGetVersion())
    << " runtime / " << version_string(CUDNN_VERSION) << " compiled, " << int(gib + 0.5) << " GiB)";
  name_ = s.str();

  // TF32 tensor cores exist from Ampere (sm_80) on; there they are the default, as in PyTorch's cuDNN path.
  compute_major_ = prop.major;
  device_name_ = prop.name;
  set_precision(prop.major >= 8 ? Precision::tf32 : Precision::fp32);
}

void CudaBackend::set_precision(Precision p) {
  IMPASTO_CHECK(p == Precision::fp32 || compute_major_ >= 8,
                "--precision " << enum_name(p) << " needs tensor cores of compute capability 8.0 or newer; this "
                               << name_ << " has " << compute_major_ << ".x (use fp32)");
  // cuDNN's math type lives on the convolution descriptor, so convolution plans are cached per precision
  // (see conv_plan); the Gram matrices name their cuBLAS compute type per call (gram.cu), and the handle stays in
  // CUBLAS_DEFAULT_MATH, fp32 for the optimizer's history products (blas.cu).
  precision_ = p;
}

// NHWC under tf32/bf16: cuDNN's tensor-core convolutions are channels-last, and NCHW tensors cost them a
// transpose on each side (perf/RESULTS.md).
// NCHW under fp32, the reference mode, whose FMA kernels take NCHW as it is.
Layout CudaBackend::activation_layout() const {
  if (layout_override_ >= 0) return Layout(layout_override_);
  return precision_ == Precision::fp32 ? Layout::nchw : Layout::nhwc;
}

// bf16 activations are channels-last only (the bf16 kernels index NHWC): under IMPASTO_LAYOUT=nchw bf16 runs
// its convolutions on staged copies and stores float32.
DType CudaBackend::activation_dtype() const {
  return precision_ == Precision::bf16 && activation_layout() == Layout::nhwc ? DType::bf16 : DType::f32;
}

}  // namespace impasto
