// tests/cpu/test_image.cpp — image I/O and resizing (engine/image.hpp): PNG/JPEG round trips, PPM/PGM/BMP
// reading from hand-made bytes, one-line errors naming the file for every bad input, atomic writes that
// leave no temp file, area/bilinear resizing against hand-computed values, pre/post-processing.
// Everything is written into a fresh folder under the system temp directory, removed afterwards.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "engine/error.hpp"
#include "engine/image.hpp"
#include "engine/resample.hpp"
#include "tests/support/compare.hpp"

namespace fs = std::filesystem;
using impasto::Image;
using Bytes = std::vector<unsigned char>;

namespace {

// A fresh folder for one test case, removed (with its contents) when the case ends.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("impasto-test-image-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }
  // Names of the leftover temporary files ("*.tmp-*") in the folder.
  std::vector<std::string> temp_files() const {
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(path_)) {
      const std::string name = e.path().filename().string();
      if (name.find(".tmp-") != std::string::npos) found.push_back(name);
    }
    return found;
  }

 private:
  fs::path path_;
};

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(out.good());
}
Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void append_text(Bytes& b, const std::string& s) { b.insert(b.end(), s.begin(), s.end()); }

Image make_image(int c, int h, int w, const std::function<float(int, int, int)>& value) {
  Image img;
  img.c = c;
  img.h = h;
  img.w = w;
  img.data.resize(std::size_t(c) * h * w);
  for (int k = 0; k < c; ++k)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) img.data[(std::size_t(k) * h + y) * w + x] = value(k, y, x);
  return img;
}
Image random_image(int c, int h, int w, unsigned seed, bool integer) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 255.0f);
  return make_image(c, h, w, [&](int, int, int) { return integer ? std::round(u(rng)) : u(rng); });
}
float at(const Image& img, int c, int y, int x) { return img.data[(std::size_t(c) * img.h + y) * img.w + x]; }
double mean(const Image& img) {
  double s = 0;
  for (float v : img.data) s += v;
  return s / double(img.data.size());
}

// The message of the impasto::Error that f throws ("" when it throws nothing); other exceptions fail.
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const impasto::Error& e) {
    return e.what();
  }
  return "";
}
// f throws a one-line Error that names `path` and contains `fragment`.
void check_error(const std::function<void()>& f, const std::string& path, const std::string& fragment) {
  const std::string msg = error_of(f);
  INFO("message: " << msg);
  CHECK(!msg.empty());
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find(fragment) != std::string::npos);
  CHECK(msg.find('\n') == std::string::npos);
}

// Binary PPM (P6) or PGM (P5) bytes with a comment line in the header.
Bytes pnm_bytes(const Image& img) {
  Bytes b;
  append_text(b, std::string(img.c == 3 ? "P6" : "P5") + "\n# made by test_image\n" + std::to_string(img.w) +
                     " " + std::to_string(img.h) + "\n255\n");
  for (int y = 0; y < img.h; ++y)
    for (int x = 0; x < img.w; ++x)
      for (int c = 0; c < img.c; ++c) b.push_back((unsigned char)at(img, c, y, x));
  return b;
}

// 24-bit uncompressed BMP bytes: bottom-up rows of B,G,R padded to 4 bytes.
Bytes bmp_bytes(const Image& img) {
  const int row = (3 * img.w + 3) / 4 * 4;
  const std::uint32_t data_size = std::uint32_t(row * img.h), offset = 14 + 40;
  Bytes b;
  auto u16 = [&](std::uint32_t v) { b.push_back(v & 0xFF); b.push_back((v >> 8) & 0xFF); };
  auto u32 = [&](std::uint32_t v) { u16(v & 0xFFFF); u16(v >> 16); };
  append_text(b, "BM");
  u32(offset + data_size); u16(0); u16(0); u32(offset);                       // BITMAPFILEHEADER
  u32(40); u32(std::uint32_t(img.w)); u32(std::uint32_t(img.h)); u16(1); u16(24);  // BITMAPINFOHEADER
  u32(0); u32(data_size); u32(2835); u32(2835); u32(0); u32(0);
  for (int y = img.h - 1; y >= 0; --y) {
    for (int x = 0; x < img.w; ++x)
      for (int c = 2; c >= 0; --c) b.push_back((unsigned char)at(img, c, y, x));
    for (int p = 3 * img.w; p < row; ++p) b.push_back(0);
  }
  return b;
}

}  // namespace

