// engine/cuda/color.cu — color conversion for color preservation on the CUDA backend: checks, then one
// per-pixel kernel (kernels/color.cu) over the shared math of kernels/color.cuh.
#include "engine/cuda/cuda_backend_impl.hpp"
#include "kernels/launchers.cuh"

namespace impasto {

void CudaBackend::color_convert(const Tensor& x, Tensor& y, ColorSpace space, bool inverse) {
  const char* op = "color_convert";
  cuda_detail::check_tensor(x, op, "x");
  const Shape s = x.shape();  // (1,3,H,W)
  IMPASTO_CHECK(s.n == 1 && s.c == 3, op << ": x has shape " << s.str() << ", expected (1,3,H,W)");
  cuda_detail::check_shape(y, s, op, "y");  // (1,3,H,W)
  // Each pixel reads its three inputs before writing, so y may be x; a partial overlap would not be safe.
  IMPASTO_CHECK(y.data() == x.data() || y.data() + y.numel() <= x.data() || x.data() + x.numel() <= y.data(),
                op << ": y must be x or not overlap it");
  kernels::color_convert(x.data(), y.data(), s.plane(), int(space), inverse, stream_);
}

}  // namespace impasto
