// tests/cpu/test_color.cpp — the shared color math (kernels/color.cuh) and CpuBackend::color_convert:
// known values against OpenCV 4.6's cv2.cvtColor (float images, YUV/YCrCb offsets rescaled to the 0..255
// convention), round trips over random pixels for every space, and the backend loop against the
// per-pixel functions (aliasing and shape checks included).
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "engine/cpu/cpu_backend.hpp"
#include "engine/error.hpp"
#include "kernels/color.cuh"
#include "tests/support/compare.hpp"

using impasto::ColorSpace;

namespace {

constexpr ColorSpace kSpaces[] = {ColorSpace::yuv, ColorSpace::ycrcb, ColorSpace::lab, ColorSpace::luv};

std::vector<float> to_color(ColorSpace s, float r, float g, float b) {
  std::vector<float> o(3);
  impasto::math::rgb_to_color(int(s), r, g, b, &o[0], &o[1], &o[2]);
  return o;
}
std::vector<float> to_rgb(ColorSpace s, const std::vector<float>& c) {
  std::vector<float> o(3);
  impasto::math::color_to_rgb(int(s), c[0], c[1], c[2], &o[0], &o[1], &o[2]);
  return o;
}

struct Known {
  ColorSpace space;
  float rgb[3];
  float want[3];
  double atol;
};

}  // namespace

TEST_CASE("known values match OpenCV's cvtColor") {
  // Numbers printed by OpenCV 4.6 (cvtColor on CV_32FC3 in 0..1; YUV/YCrCb chroma rescaled by 255 around
  // 128). OpenCV's float RGB→Lab interpolates a lookup table, so its Lab digits differ from the exact
  // formula by up to ~0.01 here (≈0.1 on some mixed colors); everything else agrees to float rounding.
  const Known known[] = {
      {ColorSpace::yuv, {255, 0, 0}, {76.2450f, 90.4875f, 284.7681f}, 2e-3},
      {ColorSpace::yuv, {0, 255, 0}, {149.6850f, 54.3550f, -3.2737f}, 2e-3},
      {ColorSpace::yuv, {128, 128, 128}, {128, 128, 128}, 1e-4},
      {ColorSpace::yuv, {0, 0, 0}, {0, 128, 128}, 1e-6},
      {ColorSpace::yuv, {250, 3, 100}, {87.9110f, 133.9478f, 270.1520f}, 2e-3},
      {ColorSpace::ycrcb, {0, 0, 255}, {29.0700f, 107.2731f, 255.4245f}, 2e-3},
      {ColorSpace::ycrcb, {255, 0, 0}, {76.2450f, 255.4523f, 84.9978f}, 2e-3},
      {ColorSpace::ycrcb, {255, 255, 255}, {255, 128, 128}, 1e-3},
      {ColorSpace::lab, {255, 255, 255}, {100, 0, 0}, 1e-3},
      {ColorSpace::lab, {0, 0, 0}, {0, 0, 0}, 1e-6},
      {ColorSpace::lab, {255, 0, 0}, {53.2410f, 80.0938f, 67.2031f}, 1e-2},
      {ColorSpace::lab, {0, 255, 0}, {87.7380f, -86.1875f, 83.1719f}, 1e-2},
      {ColorSpace::lab, {0, 0, 255}, {32.2937f, 79.1875f, -107.8594f}, 1e-2},
      {ColorSpace::lab, {128, 128, 128}, {53.5828f, 0, 0}, 1e-2},
      {ColorSpace::luv, {255, 255, 255}, {100, 0, 0}, 1e-3},
      {ColorSpace::luv, {0, 0, 0}, {0, 0, 0}, 1e-6},
      {ColorSpace::luv, {255, 0, 0}, {53.2406f, 175.0148f, 37.7521f}, 2e-3},
      {ColorSpace::luv, {0, 0, 255}, {32.2957f, -9.4047f, -130.3395f}, 2e-3},
      {ColorSpace::luv, {10, 200, 30}, {70.5001f, -65.8905f, 83.2678f}, 2e-3},
      {ColorSpace::luv, {1, 2, 3}, {0.5098f, -0.1735f, -0.2517f}, 2e-3},
  };
  for (const Known& k : known) {
    CAPTURE(int(k.space));
    CAPTURE(k.rgb[0]);
    CAPTURE(k.rgb[1]);
    CAPTURE(k.rgb[2]);
    CHECK_CLOSE(to_color(k.space, k.rgb[0], k.rgb[1], k.rgb[2]), std::vector<float>(k.want, k.want + 3), 0.0,
                k.atol);
  }
}