TEST_CASE("PNG round trip is exact, for RGB and gray") {
  TempDir dir;
  for (int c : {3, 1}) {
    const Image img = random_image(c, 13, 17, 7u + c, /*integer=*/true);
    const std::string path = dir.file("rt" + std::to_string(c) + ".png");
    impasto::write_image(img, path, false);
    const Image back = impasto::read_image(path, c);
    REQUIRE(back.c == c);
    REQUIRE(back.h == 13);
    REQUIRE(back.w == 17);
    CHECK(back.data == img.data);
  }
  CHECK(dir.temp_files().empty());
}

TEST_CASE("write_image rounds and clips to 0..255") {
  TempDir dir;
  const std::vector<float> in = {-7.0f, 0.4f, 12.4f, 12.6f, 254.5f, 300.0f, NAN, 128.0f};
  const std::vector<float> want = {0.0f, 0.0f, 12.0f, 13.0f, 255.0f, 255.0f, 0.0f, 128.0f};
  Image img = make_image(1, 1, int(in.size()), [&](int, int, int x) { return in[x]; });
  impasto::write_image(img, dir.file("clip.png"), false);
  CHECK(impasto::read_image(dir.file("clip.png"), 1).data == want);
}

TEST_CASE("JPEG round trip is close at quality 95") {
  TempDir dir;
  const Image img = make_image(3, 32, 48, [](int c, int y, int x) { return 40.0f + 3.0f * x + 2.0f * y + 20.0f * c; });
  for (const char* name : {"smooth.jpg", "smooth.JPEG"}) {
    impasto::write_image(img, dir.file(name), false);
    const Image back = impasto::read_image(dir.file(name));
    REQUIRE(back.c == 3);
    REQUIRE(back.h == 32);
    REQUIRE(back.w == 48);
    double err = 0;
    for (std::size_t i = 0; i < img.data.size(); ++i) err += std::fabs(back.data[i] - img.data[i]);
    CHECK(err / double(img.data.size()) < 2.0);
  }
}

TEST_CASE("PPM, PGM and BMP files are read") {
  TempDir dir;
  const Image rgb = random_image(3, 3, 5, 11u, true);  // odd width: BMP rows need padding
  const Image gray = random_image(1, 4, 3, 12u, true);

  write_bytes(dir.file("a.ppm"), pnm_bytes(rgb));
  CHECK(impasto::read_image(dir.file("a.ppm")).data == rgb.data);

  write_bytes(dir.file("g.pgm"), pnm_bytes(gray));
  CHECK(impasto::read_image(dir.file("g.pgm"), 1).data == gray.data);

  write_bytes(dir.file("a.bmp"), bmp_bytes(rgb));
  const Image bmp = impasto::read_image(dir.file("a.bmp"));
  REQUIRE(bmp.h == 3);
  REQUIRE(bmp.w == 5);
  CHECK(bmp.data == rgb.data);
}

TEST_CASE("gray reading: luminance of color files, replication of gray files") {
  TempDir dir;
  const Image rgb = random_image(3, 6, 7, 21u, true);
  impasto::write_image(rgb, dir.file("rgb.png"), false);
  const Image lum = impasto::read_image(dir.file("rgb.png"), 1);
  REQUIRE(lum.c == 1);
  std::vector<float> want(lum.data.size());
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 7; ++x)
      want[y * 7 + x] = 0.299f * at(rgb, 0, y, x) + 0.587f * at(rgb, 1, y, x) + 0.114f * at(rgb, 2, y, x);
  CHECK_CLOSE(lum.data, want, 0.0, 1e-3);

  const Image gray = random_image(1, 6, 7, 22u, true);
  impasto::write_image(gray, dir.file("gray.png"), false);
  const Image as_rgb = impasto::read_image(dir.file("gray.png"), 3);
  REQUIRE(as_rgb.c == 3);
  for (int c = 0; c < 3; ++c) CHECK(std::vector<float>(as_rgb.plane(c), as_rgb.plane(c) + 42) == gray.data);
  CHECK(impasto::read_image(dir.file("gray.png"), 1).data == gray.data);
}

