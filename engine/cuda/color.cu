// engine/cuda/color.cu — color conversion for color preservation on the CUDA backend: checks, then one
// per-pixel kernel (kernels/color.cu) over the shared math of kernels/color.cuh.
#include "engine/cuda/cuda_backend_impl.hpp"
#include "engine/op_checks.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

void CudaBackend::color_convert(const Tensor& x, Tensor& y, ColorSpace space, bool inverse) {
  const Shape s = checks::color_convert(x, y, Device::cuda);  // x, y (1,3,H,W); y is x or apart from it
  kernels::color_convert(x.data(), y.data(), s.plane(), int(space), inverse, stream_);
}

}  // namespace impasto
