// engine/photo.cpp — photorealistic transfer helpers (see photo.hpp): the matting-Laplacian term on a backend,
// region pairs from segmentations, and the colour guided filter (host side, once per image).
#include "engine/photo.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "engine/error.hpp"
#include "kernels/matting.cuh"

namespace impasto {

// ---- the matting-Laplacian term ---------------------------------------------------------------------------

MattingTerm::MattingTerm(Backend& backend, const Image& guide, double pixel_scale, float eps)
    : backend_(backend), h_(guide.h), w_(guide.w) {
  IMPASTO_CHECK(guide.c == 3 && guide.h >= 3 && guide.w >= 3,
                "photorealism term: the content must be an RGB image of at least 3x3 pixels, got " << guide.w << "x"
                                                                                                  << guide.h);
  IMPASTO_CHECK(pixel_scale > 0 && std::isfinite(pixel_scale), "photorealism term: pixel scale must be > 0");
  std::vector<float> unit(guide.data);  // (3,H,W) RGB 0..1
  for (float& v : unit) v /= 255.0f;
  guide_ = backend_.from_host(unit, Shape{1, 3, h_, w_});
  stats_ = backend_.empty(Shape{1, 15, h_, w_});
  coef_ = backend_.empty(Shape{1, 12, h_, w_});
  backend_.matting_prepare(guide_, eps, stats_);
  value_scale_ = 1.0 / ((255.0 * pixel_scale) * (255.0 * pixel_scale));
}

std::size_t MattingTerm::bytes(int h, int w) { return std::size_t(3 + 15 + 12) * std::size_t(h) * w * sizeof(float); }

double MattingTerm::energy(const Tensor& x) {
  return backend_.matting_loss(x, guide_, stats_, float(value_scale_), coef_, nullptr);
}

double MattingTerm::add(const Tensor& x, double weight, Tensor& grad) {
  return backend_.matting_loss(x, guide_, stats_, float(weight * value_scale_), coef_, &grad);
}

// ---- region pairs ------------------------------------------------------------------------------------------

namespace {

struct SegColour {
  const char* name;
  float r, g, b;  // 0..1
};
// Luan et al.'s colour codes (deepmatting_seg.lua, ExtractMask).
constexpr std::array<SegColour, 9> kSegColours{{{"blue", 0, 0, 1},
                                                {"green", 0, 1, 0},
                                                {"black", 0, 0, 0},
                                                {"white", 1, 1, 1},
                                                {"red", 1, 0, 0},
                                                {"yellow", 1, 1, 0},
                                                {"grey", 0.5f, 0.5f, 0.5f},
                                                {"lightblue", 0, 1, 1},
                                                {"purple", 1, 0, 1}}};

// The mask (1,H,W) 0/255 of the pixels whose channels are each within 0.1 of the colour's; its pixel count.
Image colour_mask(const Image& seg, const SegColour& colour, std::size_t* count) {
  const std::size_t m = std::size_t(seg.h) * seg.w;
  Image mask{1, seg.h, seg.w, std::vector<float>(m, 0.0f)};
  const float target[3] = {colour.r, colour.g, colour.b};
  *count = 0;
  for (std::size_t i = 0; i < m; ++i) {
    bool in = true;
    for (int ch = 0; ch < 3 && in; ++ch) in = std::fabs(seg.plane(ch)[i] / 255.0f - target[ch]) < 0.1f;
    if (in) {
      mask.data[i] = 255.0f;
      ++*count;
    }
  }
  return mask;
}

}  // namespace

std::vector<RegionPair> regions_from_segmentations(const Image& content_seg, const Image& style_seg) {
  IMPASTO_CHECK(content_seg.c == 3 && style_seg.c == 3, "--content-seg / --style-seg: expected RGB segmentations");
  std::vector<RegionPair> out;
  for (const SegColour& colour : kSegColours) {
    std::size_t on_content = 0, on_style = 0;
    Image c = colour_mask(content_seg, colour, &on_content);
    if (on_content == 0) continue;
    Image s = colour_mask(style_seg, colour, &on_style);
    IMPASTO_CHECK(on_style > 0, "--style-seg has no " << colour.name << " region, which --content-seg has ("
                                                      << on_content << " pixels): give the style a region of that colour");
    out.push_back({colour.name, std::move(c), std::move(s)});
  }
  IMPASTO_CHECK(!out.empty(), "--content-seg has none of the segmentation colours (blue, green, black, white, red, yellow, "
                              "grey, lightblue, purple)");
  return out;
}

void check_regions(const std::vector<RegionPair>& regions, ImageSize content, ImageSize style) {
  for (const RegionPair& r : regions) {
    for (const auto& [mask, size, side] : {std::tuple{&r.content, content, "content"}, std::tuple{&r.style, style, "style"}}) {
      IMPASTO_CHECK(mask->c == 1 && mask->data.size() == std::size_t(mask->h) * mask->w,
                    r.name << ": the " << side << " mask must be a one-channel image");
      IMPASTO_CHECK(mask->h == size.h && mask->w == size.w,
                    r.name << ": the " << side << " mask is " << mask->w << "x" << mask->h << ", the " << side
                           << " image " << size.w << "x" << size.h << " (give masks of their image's size)");
      IMPASTO_CHECK(*std::max_element(mask->data.begin(), mask->data.end()) > 0,
                    r.name << ": the " << side << " mask is empty (all black)");
    }
  }
}

// ---- colour guided filter ----------------------------------------------------------------------------------

namespace {

// Box means over the (2r+1)² windows clipped to the image, from a summed-area table in double.
class BoxMean {
 public:
  BoxMean(int h, int w, int r) : h_(h), w_(w), r_(r), table_(std::size_t(h + 1) * (w + 1)) {}
  std::vector<double> operator()(const std::vector<double>& x) {  // x, result (H,W)
    const std::size_t stride = std::size_t(w_) + 1;
    std::fill(table_.begin(), table_.begin() + std::ptrdiff_t(stride), 0.0);
    for (int i = 0; i < h_; ++i) {
      double row = 0;
      table_[std::size_t(i + 1) * stride] = 0;
      for (int j = 0; j < w_; ++j) {
        row += x[std::size_t(i) * w_ + j];
        table_[std::size_t(i + 1) * stride + j + 1] = table_[std::size_t(i) * stride + j + 1] + row;
      }
    }
    std::vector<double> out(x.size());
    for (int i = 0; i < h_; ++i) {
      const int i0 = std::max(0, i - r_), i1 = std::min(h_, i + r_ + 1);
      for (int j = 0; j < w_; ++j) {
        const int j0 = std::max(0, j - r_), j1 = std::min(w_, j + r_ + 1);
        const double s = table_[std::size_t(i1) * stride + j1] - table_[std::size_t(i0) * stride + j1] -
                         table_[std::size_t(i1) * stride + j0] + table_[std::size_t(i0) * stride + j0];
        out[std::size_t(i) * w_ + j] = s / double((i1 - i0) * (j1 - j0));
      }
    }
    return out;
  }