TEST_CASE("bad input files throw one-line errors naming the file") {
  TempDir dir;
  const Image img = random_image(3, 40, 40, 31u, true);  // random pixels: PNG and JPEG stay large
  impasto::write_image(img, dir.file("good.png"), false);
  impasto::write_image(img, dir.file("good.jpg"), false);
  const Bytes png = read_bytes(dir.file("good.png"));
  const Bytes jpg = read_bytes(dir.file("good.jpg"));
  auto read = [](const std::string& p) { return [p] { impasto::read_image(p); }; };

  SUBCASE("missing") { check_error(read(dir.file("nope.png")), dir.file("nope.png"), "no such file"); }
  SUBCASE("directory") { check_error(read(dir.path().string()), dir.path().string(), "directory"); }
  SUBCASE("zero size") {
    write_bytes(dir.file("empty.png"), {});
    check_error(read(dir.file("empty.png")), dir.file("empty.png"), "empty");
  }
  SUBCASE("garbage named .png") {
    Bytes junk(300);
    std::mt19937 rng(5);
    for (auto& b : junk) b = (unsigned char)(rng() & 0xFF);
    junk[0] = 'x';
    write_bytes(dir.file("junk.png"), junk);
    check_error(read(dir.file("junk.png")), dir.file("junk.png"), "not an image");
  }
  SUBCASE("text file") {
    Bytes text;
    append_text(text, "hello, I am not a picture\n");
    write_bytes(dir.file("hello.jpg"), text);
    check_error(read(dir.file("hello.jpg")), dir.file("hello.jpg"), "not an image");
  }
  SUBCASE("PNG signature followed by garbage") {
    Bytes bad(png.begin(), png.begin() + 8);
    bad.resize(200, 0x5A);
    write_bytes(dir.file("sig.png"), bad);
    check_error(read(dir.file("sig.png")), dir.file("sig.png"), "corrupt");
  }
  SUBCASE("truncated PNG") {
    for (double keep : {0.1, 0.5, 0.9}) {
      const Bytes cut(png.begin(), png.begin() + std::ptrdiff_t(keep * double(png.size())));
      write_bytes(dir.file("cut.png"), cut);
      CAPTURE(keep);
      check_error(read(dir.file("cut.png")), dir.file("cut.png"), "truncated");
    }
    const Bytes no_iend(png.begin(), png.end() - 12);  // only the IEND chunk missing
    write_bytes(dir.file("noiend.png"), no_iend);
    check_error(read(dir.file("noiend.png")), dir.file("noiend.png"), "truncated");
  }
  SUBCASE("truncated JPEG") {  // this stb detects these too; the marker walk gives the clearer message
    for (double keep : {0.1, 0.5, 0.9}) {
      const Bytes cut(jpg.begin(), jpg.begin() + std::ptrdiff_t(keep * double(jpg.size())));
      write_bytes(dir.file("cut.jpg"), cut);
      CAPTURE(keep);
      check_error(read(dir.file("cut.jpg")), dir.file("cut.jpg"), "truncated");
    }
    const Bytes no_eoi(jpg.begin(), jpg.end() - 2);
    write_bytes(dir.file("noeoi.jpg"), no_eoi);
    check_error(read(dir.file("noeoi.jpg")), dir.file("noeoi.jpg"), "truncated");
  }
  SUBCASE("truncated PPM and BMP") {
    const Bytes ppm = pnm_bytes(img), bmp = bmp_bytes(img);
    write_bytes(dir.file("cut.ppm"), Bytes(ppm.begin(), ppm.end() - 7));
    check_error(read(dir.file("cut.ppm")), dir.file("cut.ppm"), "truncated");
    write_bytes(dir.file("cut.bmp"), Bytes(bmp.begin(), bmp.end() - 7));
    check_error(read(dir.file("cut.bmp")), dir.file("cut.bmp"), "truncated");
  }
  SUBCASE("absurd size") {
    Bytes huge;
    append_text(huge, "P6\n100000 90000\n255\n");
    huge.resize(huge.size() + 64, 0);
    write_bytes(dir.file("huge.ppm"), huge);
    check_error(read(dir.file("huge.ppm")), dir.file("huge.ppm"), "too large");
  }
  SUBCASE("bad channel count") {
    check_error([&] { impasto::read_image(dir.file("good.png"), 4); }, dir.file("good.png"), "channels");
  }
}

