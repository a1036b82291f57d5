// kernels/color.cuh — per-pixel color math shared by the CPU backend and the CUDA kernels: RGB (0..255) to
// and from the luminance/chroma spaces of color preservation (DESIGN.md "Color preservation"). The forward
// transforms follow OpenCV's cv2.cvtColor definitions, which neural-style-tf uses:
//   YUV   (COLOR_RGB2YUV):   Y = 0.299R + 0.587G + 0.114B, U = 0.492(B−Y) + 128, V = 0.877(R−Y) + 128
//   YCrCb (COLOR_RGB2YCrCb): Y as above, Cr = 0.713(R−Y) + 128, Cb = 0.564(B−Y) + 128   (order Y, Cr, Cb)
//   Lab, Luv (COLOR_RGB2Lab / COLOR_RGB2Luv, float convention): sRGB scaled to 0..1, gamma-decoded, to XYZ
//   with OpenCV's sRGB/D65 matrix, then CIE L*a*b* / L*u*v* with L in 0..100 and a, b, u, v unscaled.
//   (YUV, YCrCb and Luv agree with OpenCV 4.6 to float rounding; OpenCV's float RGB→Lab interpolates a
//   lookup table and is off the formula by up to ~0.1, so Lab here is the formula, not the table.)
// The inverses are the exact algebraic inverses (OpenCV's own YUV→RGB uses rounded coefficients, e.g.
// 2.032 for 1/0.492), so inverse∘forward is the identity to ~1e-3 on 0..255. Lab/Luv→RGB clip linear RGB
// to [0,1] before gamma encoding, as OpenCV does (out-of-gamut colors cannot be encoded otherwise);
// YUV/YCrCb→RGB do not clip. Channel 0 is always the luminance.
// space = int(ColorSpace): 0 yuv, 1 ycrcb, 2 lab, 3 luv.
#pragma once

#include <math.h>

#include "kernels/hd.cuh"

namespace impasto::math {

// ---- YUV / YCrCb: Y plus two scaled color differences around 128 -------------------------------------
IMPASTO_HD float luma_601(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }

// Scale factors of the (R−Y, B−Y) differences: YUV's V, U and YCrCb's Cr, Cb.
struct ChromaScales {
  float red, blue;
};
IMPASTO_HD ChromaScales chroma_scales(int space) {
  return space == 0 ? ChromaScales{0.877f, 0.492f} : ChromaScales{0.713f, 0.564f};
}

// o0 = Y; YUV: (o1, o2) = (U, V); YCrCb: (o1, o2) = (Cr, Cb).
IMPASTO_HD void rgb_to_luma_chroma(int space, float r, float g, float b, float* o0, float* o1, float* o2) {
  const ChromaScales k = chroma_scales(space);
  const float y = luma_601(r, g, b);
  const float dr = (r - y) * k.red + 128.0f, db = (b - y) * k.blue + 128.0f;
  *o0 = y;
  *o1 = space == 0 ? db : dr;
  *o2 = space == 0 ? dr : db;
}

IMPASTO_HD void luma_chroma_to_rgb(int space, float c0, float c1, float c2, float* r, float* g, float* b) {
  const ChromaScales k = chroma_scales(space);
  const float dr = space == 0 ? c2 : c1, db = space == 0 ? c1 : c2;
  const float rr = c0 + (dr - 128.0f) / k.red;
  const float bb = c0 + (db - 128.0f) / k.blue;
  *r = rr;
  *b = bb;
  *g = (c0 - 0.299f * rr - 0.114f * bb) / 0.587f;
}

// ---- sRGB ↔ XYZ (OpenCV's sRGB2XYZ_D65 matrix, white point D65) ----------------------------------------
// Lab and Luv compute in double: near black the sRGB curve has slope 12.92·255 ≈ 3300, so float rounding
// in XYZ (~1e-6 after the cube, the cube root and the matrices) would cost ~3e-3 in a round trip. The
// conversion runs once per image, so FP64 costs nothing that matters even on GPUs with slow FP64.
// The XYZ → RGB matrix is the exact inverse of the forward one, to 9 digits; OpenCV's 6-digit XYZ2sRGB_D65
// leaves ~1e-6 of cross-talk.
constexpr double kWhiteX = 0.950456, kWhiteY = 1.0, kWhiteZ = 1.088754;
// CIE constants as OpenCV writes them: ε = 0.008856, κ = 903.3, and the linear segment 7.787t + 16/116.
constexpr double kLabEpsilon = 0.008856, kLabKappa = 903.3, kLabSlope = 7.787, kLabOffset = 16.0 / 116.0;

IMPASTO_HD double srgb_decode(double v) {  // v in 0..1 (gamma-encoded) → linear
  return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}
IMPASTO_HD double srgb_encode(double v) {  // linear, clipped to 0..1 → gamma-encoded
  v = fmin(fmax(v, 0.0), 1.0);
  return v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1.0 / 2.4) - 0.055;
}