 private:
  int h_, w_, r_;
  std::vector<double> table_;  // (H+1, W+1)
};

}  // namespace

Image guided_filter(const Image& guide, const Image& image, int radius, double eps) {
  IMPASTO_CHECK(guide.c == 3 && image.h == guide.h && image.w == guide.w,
                "guided filter: the guide (" << guide.w << "x" << guide.h << ") and the image (" << image.w << "x"
                                             << image.h << ") differ in size");
  IMPASTO_CHECK(radius >= 1, "guided filter: radius must be >= 1");
  IMPASTO_CHECK(eps > 0 && std::isfinite(eps), "guided filter: eps must be > 0");
  const int h = guide.h, w = guide.w;
  const std::size_t m = std::size_t(h) * w;
  BoxMean box(h, w, radius);
  std::array<std::vector<double>, 3> g, mean_g;  // guide channels 0..1 and their window means, (H,W) each
  for (int c = 0; c < 3; ++c) {
    g[c].resize(m);
    for (std::size_t i = 0; i < m; ++i) g[c][i] = guide.plane(c)[i] / 255.0;
    mean_g[c] = box(g[c]);
  }
  // The windows' colour covariances (xx, xy, xz, yy, yz, zz), ridge ε added and inverted once per pixel.
  constexpr int kPairs[6][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 2}};
  std::array<std::vector<double>, 6> inv;
  {
    std::array<std::vector<double>, 6> cov;
    for (int k = 0; k < 6; ++k) {
      const int a = kPairs[k][0], b = kPairs[k][1];
      std::vector<double> prod(m);
      for (std::size_t i = 0; i < m; ++i) prod[i] = g[a][i] * g[b][i];
      cov[k] = box(prod);
      for (std::size_t i = 0; i < m; ++i) cov[k][i] += (a == b ? eps : 0.0) - mean_g[a][i] * mean_g[b][i];
      inv[k].resize(m);
    }
    for (std::size_t i = 0; i < m; ++i) {
      double s[6], r[6];
      for (int k = 0; k < 6; ++k) s[k] = cov[k][i];
      math::sym3_inverse(s, r);
      for (int k = 0; k < 6; ++k) inv[k][i] = r[k];
    }
  }
  Image out{image.c, h, w, std::vector<float>(image.data.size())};  // (C,H,W) 0..255
  for (int ch = 0; ch < image.c; ++ch) {
    std::vector<double> p(m);
    for (std::size_t i = 0; i < m; ++i) p[i] = image.plane(ch)[i] / 255.0;
    const std::vector<double> mean_p = box(p);
    std::array<std::vector<double>, 3> a;
    for (int c = 0; c < 3; ++c) {
      std::vector<double> gp(m);
      for (std::size_t i = 0; i < m; ++i) gp[i] = g[c][i] * p[i];
      a[c] = box(gp);  // E[g_c·p], then cov(g_c, p) below
      for (std::size_t i = 0; i < m; ++i) a[c][i] -= mean_g[c][i] * mean_p[i];
    }
    std::vector<double> b(m);
    for (std::size_t i = 0; i < m; ++i) {
      const double sigma_inv[6] = {inv[0][i], inv[1][i], inv[2][i], inv[3][i], inv[4][i], inv[5][i]};
      const double cov_gp[3] = {a[0][i], a[1][i], a[2][i]};
      double coef[3];
      math::sym3_apply(sigma_inv, cov_gp, coef);  // a = (Σ + εI)⁻¹·cov(g, p)
      for (int c = 0; c < 3; ++c) a[c][i] = coef[c];
      b[i] = mean_p[i] - coef[0] * mean_g[0][i] - coef[1] * mean_g[1][i] - coef[2] * mean_g[2][i];
    }
    const std::vector<double> mean_b = box(b);
    std::array<std::vector<double>, 3> mean_a{box(a[0]), box(a[1]), box(a[2])};
    float* q = out.plane(ch);
    for (std::size_t i = 0; i < m; ++i) {
      const double v = mean_a[0][i] * g[0][i] + mean_a[1][i] * g[1][i] + mean_a[2][i] * g[2][i] + mean_b[i];
      q[i] = float(std::clamp(v * 255.0, 0.0, 255.0));
    }
  }
  return out;
}

}  // namespace impasto
