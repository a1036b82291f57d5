// engine/image.cpp — images on the host (see image.hpp): decoding (PNG and JPEG through libpng and libjpeg,
// engine/image_codecs.*; PPM and BMP through stb_image, with the completeness checks stb itself skips),
// encoding through stb_image_write into memory and an atomic write (engine/files.hpp), separable area/bilinear
// resizing, and the network's pre/post-processing (DESIGN.md "The math").
#include "engine/image.hpp"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include "engine/files.hpp"
#include "engine/image_codecs.hpp"
#include "engine/error.hpp"
#include "engine/text.hpp"
#include "kernels/color.cuh"

namespace impasto {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<unsigned char>;

constexpr int kJpegQuality = 95;
// Larger than any image impasto can hold compressed (kMaxPixels × 3 bytes, PPM) plus headers.
constexpr std::uintmax_t kMaxImageFileBytes = std::uintmax_t(3) * kMaxPixels + (1u << 20);

// ---- reading ----------------------------------------------------------------------------------------------

enum class Format { png, jpeg, pnm, bmp, unknown };

Format sniff_format(const Bytes& b) {
  auto starts = [&](const char* magic, std::size_t n) {
    return b.size() >= n && std::memcmp(b.data(), magic, n) == 0;
  };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return Format::png;
  if (starts("\xff\xd8\xff", 3)) return Format::jpeg;
  if (starts("P5", 2) || starts("P6", 2)) return Format::pnm;
  if (starts("BM", 2)) return Format::bmp;
  return Format::unknown;
}

// Walks the JPEG marker segments (ITU T.81 Annex B): segments with a length field, and after each SOS the
// entropy-coded data up to the next marker (0xFF00 is a stuffed byte, 0xFFD0..D7 are restart markers).
// Returns false when the file ends before the EOI marker. Segments inside APPn (e.g. EXIF thumbnails) are
// skipped by their length, so their own EOI does not count.
bool jpeg_complete(const Bytes& b) {
  std::size_t i = 2;  // after SOI
  const std::size_t n = b.size();
  while (true) {
    while (i < n && b[i] != 0xFF) ++i;   // tolerate padding between segments
    while (i < n && b[i] == 0xFF) ++i;   // fill bytes
    if (i >= n) return false;
    const unsigned char marker = b[i++];
    if (marker == 0xD9) return true;                                    // EOI
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length field
    if (i + 2 > n) return false;
    const std::size_t length = (std::size_t(b[i]) << 8) | b[i + 1];
    if (length < 2) return true;  // malformed: leave the verdict to the decoder
    i += length;
    if (i > n) return false;
    if (marker != 0xDA) continue;
    // Entropy-coded data after SOS: runs to the next marker that is not a stuffed byte or a restart.
    while (true) {
      while (i < n && b[i] != 0xFF) ++i;
      if (i + 1 >= n) return false;
      const unsigned char next = b[i + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7) || next == 0xFF) {
        i += next == 0xFF ? 1 : 2;
        continue;
      }
      break;
    }
  }
}

// Binary PGM/PPM (P5/P6): header "Px w h maxval" with whitespace and #-comments, one whitespace byte, then
// w·h·channels samples of 1 byte (maxval < 256) or 2. False when the header is malformed, the samples are
// 16-bit (not read), or the samples do not fit in the file.
bool pnm_complete(const Bytes& b) {
  std::size_t i = 2;
  long long fields[3] = {0, 0, 0};
  for (long long& field : fields) {
    while (i < b.size() && (std::isspace(b[i]) || b[i] == '#')) {
      if (b[i] == '#') {
        while (i < b.size() && b[i] != '\n' && b[i] != '\r') ++i;
      } else {
        ++i;
      }
    }
    // Malformed (a field that is not a number): refused here, since stb would take the numbers it has and
    // allocate for them before finding the file too short.
    if (i >= b.size() || !std::isdigit(b[i])) return false;
    while (i < b.size() && std::isdigit(b[i]) && field < (1LL << 40)) field = field * 10 + (b[i++] - '0');
  }
  ++i;  // the single whitespace byte before the samples
  // 16-bit samples: stb 2.27 converts them to RGB as if they were 8-bit and reads past its buffer.
  if (fields[2] < 1 || fields[2] > 255) return false;
  const long long channels = b[1] == '6' ? 3 : 1;
  const long long bytes = fields[2] > 255 ? 2 : 1;
  if (fields[0] > kMaxSide || fields[1] > kMaxSide) return true;  // the size check reports it
  const long long need = fields[0] * fields[1] * channels * bytes;
  return static_cast<long long>(i) + need <= static_cast<long long>(b.size());
}

