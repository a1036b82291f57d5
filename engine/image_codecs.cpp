// engine/image_codecs.cpp — see image_codecs.hpp. Both libraries report errors by calling back into us; the
// callbacks longjmp (the libraries are C) to run_png / run_jpeg, frames that hold no state of their own: the
// decoder handles, the message and the pixels live in the caller, which throws the one-line error and whose
// guards release the handles.
#include "engine/image_codecs.hpp"

// clang-format off
#include <csetjmp>
#include <cstdio>
#include <jpeglib.h>
#include <png.h>
// clang-format on

#include <cstdint>
#include <cstring>

#include "engine/error.hpp"
#include "engine/image.hpp"

namespace impasto::codec {
namespace {

struct Failure {
  char message[JMSG_LENGTH_MAX + 64] = {};
};

// ---- PNG ----------------------------------------------------------------------------------------------------

struct PngInput {
  const unsigned char* data;
  std::size_t size, at;
  Failure failure;
};

void png_fail(png_structp png, png_const_charp message) {
  auto* in = static_cast<PngInput*>(png_get_error_ptr(png));
  std::snprintf(in->failure.message, sizeof in->failure.message, "%s", message);
  png_longjmp(png, 1);
}

void png_ignore_warning(png_structp, png_const_charp) {}  // ancillary trouble (an odd iCCP): the pixels are fine

void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* in = static_cast<PngInput*>(png_get_io_ptr(png));
  if (n > in->size - in->at) png_error(png, "truncated file");
  std::memcpy(out, in->data + in->at, n);
  in->at += n;
}

struct PngGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngGuard() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

// ---- JPEG ---------------------------------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  Failure failure;
};

void jpeg_fail(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<JpegError*>(cinfo->err);
  char text[JMSG_LENGTH_MAX] = {};
  (*cinfo->err->format_message)(cinfo, text);
  std::snprintf(e->failure.message, sizeof e->failure.message, "%s", text);
  std::longjmp(e->jump, 1);
}

// Level −1 is a warning about corrupt data ("Premature end of JPEG file", "Corrupt JPEG data: …"): an error
// here, since the pixels it leaves are made up. Other levels are trace messages.
void jpeg_message(j_common_ptr cinfo, int level) {
  if (level < 0) jpeg_fail(cinfo);
}

// A progressive file may hold any number of scans, each a pass over the whole image: a few thousand tiny
// scans make a small file take minutes. Real encoders write at most a few dozen.
constexpr int kMaxJpegScans = 1000;
void jpeg_count_scans(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    auto* e = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(e->failure.message, sizeof e->failure.message, "more than %d scans", kMaxJpegScans);
    std::longjmp(e->jump, 1);
  }
}

struct JpegGuard {
  jpeg_decompress_struct cinfo{};
  bool created = false;
  ~JpegGuard() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

}  // namespace

void check_size(const std::string& path, long long w, long long h) {
  IMPASTO_CHECK(w > 0 && h > 0, "image '" << path << "': no pixels (" << w << "x" << h << ")");
  IMPASTO_CHECK(w <= kMaxSide && h <= kMaxSide && w * h <= kMaxPixels,
                "image '" << path << "': " << w << "x" << h << " pixels is too large (limit " << kMaxSide
                          << " per side, " << kMaxPixels << " pixels)");
}

