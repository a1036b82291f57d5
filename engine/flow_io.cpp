// engine/flow_io.cpp — Middlebury .flo reading/writing with validation, flow resizing, atomic file writes
// (see flow_io.hpp).
#include "engine/flow_io.hpp"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "engine/files.hpp"
#include "engine/error.hpp"
#include "engine/image.hpp"

namespace impasto {
namespace {

static_assert(sizeof(float) == 4 && sizeof(std::int32_t) == 4, ".flo needs 32-bit floats and ints");

bool little_endian() {
  const std::uint32_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

// Validates the 12-byte header (`bytes` holds at least its first min(size, 12) bytes) against the file size.
std::pair<int, int> parse_header(const std::string& path, const std::string& bytes, std::uint64_t size) {
  IMPASTO_CHECK(size >= 12, "flow file '" << path << "': truncated header (" << size
                                          << " bytes, a .flo file starts with 12)");
  IMPASTO_CHECK(std::memcmp(bytes.data(), "PIEH", 4) == 0,
                "flow file '" << path << "': not a Middlebury .flo file (magic is not PIEH / 202021.25)");
  std::int32_t w = 0, h = 0;
  std::memcpy(&w, bytes.data() + 4, 4);
  std::memcpy(&h, bytes.data() + 8, 4);
  IMPASTO_CHECK(w > 0 && h > 0 && w <= kMaxFloSide && h <= kMaxFloSide,
                "flow file '" << path << "': bad size " << w << "x" << h << " (each side must be 1.." << kMaxFloSide
                              << ")");
  const std::uint64_t want = 12 + std::uint64_t(w) * std::uint64_t(h) * 8;
  IMPASTO_CHECK(size == want, "flow file '" << path << "': " << size << " bytes, expected " << want << " for " << w
                                            << "x" << h << (size < want ? " (truncated)" : " (trailing data)"));
  return {w, h};
}

}  // namespace

std::pair<int, int> check_flo_header(const std::string& path) {
  check_input_file(path, "flow file", 12 + std::uintmax_t(kMaxFloSide) * kMaxFloSide * 8);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  IMPASTO_CHECK(in.good(), "flow file '" << path << "': cannot open (" << std::strerror(errno) << ")");
  const std::uint64_t size = std::uint64_t(in.tellg());
  char header[12] = {};
  in.seekg(0);
  in.read(header, size >= 12 ? 12 : std::streamsize(size));
  const std::string bytes(header, std::size_t(size >= 12 ? 12 : size));
  return parse_header(path, bytes, size);
}

FlowField read_flo(const std::string& path) {
  IMPASTO_CHECK(little_endian(), "flow file '" << path << "': .flo reading needs a little-endian machine");
  check_input_file(path, "flow file", 12 + std::uintmax_t(kMaxFloSide) * kMaxFloSide * 8);
  std::ifstream in(path, std::ios::binary);
  IMPASTO_CHECK(in.good(), "flow file '" << path << "': cannot open (" << std::strerror(errno) << ")");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  IMPASTO_CHECK(!in.bad(), "flow file '" << path << "': read error");
  const auto [w, h] = parse_header(path, bytes, bytes.size());
  FlowField f;
  f.w = w;
  f.h = h;
  const std::size_t m = std::size_t(w) * h;
  f.data.resize(2 * m);
  const char* p = bytes.data() + 12;
  for (std::size_t k = 0; k < m; ++k) {
    float uv[2];
    std::memcpy(uv, p + 8 * k, 8);
    for (int c = 0; c < 2; ++c) {
      IMPASTO_CHECK(std::isfinite(uv[c]), "flow file '" << path << "': " << (std::isnan(uv[c]) ? "NaN" : "infinite")
                                                        << " " << (c == 0 ? "u" : "v") << " at pixel (x " << k % w
                                                        << ", y " << k / w << ")");
      f.data[c * m + k] = uv[c];
    }
    if (std::fabs(uv[0]) >= kUnknownFlow || std::fabs(uv[1]) >= kUnknownFlow) ++f.unknown;
  }
  return f;
}

void write_flo(const FlowField& flow, const std::string& path, bool overwrite) {
  IMPASTO_CHECK(little_endian(), "flow file '" << path << "': .flo writing needs a little-endian machine");
  IMPASTO_CHECK(flow.w > 0 && flow.h > 0 && flow.w <= kMaxFloSide && flow.h <= kMaxFloSide,
                "flow file '" << path << "': cannot write a " << flow.w << "x" << flow.h << " flow");
  const std::size_t m = std::size_t(flow.w) * flow.h;
  IMPASTO_CHECK(flow.data.size() == 2 * m, "flow file '" << path << "': the field holds " << flow.data.size()
                                                         << " values, expected " << 2 * m);
  std::string bytes(12 + 8 * m, '\0');
  std::memcpy(&bytes[0], "PIEH", 4);
  const std::int32_t w = flow.w, h = flow.h;
  std::memcpy(&bytes[4], &w, 4);
  std::memcpy(&bytes[8], &h, 4);
  for (std::size_t k = 0; k < m; ++k) {
    const float uv[2] = {flow.data[k], flow.data[m + k]};
    IMPASTO_CHECK(std::isfinite(uv[0]) && std::isfinite(uv[1]),
                  "flow file '" << path << "': non-finite flow at pixel (x " << k % flow.w << ", y " << k / flow.w
                                << ")");
    std::memcpy(&bytes[12 + 8 * k], uv, 8);
  }
  write_file_atomic(path, bytes, overwrite);
}

FlowField resize_flow(const FlowField& flow, int w, int h) {
  IMPASTO_CHECK(flow.w > 0 && flow.h > 0 && flow.data.size() == 2 * std::size_t(flow.w) * flow.h,
                "resize_flow: empty or mis-sized flow");
  if (w == flow.w && h == flow.h) return flow;
  Image img{2, flow.h, flow.w, flow.data};  // (2,H,W): resize_area takes any channel count
  Image r = resize_area(img, w, h);
  FlowField out;
  out.w = w;
  out.h = h;
  out.data = std::move(r.data);
  const float sx = float(w) / float(flow.w), sy = float(h) / float(flow.h);
  const std::size_t m = std::size_t(w) * h;
  for (std::size_t k = 0; k < m; ++k) {
    out.data[k] *= sx;
    out.data[m + k] *= sy;
    if (std::fabs(out.data[k]) >= kUnknownFlow || std::fabs(out.data[m + k]) >= kUnknownFlow) ++out.unknown;
  }
  return out;
}

}  // namespace impasto