struct Xyz {
  double x, y, z;  // Y of white = 1
};
IMPASTO_HD Xyz rgb255_to_xyz(float r, float g, float b) {
  const double lr = srgb_decode(r / 255.0), lg = srgb_decode(g / 255.0), lb = srgb_decode(b / 255.0);
  return {0.412453 * lr + 0.357580 * lg + 0.180423 * lb,  //
          0.212671 * lr + 0.715160 * lg + 0.072169 * lb,  //
          0.019334 * lr + 0.119193 * lg + 0.950227 * lb};
}
// XYZ → RGB 0..255 (linear RGB clipped to the gamut before encoding).
IMPASTO_HD void xyz_to_rgb255(Xyz c, float* r, float* g, float* b) {
  const double lr = 3.240481343 * c.x - 1.537151516 * c.y - 0.498536326 * c.z;
  const double lg = -0.969254950 * c.x + 1.875990001 * c.y + 0.041555927 * c.z;
  const double lb = 0.055646639 * c.x - 0.204041338 * c.y + 1.057311070 * c.z;
  *r = float(255.0 * srgb_encode(lr));
  *g = float(255.0 * srgb_encode(lg));
  *b = float(255.0 * srgb_encode(lb));
}

// CIE f(t) = ∛t above ε, its linear extension below; and its inverse.
IMPASTO_HD double lab_f(double t) { return t > kLabEpsilon ? cbrt(t) : kLabSlope * t + kLabOffset; }
IMPASTO_HD double lab_f_inv(double f) {
  return f > kLabSlope * kLabEpsilon + kLabOffset ? f * f * f : (f - kLabOffset) / kLabSlope;
}
// L* (0..100) from relative luminance Y (0..1), and f(Y) from L* (so Y = lab_f_inv(f(Y))).
IMPASTO_HD double lightness(double y) { return y > kLabEpsilon ? 116.0 * cbrt(y) - 16.0 : kLabKappa * y; }
IMPASTO_HD double lab_f_of_lightness(double l) {
  return l > kLabKappa * kLabEpsilon ? (l + 16.0) / 116.0 : kLabSlope * (l / kLabKappa) + kLabOffset;
}

// ---- CIE L*a*b* --------------------------------------------------------------------------------------------
IMPASTO_HD void rgb_to_lab(float r, float g, float b, float* l, float* a, float* bb) {
  const Xyz c = rgb255_to_xyz(r, g, b);
  const double fx = lab_f(c.x / kWhiteX), fy = lab_f(c.y / kWhiteY), fz = lab_f(c.z / kWhiteZ);
  *l = float(lightness(c.y / kWhiteY));
  *a = float(500.0 * (fx - fy));
  *bb = float(200.0 * (fy - fz));
}
IMPASTO_HD void lab_to_rgb(float l, float a, float bb, float* r, float* g, float* b) {
  const double fy = lab_f_of_lightness(l);
  const Xyz c{kWhiteX * lab_f_inv(fy + a / 500.0), kWhiteY * lab_f_inv(fy), kWhiteZ * lab_f_inv(fy - bb / 200.0)};
  xyz_to_rgb255(c, r, g, b);
}

// ---- CIE L*u*v* ----------------------------------------------------------------------------------------------
// u′, v′ chromaticity; the denominator is kept away from 0 (black) as OpenCV does with FLT_EPSILON.
struct Chromaticity {
  double u, v;
};
IMPASTO_HD Chromaticity uv_prime(Xyz c) {
  const double d = 1.0 / fmax(c.x + 15.0 * c.y + 3.0 * c.z, 1.1920929e-7);
  return {4.0 * c.x * d, 9.0 * c.y * d};
}
IMPASTO_HD void rgb_to_luv(float r, float g, float b, float* l, float* u, float* v) {
  const Xyz c = rgb255_to_xyz(r, g, b);
  const Chromaticity p = uv_prime(c), n = uv_prime(Xyz{kWhiteX, kWhiteY, kWhiteZ});
  const double ll = lightness(c.y);
  *l = float(ll);
  *u = float(13.0 * ll * (p.u - n.u));
  *v = float(13.0 * ll * (p.v - n.v));
}
IMPASTO_HD void luv_to_rgb(float l, float u, float v, float* r, float* g, float* b) {
  const Chromaticity n = uv_prime(Xyz{kWhiteX, kWhiteY, kWhiteZ});
  Xyz c{0.0, lab_f_inv(lab_f_of_lightness(l)), 0.0};
  if (l > 1e-6f) {  // L = 0 is black whatever u, v say
    const double up = u / (13.0 * l) + n.u;
    const double vp = fmax(v / (13.0 * l) + n.v, 1e-6);  // v′ ≤ 0 lies outside every gamut
    c.x = c.y * 9.0 * up / (4.0 * vp);
    c.z = c.y * (12.0 - 3.0 * up - 20.0 * vp) / (4.0 * vp);
  }
  xyz_to_rgb255(c, r, g, b);
}

// ---- dispatch ----------------------------------------------------------------------------------------------
// RGB 0..255 → (o0, o1, o2) in `space`; o0 is the luminance.
IMPASTO_HD void rgb_to_color(int space, float r, float g, float b, float* o0, float* o1, float* o2) {
  if (space == 2) {
    rgb_to_lab(r, g, b, o0, o1, o2);
  } else if (space == 3) {
    rgb_to_luv(r, g, b, o0, o1, o2);
  } else {
    rgb_to_luma_chroma(space, r, g, b, o0, o1, o2);
  }
}
// (c0, c1, c2) in `space` → RGB 0..255 (Lab/Luv clip to the sRGB gamut; YUV/YCrCb do not clip).
IMPASTO_HD void color_to_rgb(int space, float c0, float c1, float c2, float* r, float* g, float* b) {
  if (space == 2) {
    lab_to_rgb(c0, c1, c2, r, g, b);
  } else if (space == 3) {
    luv_to_rgb(c0, c1, c2, r, g, b);
  } else {
    luma_chroma_to_rgb(space, c0, c1, c2, r, g, b);
  }
}

}  // namespace impasto::math
