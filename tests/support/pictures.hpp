// tests/support/pictures.hpp — small synthetic pictures shared by the pipeline tests: a smooth content
// (a bright disc on a vertical gradient), a high-frequency striped style, and half-plane masks.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

#include "engine/image.hpp"
#include "engine/stylize.hpp"

namespace impasto::test {

// Pipeline options for the 64×64 tests: default objective, `iterations` L-BFGS iterations.
inline StylizeOptions small_options(int iterations) {
  StylizeOptions o;
  o.size = 64;
  o.iterations = iterations;
  return o;
}

// A smooth content picture n×n: a bright disc centred at (n/2, cx·n) on a vertical gradient.
inline Image make_content(int n, float cx = 1.0f / 3.0f) {
  Image img{3, n, n, std::vector<float>(std::size_t(3) * n * n)};
  const int col = int(cx * float(n));
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const float r2 = float((i - n / 2) * (i - n / 2) + (j - col) * (j - col));
      const bool disc = r2 < float(n * n) / 16.0f;
      img.plane(0)[i * n + j] = disc ? 230.0f : 40.0f + 150.0f * float(i) / float(n);
      img.plane(1)[i * n + j] = disc ? 200.0f : 80.0f;
      img.plane(2)[i * n + j] = disc ? 60.0f : 200.0f - 120.0f * float(i) / float(n);
    }
  return img;
}

// A style n×n: high-frequency diagonal stripes; `tint` (R, G, B offsets) shifts its mean color.
inline Image make_style(int n, float tint_r = 0, float tint_g = 0, float tint_b = 0) {
  Image img{3, n, n, std::vector<float>(std::size_t(3) * n * n)};
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const float s = std::sin(0.9f * float(i + j)), t = std::cos(0.7f * float(i - 2 * j));
      img.plane(0)[i * n + j] = std::fmin(255.0f, std::fmax(0.0f, 128.0f + tint_r + 120.0f * s));
      img.plane(1)[i * n + j] = std::fmin(255.0f, std::fmax(0.0f, 128.0f + tint_g + 100.0f * t));
      img.plane(2)[i * n + j] = std::fmin(255.0f, std::fmax(0.0f, 128.0f + tint_b - 110.0f * s * t));
    }
  return img;
}

// A one-channel h×w mask: 255 on the left half (columns < w/2), 0 on the right; inverted when !left.
inline Image half_mask(int h, int w, bool left = true) {
  Image m{1, h, w, std::vector<float>(std::size_t(h) * w)};
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) m.data[std::size_t(i) * w + j] = (j < w / 2) == left ? 255.0f : 0.0f;
  return m;
}

// Mean |a − b| over the columns [j0, j1) of all channels (same-size images).
inline double mean_abs_diff(const Image& a, const Image& b, int j0, int j1) {
  double sum = 0;
  for (int c = 0; c < a.c; ++c)
    for (int i = 0; i < a.h; ++i)
      for (int j = j0; j < j1; ++j) sum += std::fabs(a.plane(c)[i * a.w + j] - b.plane(c)[i * b.w + j]);
  return sum / (double(a.c) * a.h * (j1 - j0));
}

// Mean of channel c over the columns [j0, j1).
inline double mean_channel(const Image& a, int c, int j0, int j1) {
  double sum = 0;
  for (int i = 0; i < a.h; ++i)
    for (int j = j0; j < j1; ++j) sum += a.plane(c)[i * a.w + j];
  return sum / (double(a.h) * (j1 - j0));
}

}  // namespace impasto::test
