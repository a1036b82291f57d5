// engine/image_codecs.hpp — PNG and JPEG decoding through the reference libraries (libpng, libjpeg-turbo, from
// Debian), which are fuzzed continuously upstream; stb_image decodes only PPM/PGM and BMP (engine/image.cpp).
// Internal to image.cpp and its tests.
//
// Both read from memory, check the size in the header before allocating anything for the pixels (a one-line
// "too large" or "no pixels" rather than a decoder's message), and treat every warning about corrupt data as
// an error. Neither applies gamma or colour management (as stb and OpenCV read by default): samples come as
// stored. 16-bit PNG samples keep their high byte; palettes, low bit depths and transparency are expanded and
// alpha is dropped.
#pragma once

#include <string>
#include <vector>

namespace impasto::codec {

struct Decoded {
  int w = 0, h = 0, channels = 0;    // channels: 1 (gray) or 3 (RGB)
  std::vector<unsigned char> pixels;  // (H,W,channels) interleaved, 8-bit
};

// Throws a one-line Error "image 'PATH': …" unless w×h is a size impasto takes (engine/image.hpp limits).
void check_size(const std::string& path, long long w, long long h);

// gray: a gray file comes as 1 channel (else as RGB); a colour file always comes as RGB.
Decoded decode_png(const unsigned char* data, std::size_t size, const std::string& path, bool gray);
Decoded decode_jpeg(const unsigned char* data, std::size_t size, const std::string& path, bool gray);

}  // namespace impasto::codec
