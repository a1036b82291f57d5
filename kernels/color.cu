// kernels/color.cu — per-pixel color conversion for color preservation: one thread per pixel reads R,G,B
// (or the three color channels when inverse) and writes the other side with the shared math of
// kernels/color.cuh, the same functions the CPU backend loops over. Alias y == x is fine: each pixel reads
// its three inputs before writing.
#include <cstdint>

#include "kernels/check.hpp"
#include "kernels/color.cuh"
#include "kernels/common.cuh"
#include "kernels/launchers.cuh"

namespace impasto::kernels {
namespace {

struct ColorPixel {
  const float* x; float* y; std::int64_t plane; int space; bool inverse;
  __device__ void operator()(std::int64_t i) const {
    const float a = x[i], b = x[plane + i], c = x[2 * plane + i];
    if (inverse)
      math::color_to_rgb(space, a, b, c, &y[i], &y[plane + i], &y[2 * plane + i]);
    else
      math::rgb_to_color(space, a, b, c, &y[i], &y[plane + i], &y[2 * plane + i]);
  }
};

}  // namespace

void color_convert(const float* x, float* y, std::int64_t plane, int space, bool inverse, cudaStream_t s) {
  for_each(plane, s, ColorPixel{x, y, plane, space, inverse});
}

}  // namespace impasto::kernels