TEST_CASE("write_image refuses to clobber, reports unwritable paths, and leaves no temp file") {
  TempDir dir;
  const Image a = random_image(3, 5, 6, 41u, true);
  const Image b = random_image(3, 5, 6, 42u, true);
  const std::string path = dir.file("out.png");
  impasto::write_image(a, path, false);
  const Bytes before = read_bytes(path);

  SUBCASE("existing file without overwrite is kept") {
    check_error([&] { impasto::write_image(b, path, false); }, path, "exists (use --force to overwrite)");
    CHECK(read_bytes(path) == before);
    impasto::write_image(b, path, true);
    CHECK(impasto::read_image(path).data == b.data);
  }
  SUBCASE("unknown extension") {
    for (const char* name : {"out.tiff", "out.bmp", "noext"}) {
      check_error([&] { impasto::write_image(a, dir.file(name), false); }, dir.file(name), "extension");
      CHECK(!fs::exists(dir.file(name)));
    }
  }
  SUBCASE("missing folder") {
    const std::string p = dir.file("no/such/folder/out.png");
    check_error([&] { impasto::write_image(a, p, false); }, p, "cannot write");
  }
  SUBCASE("parent is a file") {
    const std::string p = path + "/inner.png";
    check_error([&] { impasto::write_image(a, p, true); }, p, "cannot write");
  }
  SUBCASE("target is a folder (rename fails after the temp file was written)") {
    fs::create_directory(dir.file("folder.png"));
    check_error([&] { impasto::write_image(a, dir.file("folder.png"), true); }, dir.file("folder.png"),
                "cannot write");
  }
  SUBCASE("read-only folder") {
    const fs::path ro = dir.path() / "ro";
    fs::create_directory(ro);
    fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
    if (::access(ro.c_str(), W_OK) == 0) {
      MESSAGE("running with privileges that ignore folder permissions: read-only case skipped");
    } else {
      const std::string p = (ro / "out.png").string();
      check_error([&] { impasto::write_image(a, p, false); }, p, "cannot write");
    }
    fs::permissions(ro, fs::perms::owner_all);
    for (const auto& e : fs::directory_iterator(ro)) FAIL("left behind: " << e.path());
  }
  SUBCASE("malformed image") {
    Image bad = a;
    bad.data.pop_back();
    check_error([&] { impasto::write_image(bad, dir.file("bad.png"), false); }, dir.file("bad.png"), "malformed");
  }
  CHECK(dir.temp_files().empty());
}