std::uint32_t le32(const Bytes& b, std::size_t at) {
  return std::uint32_t(b[at]) | std::uint32_t(b[at + 1]) << 8 | std::uint32_t(b[at + 2]) << 16 |
         std::uint32_t(b[at + 3]) << 24;
}
std::uint16_t le16(const Bytes& b, std::size_t at) { return std::uint16_t(b[at] | b[at + 1] << 8); }

// Uncompressed BMP (BI_RGB / BI_BITFIELDS): the pixel rows, padded to 4 bytes, must fit after bfOffBits.
// Compressed (RLE) bitmaps are refused: stb_image does not read them.
bool bmp_complete(const Bytes& b) {
  if (b.size() < 26) return false;
  const std::size_t offset = le32(b, 10);
  const std::uint32_t header = le32(b, 14);
  long long w, h, bpp, compression = 0;
  if (header == 12) {  // BITMAPCOREHEADER
    w = le16(b, 18);
    h = le16(b, 20);
    bpp = le16(b, 24);
  } else {
    if (b.size() < 34) return false;
    w = std::int32_t(le32(b, 18));
    h = std::int32_t(le32(b, 22));
    bpp = le16(b, 28);
    compression = le32(b, 30);
  }
  if (compression != 0 && compression != 3) return false;  // RLE and the rest: stb cannot, impasto does not
  if (w <= 0 || w > kMaxSide || std::llabs(h) > kMaxSide) return true;  // the decoder or the size check says
  const long long row = (bpp * w + 31) / 32 * 4;
  return static_cast<long long>(offset) + row * std::llabs(h) <= static_cast<long long>(b.size());
}

Bytes read_file(const std::string& path) {
  check_input_file(path, "image", kMaxImageFileBytes);
  std::ifstream in(path, std::ios::binary);
  IMPASTO_CHECK(in, "image '" << path << "': cannot open (" << std::strerror(errno) << ")");
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  IMPASTO_CHECK(!in.bad(), "image '" << path << "': read error");
  IMPASTO_CHECK(!bytes.empty(), "image '" << path << "': empty file (0 bytes)");
  return bytes;
}

// stb's reason for the last failure, never null.
const char* stb_reason() {
  const char* r = stbi_failure_reason();
  return r != nullptr ? r : "unknown decoder error";
}

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

// PPM/PGM and BMP through stb_image (after the completeness checks above).
codec::Decoded decode_stb(const Bytes& bytes, const std::string& path, bool gray) {
  const int size = int(bytes.size());
  int w = 0, h = 0, file_channels = 0;
  IMPASTO_CHECK(stbi_info_from_memory(bytes.data(), size, &w, &h, &file_channels),
                "image '" << path << "': corrupt or truncated (" << stb_reason() << ")");
  codec::check_size(path, w, h);
  const int load_channels = (gray && file_channels <= 2) ? 1 : 3;
  std::unique_ptr<unsigned char, StbFree> pixels(
      stbi_load_from_memory(bytes.data(), size, &w, &h, &file_channels, load_channels));
  IMPASTO_CHECK(pixels != nullptr, "image '" << path << "': corrupt or truncated (" << stb_reason() << ")");
  codec::Decoded d{w, h, load_channels, {}};
  d.pixels.assign(pixels.get(), pixels.get() + std::size_t(w) * h * load_channels);
  return d;
}

}  // namespace

Image read_image(const std::string& path, int channels) {
  IMPASTO_CHECK(channels == 1 || channels == 3,
                "read_image '" << path << "': channels must be 1 or 3, got " << channels);
  const Bytes bytes = read_file(path);
  IMPASTO_CHECK(bytes.size() <= std::size_t(INT32_MAX), "image '" << path << "': file too large");
  const Format format = sniff_format(bytes);
  IMPASTO_CHECK(format != Format::unknown,
                "image '" << path << "': not an image (supported: JPEG, PNG, binary PPM/PGM, BMP)");

  const bool complete = format == Format::jpeg  ? jpeg_complete(bytes)
                        : format == Format::pnm ? pnm_complete(bytes)
                        : format == Format::bmp ? bmp_complete(bytes)
                                                : true;  // stb fails on a short PNG chunk or a missing IEND
  IMPASTO_CHECK(complete, "image '" << path << "': truncated, malformed, or a kind impasto does not read (16-bit "
                                    << "PPM/PGM, compressed BMP); " << bytes.size() << " bytes");

  // Gray files load as one channel; color files as RGB, reduced to luminance below when gray is wanted
  // (in float, so no rounding to 8 bits; the decoders' own reduction rounds).
  const bool gray = channels == 1;
  codec::Decoded d = format == Format::png    ? codec::decode_png(bytes.data(), bytes.size(), path, gray)
                     : format == Format::jpeg ? codec::decode_jpeg(bytes.data(), bytes.size(), path, gray)
                                              : decode_stb(bytes, path, gray);
  const int w = d.w, h = d.h, load_channels = d.channels;

  Image img;
  img.c = channels;
  img.h = h;
  img.w = w;
  img.data.resize(std::size_t(channels) * h * w);  // (C,H,W)
  const std::size_t m = std::size_t(h) * w;
  const unsigned char* p = d.pixels.data();  // (H,W,load_channels) interleaved
  for (std::size_t i = 0; i < m; ++i) {
    const unsigned char* px = p + i * load_channels;
    if (channels == load_channels) {
      for (int c = 0; c < channels; ++c) img.data[c * m + i] = float(px[c]);
    } else {  // RGB file read as gray: ITU-R BT.601 luma, as OpenCV's IMREAD_GRAYSCALE
      img.data[i] = std::min(255.0f, math::luma_601(px[0], px[1], px[2]));
    }
  }
  return img;
}

