// fuzz/fuzz_flo.cpp — fuzz target: any bytes as a Middlebury .flo file through impasto::check_flo_header and
// impasto::read_flo. An impasto::Error is the expected answer to a bad file; a crash, a sanitizer report, another
// exception, a field that breaks read_flo's promises, or the two functions disagreeing (read_flo accepting what
// the header check rejects, or another size) is a finding.
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>

#include "engine/error.hpp"
#include "engine/flow_io.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using impasto::fuzz::require;
  const std::string path = impasto::fuzz::write_input(data, size, "input.flo");
  std::optional<std::pair<int, int>> header;
  try {
    header = impasto::check_flo_header(path);
    require(header->first >= 1 && header->second >= 1 && header->first <= impasto::kMaxFloSide &&
                header->second <= impasto::kMaxFloSide,
            "check_flo_header: sides in 1..kMaxFloSide");
  } catch (const impasto::Error&) {
  }
  try {
    const impasto::FlowField f = impasto::read_flo(path);
    require(header.has_value(), "read_flo accepts only files check_flo_header accepts");
    require(header->first == f.w && header->second == f.h, "read_flo: the size check_flo_header gives");
    const std::size_t m = std::size_t(f.w) * f.h;
    require(f.data.size() == 2 * m, "read_flo: data holds 2*w*h values");
    std::int64_t unknown = 0;
    for (std::size_t k = 0; k < m; ++k) {
      const float u = f.data[k], v = f.data[m + k];
      require(std::isfinite(u) && std::isfinite(v), "read_flo: finite values");
      if (std::fabs(u) >= impasto::kUnknownFlow || std::fabs(v) >= impasto::kUnknownFlow) ++unknown;
    }
    require(unknown == f.unknown, "read_flo: unknown counts the pixels at or above kUnknownFlow");
  } catch (const impasto::Error&) {
  }
  return 0;
}
