// engine/cpu/color.cpp — the CPU backend's color conversion for color preservation: a per-pixel loop over
// the shared math of kernels/color.cuh (the same functions the CUDA kernel calls).
#include "engine/cpu/cpu_backend.hpp"
#include "engine/op_checks.hpp"
#include "kernels/color.cuh"

namespace impasto {

void CpuBackend::color_convert(const Tensor& x, Tensor& y, ColorSpace space, bool inverse) {
  const Shape s = checks::color_convert(x, y, Device::cpu);  // x, y (1,3,H,W); y is x or apart from it

  const std::int64_t m = s.plane();
  const float* in0 = x.data();      // (H,W) plane 0: R, or the luminance when inverse
  const float* in1 = in0 + m;       // (H,W)
  const float* in2 = in1 + m;       // (H,W)
  float* out0 = y.data();           // (H,W)
  float* out1 = out0 + m;           // (H,W)
  float* out2 = out1 + m;           // (H,W)
  const int sp = int(space);
  for (std::int64_t i = 0; i < m; ++i) {
    const float a = in0[i], b = in1[i], c = in2[i];
    if (inverse) {
      math::color_to_rgb(sp, a, b, c, out0 + i, out1 + i, out2 + i);
    } else {
      math::rgb_to_color(sp, a, b, c, out0 + i, out1 + i, out2 + i);
    }
  }
}

}  // namespace impasto