TEST_CASE("resize_area: constants, block means, fractional coverage, mass") {
  SUBCASE("a constant image stays constant, shrinking, enlarging and mixed") {
    const Image img = make_image(2, 9, 11, [](int c, int, int) { return c ? 200.5f : 17.25f; });
    for (auto [w, h] : {std::pair{4, 3}, {23, 19}, {5, 20}, {30, 2}, {11, 9}}) {
      const Image r = impasto::resize_area(img, w, h);
      REQUIRE(r.c == 2);
      REQUIRE(r.w == w);
      REQUIRE(r.h == h);
      for (int c = 0; c < 2; ++c)
        for (int i = 0; i < w * h; ++i) CHECK(r.plane(c)[i] == doctest::Approx(c ? 200.5 : 17.25).epsilon(1e-6));
    }
  }
  SUBCASE("halving is the 2x2 block mean") {
    const Image img = random_image(3, 8, 6, 51u, false);
    const Image r = impasto::resize_area(img, 3, 4);
    std::vector<float> want;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 3; ++x)
          want.push_back(0.25f * (at(img, c, 2 * y, 2 * x) + at(img, c, 2 * y, 2 * x + 1) +
                                  at(img, c, 2 * y + 1, 2 * x) + at(img, c, 2 * y + 1, 2 * x + 1)));
    CHECK_CLOSE(r.data, want, 1e-6, 1e-4);
  }
  SUBCASE("5 -> 3 uses fractional coverage") {
    // Output i covers [5i/3, 5(i+1)/3): weights (0.6, 0.4), (0.2, 0.6, 0.2), (0.4, 0.6). On v = x + 100y with
    // x, y ∈ {0,10,20,30,40}: each axis maps (0,10,20,30,40) to (4, 20, 36).
    const Image img = make_image(1, 5, 5, [](int, int y, int x) { return 10.0f * x + 1000.0f * y; });
    const Image r = impasto::resize_area(img, 3, 3);
    const float axis[3] = {4.0f, 20.0f, 36.0f};
    std::vector<float> want;
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x) want.push_back(axis[x] + 100.0f * axis[y]);
    CHECK_CLOSE(r.data, want, 1e-6, 1e-3);
  }
  SUBCASE("shrinking preserves the mean") {
    const Image img = random_image(3, 37, 23, 52u, false);
    for (auto [w, h] : {std::pair{10, 7}, {7, 10}, {1, 1}, {22, 36}}) {
      const Image r = impasto::resize_area(img, w, h);
      CHECK(mean(r) == doctest::Approx(mean(img)).epsilon(1e-5));
    }
  }
  SUBCASE("enlarging is bilinear with half-pixel centres") {
    // 2 -> 4: sample positions -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    const Image img = make_image(1, 2, 2, [](int, int y, int x) { return 100.0f * x + 40.0f * y; });
    const Image r = impasto::resize_area(img, 4, 4);
    const float axis[4] = {0.0f, 0.25f, 0.75f, 1.0f};
    std::vector<float> want;
    for (int y = 0; y < 4; ++y)
      for (int x = 0; x < 4; ++x) want.push_back(100.0f * axis[x] + 40.0f * axis[y]);
    CHECK_CLOSE(r.data, want, 1e-6, 1e-4);
    // A ramp enlarged stays a monotone ramp without overshoot.
    const Image ramp = make_image(1, 1, 7, [](int, int, int x) { return float(x * x); });
    const Image big = impasto::resize_area(ramp, 50, 3);
    for (int y = 0; y < 3; ++y)
      for (int x = 1; x < 50; ++x) CHECK(at(big, 0, y, x) >= at(big, 0, y, x - 1));
    CHECK(at(big, 0, 0, 0) >= 0.0f);
    CHECK(at(big, 0, 0, 49) <= 36.0f);
  }
  SUBCASE("one axis shrinks while the other enlarges") {
    const Image img = make_image(1, 1, 4, [](int, int, int x) { return 10.0f * x; });
    const Image r = impasto::resize_area(img, 2, 3);
    CHECK_CLOSE(r.data, (std::vector<float>{5, 25, 5, 25, 5, 25}), 1e-6, 1e-4);
  }
  SUBCASE("bad sizes") {
    const Image img = random_image(1, 4, 4, 53u, false);
    CHECK_THROWS_AS(impasto::resize_area(img, 0, 3), impasto::Error);
    CHECK_THROWS_AS(impasto::resize_area(Image{}, 3, 3), impasto::Error);
  }
}

TEST_CASE("resize_longer_side keeps the aspect ratio") {
  const Image img = random_image(3, 20, 40, 61u, false);
  const Image r = impasto::resize_longer_side(img, 10);
  CHECK(r.w == 10);
  CHECK(r.h == 5);
  const Image tall = impasto::resize_longer_side(random_image(1, 1000, 3, 62u, false), 10);
  CHECK(tall.h == 10);
  CHECK(tall.w == 1);  // 0.03 rounds to 0, kept at least 1
  CHECK_THROWS_AS(impasto::resize_longer_side(img, 0), impasto::Error);
}

TEST_CASE("preprocess / postprocess: mean, channel order, clipping") {
  const Image img = random_image(3, 4, 5, 71u, false);
  for (bool bgr : {false, true}) {
    const std::vector<float> x = impasto::preprocess(img, bgr);
    REQUIRE(x.size() == img.data.size());
    // Network channel 0 is blue when bgr.
    const int first = bgr ? 2 : 0;
    CHECK(x[0] == doctest::Approx(img.plane(first)[0] - impasto::kImagenetMeanRgb[first]));
    CHECK(x[2 * 20 + 3] == doctest::Approx(img.plane(2 - first)[3] - impasto::kImagenetMeanRgb[2 - first]));
    const Image back = impasto::postprocess(x.data(), 4, 5, bgr);
    CHECK_CLOSE(back.data, img.data, 0.0, 1e-4);
  }
  std::vector<float> x(3 * 2, 0.0f);
  x[0] = 500.0f;   // network channel 0 (B when bgr) far above range
  x[5] = -500.0f;  // network channel 2 (R when bgr) far below
  const Image clipped = impasto::postprocess(x.data(), 1, 2, true);
  CHECK(clipped.plane(2)[0] == 255.0f);
  CHECK(clipped.plane(0)[1] == 0.0f);
  CHECK(clipped.plane(1)[0] == doctest::Approx(impasto::kImagenetMeanRgb[1]));
  CHECK_THROWS_AS(impasto::preprocess(random_image(1, 2, 2, 72u, false), true), impasto::Error);
}