namespace {

// The libpng run, in a frame of its own: after a longjmp back here, nothing local to this frame is used (the
// state lives in the caller's objects). Returns false when libpng reported an error (in in.failure).
bool run_png(PngGuard& g, PngInput& in, const std::string& path, bool gray, Decoded& out,
             std::vector<png_bytep>& rows) {
  if (setjmp(png_jmpbuf(g.png))) return false;
  png_set_read_fn(g.png, &in, png_read_memory);
  png_set_user_limits(g.png, 1u << 30, 1u << 30);  // our own check below names the size
  png_set_chunk_malloc_max(g.png, 64u << 20);       // ancillary chunks (text, profiles) of bounded size
  png_read_info(g.png, g.info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0;
  png_get_IHDR(g.png, g.info, &w, &h, &depth, &color, nullptr, nullptr, nullptr);
  check_size(path, w, h);  // a throw, not a longjmp: no libpng frame is skipped
  const bool file_gray = (color & PNG_COLOR_MASK_COLOR) == 0;
  png_set_expand(g.png);  // palette → RGB, gray < 8 bits → 8, tRNS → alpha
  png_set_strip_16(g.png);
  png_set_strip_alpha(g.png);
  if (!file_gray || !gray) png_set_gray_to_rgb(g.png);
  png_set_interlace_handling(g.png);
  png_read_update_info(g.png, g.info);
  out.w = int(w);
  out.h = int(h);
  out.channels = png_get_channels(g.png, g.info);
  const std::size_t row = png_get_rowbytes(g.png, g.info);
  IMPASTO_CHECK((out.channels == 1 || out.channels == 3) && row == std::size_t(out.channels) * w,
                "image '" << path << "': unexpected PNG layout (" << out.channels << " channels)");
  out.pixels.resize(row * h);
  rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = out.pixels.data() + y * row;
  png_read_image(g.png, rows.data());
  png_read_end(g.png, nullptr);
  return true;
}

// The libjpeg run, in a frame of its own (as run_png).
bool run_jpeg(JpegGuard& g, JpegError& err, jpeg_progress_mgr& progress, const unsigned char* data, std::size_t size,
              const std::string& path, bool gray, Decoded& out) {
  if (setjmp(err.jump)) return false;
  jpeg_create_decompress(&g.cinfo);
  g.created = true;
  progress.progress_monitor = jpeg_count_scans;
  g.cinfo.progress = &progress;
  jpeg_mem_src(&g.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&g.cinfo, TRUE);
  check_size(path, g.cinfo.image_width, g.cinfo.image_height);
  const bool file_gray = g.cinfo.jpeg_color_space == JCS_GRAYSCALE;
  g.cinfo.out_color_space = file_gray && gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&g.cinfo);
  out.w = int(g.cinfo.output_width);
  out.h = int(g.cinfo.output_height);
  out.channels = g.cinfo.output_components;
  IMPASTO_CHECK(out.channels == 1 || out.channels == 3,
                "image '" << path << "': unexpected JPEG layout (" << out.channels << " channels)");
  const std::size_t row = std::size_t(out.w) * out.channels;
  out.pixels.resize(row * std::size_t(out.h));
  while (g.cinfo.output_scanline < g.cinfo.output_height) {
    JSAMPROW line = out.pixels.data() + std::size_t(g.cinfo.output_scanline) * row;
    jpeg_read_scanlines(&g.cinfo, &line, 1);
  }
  jpeg_finish_decompress(&g.cinfo);
  return true;
}

}  // namespace

Decoded decode_png(const unsigned char* data, std::size_t size, const std::string& path, bool gray) {
  // The size first, from IHDR (always the first chunk: bytes 16..23 after the signature, length and type), so
  // that a huge claim is named as such, whatever follows it.
  if (size >= 24 && std::memcmp(data + 12, "IHDR", 4) == 0) {
    auto be32 = [&](std::size_t at) {
      return (std::uint32_t(data[at]) << 24) | (std::uint32_t(data[at + 1]) << 16) | (std::uint32_t(data[at + 2]) << 8) |
             std::uint32_t(data[at + 3]);
    };
    check_size(path, be32(16), be32(20));
  }
  PngInput in{data, size, 0, {}};
  PngGuard g;
  g.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &in, png_fail, png_ignore_warning);
  if (g.png != nullptr) g.info = png_create_info_struct(g.png);
  IMPASTO_CHECK(g.png != nullptr && g.info != nullptr, "image '" << path << "': cannot start the PNG decoder");
  Decoded out;
  std::vector<png_bytep> rows;
  IMPASTO_CHECK(run_png(g, in, path, gray, out, rows), "image '" << path << "': corrupt PNG (" << in.failure.message << ")");
  return out;
}

Decoded decode_jpeg(const unsigned char* data, std::size_t size, const std::string& path, bool gray) {
  JpegError err{};
  JpegGuard g;
  jpeg_progress_mgr progress{};
  g.cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_message;
  Decoded out;
  IMPASTO_CHECK(run_jpeg(g, err, progress, data, size, path, gray, out),
                "image '" << path << "': corrupt JPEG (" << err.failure.message << ")");
  return out;
}

}  // namespace impasto::codec
