// tests/cpu/test_flow_io.cpp — Middlebury .flo I/O (engine/flow_io.hpp): an exact round trip (unknown values
// included), every kind of bad file giving a one-line error that names the file and the problem, refused
// writes, and flow resizing that scales the vectors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>

#include "engine/error.hpp"
#include "tests/support/temp_dir.hpp"
#include "engine/flow_io.hpp"

namespace fs = std::filesystem;
using namespace impasto;

namespace {

using test::TempDir;

std::string slurp(const std::string& path) { return test::read_file_bytes(path); }
void spit(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A valid .flo file image: magic, w, h, then (u,v) per pixel.
std::string flo_bytes(std::int32_t w, std::int32_t h, const std::vector<float>& uv_interleaved) {
  std::string b(12, '\0');
  std::memcpy(&b[0], "PIEH", 4);
  std::memcpy(&b[4], &w, 4);
  std::memcpy(&b[8], &h, 4);
  b.append(reinterpret_cast<const char*>(uv_interleaved.data()), uv_interleaved.size() * sizeof(float));
  return b;
}

FlowField random_flow(int w, int h, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-20.0f, 20.0f);
  FlowField f;
  f.w = w;
  f.h = h;
  f.data.resize(std::size_t(2) * w * h);
  for (float& v : f.data) v = d(rng);
  return f;
}

// read_flo must throw one line containing every fragment; check_flo_header too, unless the problem is in the
// values (which it does not read).
void expect_error(const std::string& path, std::initializer_list<const char*> fragments, bool header_problem = true) {
  for (int header_only = 0; header_only < (header_problem ? 2 : 1); ++header_only) {
    try {
      if (header_only)
        (void)check_flo_header(path);
      else
        (void)read_flo(path);
      FAIL((header_only ? "check_flo_header" : "read_flo") << " accepted " << path);
    } catch (const Error& e) {
      const std::string msg = e.what();
      INFO(msg);
      CHECK(msg.find('\n') == std::string::npos);
      CHECK(msg.find(path) != std::string::npos);
      for (const char* f : fragments) CHECK(msg.find(f) != std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("flo: write then read gives the same field and the same bytes; unknown values are counted") {
  TempDir dir;
  FlowField f = random_flow(7, 5, 1);  // odd sizes: rows and columns not confused
  f.data[3] = 1e9f;                    // Middlebury "unknown" in u of pixel 3
  f.data[35 + 10] = -2e9f;             // and in v of pixel 10
  const std::string path = dir / "a.flo";
  write_flo(f, path, false);
  CHECK(fs::file_size(path) == 12 + 8 * 35);
  const FlowField g = read_flo(path);
  CHECK(g.w == 7);
  CHECK(g.h == 5);
  CHECK(g.data == f.data);
  CHECK(g.unknown == 2);
  CHECK(check_flo_header(path) == std::pair<int, int>{7, 5});
  // The layout is the Middlebury one: interleaved (u, v) per pixel, row-major.
  const std::string b = slurp(path);
  float u1, v1;
  std::memcpy(&u1, b.data() + 12 + 8, 4);
  std::memcpy(&v1, b.data() + 12 + 12, 4);
  CHECK(u1 == f.data[1]);
  CHECK(v1 == f.data[35 + 1]);
  // Writing the read field again reproduces the bytes.
  write_flo(g, dir / "b.flo", false);
  CHECK(slurp(dir / "b.flo") == b);
}

TEST_CASE("flo: every kind of bad file is a one-line error naming the file and the problem") {
  TempDir dir;
  const std::vector<float> good(2 * 3 * 2, 0.5f);  // 3x2
  SUBCASE("missing") { expect_error(dir / "missing.flo", {"no such file"}); }
  SUBCASE("empty") {
    spit(dir / "e.flo", "");
    expect_error(dir / "e.flo", {"truncated header"});
  }
  SUBCASE("truncated header") {
    spit(dir / "t.flo", flo_bytes(3, 2, good).substr(0, 9));
    expect_error(dir / "t.flo", {"truncated header"});
  }
  SUBCASE("wrong magic") {
    std::string b = flo_bytes(3, 2, good);
    b[0] = 'X';
    spit(dir / "m.flo", b);
    expect_error(dir / "m.flo", {"not a Middlebury .flo file"});
  }
  SUBCASE("a PNG is not a .flo") {
    spit(dir / "p.flo", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
    expect_error(dir / "p.flo", {"magic"});
  }
  SUBCASE("zero width") {
    spit(dir / "z.flo", flo_bytes(0, 2, {}));
    expect_error(dir / "z.flo", {"bad size 0x2"});
  }
  SUBCASE("negative height") {
    spit(dir / "n.flo", flo_bytes(3, -2, good));
    expect_error(dir / "n.flo", {"bad size 3x-2"});
  }
  SUBCASE("absurd size (a text file read as .flo)") {
    spit(dir / "x.flo", flo_bytes(1 << 20, 1 << 20, good));
    expect_error(dir / "x.flo", {"bad size"});
  }
  SUBCASE("truncated data") {
    spit(dir / "d.flo", flo_bytes(3, 2, good).substr(0, 12 + 40));
    expect_error(dir / "d.flo", {"52 bytes, expected 60", "truncated"});
  }
  SUBCASE("trailing data") {
    spit(dir / "tr.flo", flo_bytes(3, 2, good) + "junk");
    expect_error(dir / "tr.flo", {"64 bytes, expected 60", "trailing"});
  }
  SUBCASE("NaN") {
    std::vector<float> bad = good;
    bad[2 * 4 + 1] = std::numeric_limits<float>::quiet_NaN();  // v of pixel 4 = (x 1, y 1)
    spit(dir / "nan.flo", flo_bytes(3, 2, bad));
    expect_error(dir / "nan.flo", {"NaN v at pixel (x 1, y 1)"}, false);
  }
  SUBCASE("infinity") {
    std::vector<float> bad = good;
    bad[0] = -std::numeric_limits<float>::infinity();
    spit(dir / "inf.flo", flo_bytes(3, 2, bad));
    expect_error(dir / "inf.flo", {"infinite u at pixel (x 0, y 0)"}, false);
  }
}

TEST_CASE("flo: writes that must be refused leave no file") {
  TempDir dir;
  FlowField f = random_flow(4, 3, 2);
  SUBCASE("non-finite values") {
    f.data[5] = std::numeric_limits<float>::infinity();
    CHECK_THROWS_WITH_AS(write_flo(f, dir / "a.flo", false), doctest::Contains("non-finite"), Error);
  }
  SUBCASE("mis-sized field") {
    f.data.pop_back();
    CHECK_THROWS_AS(write_flo(f, dir / "a.flo", false), Error);
  }
  SUBCASE("existing file without overwrite") {
    spit(dir / "a.flo", "keep");
    CHECK_THROWS_WITH_AS(write_flo(f, dir / "a.flo", false), doctest::Contains("exists"), Error);
    CHECK(slurp(dir / "a.flo") == "keep");
    write_flo(f, dir / "a.flo", true);
    CHECK(read_flo(dir / "a.flo").data == f.data);
    return;
  }
  CHECK(!fs::exists(dir / "a.flo"));
  std::size_t left = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) left += e.path().filename().string().find("a.flo") == 0;
  CHECK(left == 0);  // no temporary left behind
}

TEST_CASE("flo: resize_flow resamples and scales the vectors to the new resolution") {
  FlowField f;
  f.w = 8;
  f.h = 6;
  f.data.resize(2 * 48);
  for (int k = 0; k < 48; ++k) {
    f.data[k] = 2.0f;         // u
    f.data[48 + k] = -1.5f;   // v
  }
  const FlowField half = resize_flow(f, 4, 3);
  REQUIRE(half.data.size() == 2 * 12);
  for (int k = 0; k < 12; ++k) {
    CHECK(half.data[k] == doctest::Approx(1.0));
    CHECK(half.data[12 + k] == doctest::Approx(-0.75));
  }
  const FlowField wide = resize_flow(f, 16, 6);  // only x doubles
  CHECK(wide.data[0] == doctest::Approx(4.0));
  CHECK(wide.data[96] == doctest::Approx(-1.5));
}