// ---- writing ------------------------------------------------------------------------------------------------

namespace {

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);
}

}  // namespace

void write_image(const Image& img, const std::string& path, bool overwrite) {
  const std::string ext = lower_extension(path);
  const bool png = ext == ".png";
  IMPASTO_CHECK(png || ext == ".jpg" || ext == ".jpeg",
                "image '" << path << "': cannot write extension '" << ext << "' (use .png, .jpg or .jpeg)");
  check_image(img, ("write_image '" + path + "'").c_str());
  IMPASTO_CHECK(img.c == 1 || img.c == 3,
                "write_image '" << path << "': " << img.c << " channels (expected 1 or 3)");
  std::error_code ec;
  IMPASTO_CHECK(overwrite || !fs::exists(fs::symlink_status(path, ec)),
                "'" << path << "' exists (use --force to overwrite)");

  // Planar float → interleaved 8-bit (H,W,C), rounded and clipped; NaN becomes 0.
  const std::size_t m = std::size_t(img.h) * img.w;
  std::vector<unsigned char> pixels(m * img.c);  // (H,W,C)
  for (int c = 0; c < img.c; ++c) {
    const float* src = img.plane(c);
    for (std::size_t i = 0; i < m; ++i) {
      const float v = src[i];
      pixels[i * img.c + c] = v > 0.0f ? (unsigned char)(std::min(v, 255.0f) + 0.5f) : 0;
    }
  }
  Bytes encoded;
  const int ok = png ? stbi_write_png_to_func(append_bytes, &encoded, img.w, img.h, img.c, pixels.data(),
                                              img.w * img.c)
                     : stbi_write_jpg_to_func(append_bytes, &encoded, img.w, img.h, img.c, pixels.data(),
                                              kJpegQuality);
  IMPASTO_CHECK(ok && !encoded.empty(), "image '" << path << "': encoding failed");

  write_file_atomic(path, encoded.data(), encoded.size(), overwrite);
}

// ---- resizing -------------------------------------------------------------------------------------------------

namespace {

// The linear map of one axis, in → out samples: output i = Σ weight·input[src] over its taps.
struct AxisMap {
  std::vector<int> begin;  // (out+1) offsets into taps
  std::vector<int> src;    // (taps)
  std::vector<float> weight;  // (taps)
};

// Shrinking: output i covers [i·s, (i+1)·s) of the input, s = in/out, and averages it with exact fractional
// coverage (OpenCV INTER_AREA). Enlarging: bilinear with half-pixel centres, x = (i+½)·in/out − ½, clamped
// to the edge samples. Equal sizes: identity.
AxisMap axis_map(int in, int out) {
  AxisMap map;
  map.begin.push_back(0);
  const double scale = double(in) / out;
  for (int i = 0; i < out; ++i) {
    if (in > out) {
      const double x0 = i * scale, x1 = (i + 1) * scale;
      const std::size_t first = map.src.size();
      double total = 0;
      for (int s = int(std::floor(x0)); s < in && s < x1; ++s) {
        const double cover = std::min(x1, s + 1.0) - std::max(x0, double(s));
        if (cover <= 1e-9) continue;
        map.src.push_back(s);
        map.weight.push_back(float(cover));
        total += cover;
      }
      for (std::size_t t = first; t < map.src.size(); ++t) map.weight[t] = float(map.weight[t] / total);
    } else {
      const double x = std::max(0.0, (i + 0.5) * scale - 0.5);
      const int s = std::min(int(x), in - 1);
      const double frac = s + 1 < in ? x - s : 0.0;
      map.src.push_back(s);
      map.weight.push_back(float(1.0 - frac));
      if (frac > 0) {
        map.src.push_back(s + 1);
        map.weight.push_back(float(frac));
      }
    }
    map.begin.push_back(int(map.src.size()));
  }
  return map;
}

// Applies `map` along one axis of `count` lines: input line l, sample k is at in[l·line_in + k·stride],
// output likewise with line_out; the other index runs over `inner` contiguous elements.
void apply_axis(const AxisMap& map, const float* in, float* out, std::size_t count, std::size_t line_in,
                std::size_t line_out, std::size_t stride, std::size_t inner) {
  const int n_out = int(map.begin.size()) - 1;
  for (std::size_t l = 0; l < count; ++l) {
    for (int i = 0; i < n_out; ++i) {
      float* o = out + l * line_out + std::size_t(i) * stride;
      std::fill(o, o + inner, 0.0f);
      for (int t = map.begin[i]; t < map.begin[i + 1]; ++t) {
        const float* s = in + l * line_in + std::size_t(map.src[t]) * stride;
        const float wt = map.weight[t];
        for (std::size_t k = 0; k < inner; ++k) o[k] += wt * s[k];
      }
    }
  }
}

}  // namespace

