// engine/image.hpp — images on the host: read (JPEG, PNG, PPM/PGM, BMP), write (PNG, JPEG) atomically,
// area resizing, and the network's pre/post-processing (DESIGN.md "The math").
#pragma once

#include <string>
#include <vector>

namespace impasto {

// Planar float image, values 0..255: data is (C,H,W), C = 3 (RGB) or 1 (gray/mask).
struct Image {
  int c = 0, h = 0, w = 0;
  std::vector<float> data;  // (C,H,W)
  float* plane(int ch) { return data.data() + std::size_t(ch) * h * w; }
  const float* plane(int ch) const { return data.data() + std::size_t(ch) * h * w; }
};

// Reads an image as RGB (channels = 3) or grayscale (channels = 1); throws a one-line Error naming the
// file when it is missing, unreadable, truncated, empty or not an image.
Image read_image(const std::string& path, int channels = 3);
// Writes PNG or JPEG (by extension; .jpg/.jpeg quality 95), rounding and clipping to 0..255. The file is
// written to a temporary name in the same folder and renamed; an existing file is kept unless overwrite.
void write_image(const Image& img, const std::string& path, bool overwrite);

// Resize to w×h: area averaging when shrinking (each output pixel is the mean of the input area it
// covers, as OpenCV's INTER_AREA), bilinear with half-pixel centres when enlarging. Any channel count.
Image resize_area(const Image& img, int w, int h);
// The size of an h×w image scaled so that its longer side is `size` pixels, aspect ratio kept (sides
// rounded, at least 1). engine/resample.hpp's resize_longer_side resizes an image so.
struct ImageSize {
  int h = 0, w = 0;
};
ImageSize longer_side_size(int h, int w, int size);

// The largest picture impasto reads or makes (2^27 pixels: 1.5 GiB as float RGB), and its longest side
// (longer is certainly a mistake or a corrupt header).
inline constexpr long long kMaxPixels = 1LL << 27;
inline constexpr int kMaxSide = 32768;
// A one-line Error naming `what` unless img is a non-empty (C,H,W) image whose data has C·H·W values.
void check_image(const Image& img, const char* what);

// ImageNet mean of the Caffe VGG weights, (R,G,B).
inline constexpr float kImagenetMeanRgb[3] = {123.68f, 116.779f, 103.939f};
// RGB 0..255 → network input (3,H,W): times pixel_scale, minus the mean, channels in BGR order when bgr.
// (pixel_scale 256/255: jcjohnson/neural-style, which reads images as 0..1 and multiplies them by 256.)
std::vector<float> preprocess(const Image& rgb, bool bgr, float pixel_scale = 1.0f);
// Network input (3,H,W) → RGB 0..255 image: plus the mean, divided by pixel_scale, back to RGB order, clipped
// to 0..255.
Image postprocess(const float* x, int h, int w, bool bgr, float pixel_scale = 1.0f);

}  // namespace impasto
