// fuzz/fuzz_image.cpp — fuzz target: any bytes as an image file through impasto::read_image (JPEG, PNG, PPM/PGM,
// BMP, told apart by content), read as RGB and as gray. An impasto::Error is the expected answer to a bad file;
// a crash, a sanitizer report, another exception or a decoded image that breaks read_image's promises is a
// finding.
#include <cmath>
#include <cstdint>

#include "engine/error.hpp"
#include "engine/image.hpp"
#include "fuzz/fuzz_support.hpp"

namespace {

void check_decoded(const impasto::Image& img, int channels) {
  using impasto::fuzz::require;
  require(img.c == channels, "read_image: the channel count asked for");
  require(img.h > 0 && img.w > 0, "read_image: sizes > 0");
  require((long long)img.h * img.w <= impasto::kMaxPixels, "read_image: at most kMaxPixels pixels");
  require(img.data.size() == std::size_t(img.c) * img.h * img.w, "read_image: data holds c*h*w values");
  for (float v : img.data) require(std::isfinite(v) && v >= 0.0f && v <= 255.0f, "read_image: values in 0..255");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = impasto::fuzz::write_input(data, size, "input");
  for (int channels : {3, 1}) {
    try {
      check_decoded(impasto::read_image(path, channels), channels);
    } catch (const impasto::Error&) {
      // rejected with a one-line message: the expected answer to a bad file
    }
  }
  return 0;
}