void check_image(const Image& img, const char* what) {
  IMPASTO_CHECK(img.c > 0 && img.h > 0 && img.w > 0 && img.data.size() == std::size_t(img.c) * img.h * img.w,
                what << ": malformed image (c=" << img.c << ", h=" << img.h << ", w=" << img.w << ", "
                     << img.data.size() << " values)");
}

Image resize_area(const Image& img, int w, int h) {
  check_image(img, "resize_area");
  IMPASTO_CHECK(w > 0 && h > 0 && (long long)w * h <= kMaxPixels,
                "resize_area: bad target size " << w << "x" << h);
  // Horizontal pass: (C,H,W) → (C,H,w); one line per row, samples contiguous (inner = 1).
  const AxisMap mx = axis_map(img.w, w);
  std::vector<float> rows(std::size_t(img.c) * img.h * w);  // (C,H,w)
  apply_axis(mx, img.data.data(), rows.data(), std::size_t(img.c) * img.h, img.w, w, 1, 1);
  // Vertical pass: (C,H,w) → (C,h,w); one line per channel, samples are rows of w contiguous values.
  const AxisMap my = axis_map(img.h, h);
  Image out;
  out.c = img.c;
  out.h = h;
  out.w = w;
  out.data.resize(std::size_t(img.c) * h * w);  // (C,h,w)
  apply_axis(my, rows.data(), out.data.data(), img.c, std::size_t(img.h) * w, std::size_t(h) * w, w, w);
  return out;
}

ImageSize longer_side_size(int h, int w, int size) {
  IMPASTO_CHECK(size > 0 && size <= kMaxSide, "a longer side of " << size << " pixels (it must be 1.." << kMaxSide << ")");
  IMPASTO_CHECK(h > 0 && w > 0, "resize_longer_side: the image " << w << "x" << h << " is empty");
  const double scale = double(size) / std::max(w, h);
  return {std::max(1, int(std::lround(h * scale))), std::max(1, int(std::lround(w * scale)))};
}

// ---- network pre/post-processing ------------------------------------------------------------------------------

std::vector<float> preprocess(const Image& rgb, bool bgr, float pixel_scale) {
  check_image(rgb, "preprocess");
  IMPASTO_CHECK(rgb.c == 3, "preprocess: expected an RGB image, got " << rgb.c << " channel(s)");
  const std::size_t m = std::size_t(rgb.h) * rgb.w;
  std::vector<float> x(3 * m);  // (3,H,W) in network channel order
  for (int k = 0; k < 3; ++k) {
    const int c = bgr ? 2 - k : k;  // RGB channel that feeds network channel k
    const float* src = rgb.plane(c);
    float* dst = x.data() + k * m;
    for (std::size_t i = 0; i < m; ++i) dst[i] = src[i] * pixel_scale - kImagenetMeanRgb[c];
  }
  return x;
}

Image postprocess(const float* x, int h, int w, bool bgr, float pixel_scale) {
  IMPASTO_CHECK(x != nullptr && h > 0 && w > 0, "postprocess: bad input (h=" << h << ", w=" << w << ")");
  Image img;
  img.c = 3;
  img.h = h;
  img.w = w;
  const std::size_t m = std::size_t(h) * w;
  img.data.resize(3 * m);  // (3,H,W) RGB
  for (int c = 0; c < 3; ++c) {
    const float* src = x + (bgr ? 2 - c : c) * m;  // network channel holding RGB channel c
    float* dst = img.plane(c);
    for (std::size_t i = 0; i < m; ++i) dst[i] = std::clamp((src[i] + kImagenetMeanRgb[c]) / pixel_scale, 0.0f, 255.0f);
  }
  return img;
}

}  // namespace impasto