TEST_CASE("grays have neutral chroma and the luminance channels agree") {
  for (float v : {0.0f, 3.0f, 64.0f, 128.0f, 200.0f, 255.0f}) {
    CAPTURE(v);
    for (ColorSpace s : {ColorSpace::yuv, ColorSpace::ycrcb}) {
      CHECK_CLOSE(to_color(s, v, v, v), (std::vector<float>{v, 128, 128}), 1e-6, 1e-4);
    }
    const auto lab = to_color(ColorSpace::lab, v, v, v);
    const auto luv = to_color(ColorSpace::luv, v, v, v);
    CHECK(lab[0] == doctest::Approx(luv[0]).epsilon(1e-5));
    CHECK_CLOSE((std::vector<float>{lab[1], lab[2], luv[1], luv[2]}), (std::vector<float>{0, 0, 0, 0}), 0.0, 1e-3);
  }
}

TEST_CASE("every space round trips random pixels to 1e-3") {
  std::mt19937 rng(2024);
  std::uniform_real_distribution<float> u(0.0f, 255.0f);
  std::vector<float> rgb(3 * 20000);
  for (float& v : rgb) v = u(rng);
  // Corners of the cube and near-black values exercise the linear segments and the L = 0 guard.
  const float corners[] = {0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0.01f, 0.02f, 0.0f,
                           0.3f, 0.1f, 0.2f, 255, 255, 0, 0, 255, 255, 255, 0, 255};
  rgb.insert(rgb.end(), std::begin(corners), std::end(corners));
  for (ColorSpace s : kSpaces) {
    CAPTURE(int(s));
    std::vector<float> back(rgb.size());
    for (std::size_t i = 0; i < rgb.size(); i += 3) {
      const auto c = to_color(s, rgb[i], rgb[i + 1], rgb[i + 2]);
      const auto r = to_rgb(s, c);
      std::copy(r.begin(), r.end(), back.begin() + std::ptrdiff_t(i));
    }
    CHECK_CLOSE(back, rgb, 0.0, 1e-3);
  }
}

TEST_CASE("Lab/Luv inverses clip out-of-gamut colors instead of producing NaN") {
  for (ColorSpace s : {ColorSpace::lab, ColorSpace::luv}) {
    for (const auto& c : {std::vector<float>{50, 300, -300}, {100, -200, 200}, {0, 50, 50}, {5, -100, -100}}) {
      const auto r = to_rgb(s, c);
      for (float v : r) {
        CHECK(v >= 0.0f);
        CHECK(v <= 255.0f + 1e-3f);
      }
    }
  }
}

TEST_CASE("CpuBackend::color_convert is the per-pixel function, in place or not") {
  impasto::CpuBackend cpu;
  const impasto::Shape shape{1, 3, 5, 7};
  const int m = 35;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.0f, 255.0f);
  std::vector<float> rgb(3 * m);  // (1,3,5,7)
  for (float& v : rgb) v = u(rng);
  for (ColorSpace s : kSpaces) {
    CAPTURE(int(s));
    std::vector<float> want(3 * m);  // (1,3,5,7) in space s
    for (int i = 0; i < m; ++i)
      impasto::math::rgb_to_color(int(s), rgb[i], rgb[m + i], rgb[2 * m + i], &want[i], &want[m + i],
                                  &want[2 * m + i]);
    const impasto::Tensor x = cpu.from_host(rgb, shape);
    impasto::Tensor y = cpu.empty(shape);
    cpu.color_convert(x, y, s, false);
    CHECK(cpu.to_host(y) == want);

    std::vector<float> want_back(3 * m);
    for (int i = 0; i < m; ++i)
      impasto::math::color_to_rgb(int(s), want[i], want[m + i], want[2 * m + i], &want_back[i],
                                  &want_back[m + i], &want_back[2 * m + i]);
    impasto::Tensor z = cpu.empty(shape);
    cpu.color_convert(y, z, s, true);
    CHECK(cpu.to_host(z) == want_back);

    impasto::Tensor inplace = cpu.from_host(rgb, shape);  // alias: y is x
    cpu.color_convert(inplace, inplace, s, false);
    CHECK(cpu.to_host(inplace) == want);
    cpu.color_convert(inplace, inplace, s, true);
    CHECK(cpu.to_host(inplace) == want_back);
    CHECK_CLOSE(cpu.to_host(inplace), rgb, 0.0, 1e-3);
  }
}

TEST_CASE("color_convert checks shapes") {
  impasto::CpuBackend cpu;
  impasto::Tensor four = cpu.zeros({1, 4, 2, 2});
  impasto::Tensor three = cpu.zeros({1, 3, 2, 2});
  impasto::Tensor other = cpu.zeros({1, 3, 2, 3});
  impasto::Tensor batch = cpu.zeros({2, 3, 2, 2});
  CHECK_THROWS_AS(cpu.color_convert(four, four, ColorSpace::yuv, false), impasto::Error);
  CHECK_THROWS_AS(cpu.color_convert(three, other, ColorSpace::lab, false), impasto::Error);
  CHECK_THROWS_AS(cpu.color_convert(batch, batch, ColorSpace::luv, true), impasto::Error);
  impasto::Tensor unallocated;
  CHECK_THROWS_AS(cpu.color_convert(three, unallocated, ColorSpace::ycrcb, false), impasto::Error);
}
