// tests/cpu/test_utilities.cpp — the small shared utilities: engine/text.hpp (extensions, comma lists, FNV-1a)
// and engine/enum_names.hpp (every option enum's names round-trip; unknown names are one-line errors).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/backend.hpp"
#include "engine/backend_factory.hpp"
#include "engine/error.hpp"
#include "engine/losses.hpp"
#include "engine/optimizer.hpp"
#include "engine/stylize.hpp"
#include "engine/text.hpp"
#include "engine/video.hpp"

using namespace impasto;

namespace {

// Every name of E parses back to its value, every value has a distinct name, and an unknown name fails with
// "unknown <what> '<name>' (expected …)".
template <class E>
void check_round_trip(const std::vector<E>& values) {
  const std::vector<std::string> names = enum_names<E>();
  REQUIRE(names.size() == values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    CAPTURE(names[i]);
    CHECK(names[i] == enum_name(values[i]));  // the table's order is the enum's
    CHECK(parse_enum<E>(names[i]) == values[i]);
    for (std::size_t j = 0; j < i; ++j) CHECK(names[j] != names[i]);
  }
  const std::string expected = std::string("unknown ") + EnumNames<E>::what + " 'no-such-name' (expected " +
                               one_of(names) + ")";
  CHECK_THROWS_WITH_AS(parse_enum<E>("no-such-name"), expected.c_str(), Error);
  CHECK_FALSE(find_enum<E>("").has_value());
}

}  // namespace

TEST_CASE("lower_extension: the file name's last extension, lower-cased") {
  CHECK(lower_extension("out/A.PNG") == ".png");
  CHECK(lower_extension("frame.0001.JpEg") == ".jpeg");
  CHECK(lower_extension("dir.d/noext") == "");
  CHECK(lower_extension("") == "");
}

TEST_CASE("split_list: items trimmed, empty ones dropped") {
  CHECK(split_list("relu1_1, relu2_1 ,,\trelu3_1") == std::vector<std::string>{"relu1_1", "relu2_1", "relu3_1"});
  CHECK(split_list("1;2", ';') == std::vector<std::string>{"1", "2"});
  CHECK(split_list(" , ").empty());
  CHECK(split_list("").empty());
}

TEST_CASE("fnv1a_hex: the published FNV-1a 64 test vectors, and the low digits for shorter keys") {
  CHECK(fnv1a_hex("") == "cbf29ce484222325");
  CHECK(fnv1a_hex("a") == "af63dc4c8601ec8c");
  CHECK(fnv1a_hex("foobar") == "85944171f73967e8");
  CHECK(fnv1a_hex("foobar", 8) == "f73967e8");
  CHECK_THROWS_AS(fnv1a_hex("x", 0), Error);
}

TEST_CASE("json_nesting_depth: brackets outside strings, escapes skipped") {
  CHECK(json_nesting_depth("") == 0);
  CHECK(json_nesting_depth(R"({"a": [1, {"b": []}]})") == 4);
  CHECK(json_nesting_depth(R"({"a": "[[[[{{{", "b": "\\\"[["})") == 1);
  CHECK(json_nesting_depth(std::string(400000, '[')) == 400000);
}

TEST_CASE("every option enum: names round-trip, unknown names are one-line errors") {
  check_round_trip<Device>({Device::cpu, Device::cuda});
  check_round_trip<Layout>({Layout::nchw, Layout::nhwc});
  check_round_trip<PoolMode>({PoolMode::average, PoolMode::max});
  check_round_trip<TvMode>({TvMode::l1, TvMode::squared, TvMode::squared_interior});
  check_round_trip<ColorSpace>({ColorSpace::yuv, ColorSpace::ycrcb, ColorSpace::lab, ColorSpace::luv});
  check_round_trip<Precision>({Precision::fp32, Precision::tf32, Precision::bf16});
  check_round_trip<LbfgsParams::LineSearch>({LbfgsParams::LineSearch::none, LbfgsParams::LineSearch::strong_wolfe});
  check_round_trip<LbfgsParams::Direction>({LbfgsParams::Direction::compact, LbfgsParams::Direction::two_loop});
  check_round_trip<StyleForm>({StyleForm::gatys, StyleForm::mean_squared});
  check_round_trip<InitKind>({InitKind::content, InitKind::noise, InitKind::style, InitKind::file});
  check_round_trip<FrameInit>({FrameInit::warped, FrameInit::prev, FrameInit::content, FrameInit::noise});
}

TEST_CASE("enum names: the CLI's spellings, aliases, and the messages users see") {
  CHECK(parse_enum<PoolMode>("average") == PoolMode::average);  // alias, not listed
  CHECK(enum_names<PoolMode>() == std::vector<std::string>{"avg", "max"});
  CHECK(parse_enum<Device>("gpu") == Device::cuda);
  CHECK(parse_enum<Layout>("nhwc") == Layout::nhwc);  // IMPASTO_LAYOUT's spelling
  CHECK(std::string(enum_name(Layout::nchw)) == "NCHW");
  CHECK(std::string(enum_name(LbfgsParams::LineSearch::strong_wolfe)) == "strong-wolfe");
  CHECK_THROWS_WITH_AS(parse_enum<Precision>("fp16"), "unknown precision 'fp16' (expected fp32, tf32 or bf16)", Error);
  CHECK_THROWS_WITH_AS(parse_enum<ColorSpace>("hsv"), "unknown color space 'hsv' (expected yuv, ycrcb, lab or luv)",
                       Error);
  CHECK_THROWS_WITH_AS(parse_device("tpu"), "unknown device 'tpu' (expected auto, cpu or cuda)", Error);
  CHECK(parse_device("cpu") == Device::cpu);
  CHECK(one_of({"a"}) == "a");
  CHECK(one_of({"a", "b", "c"}) == "a, b or c");
  CHECK(choices({"a", "b"}) == "a | b");
}
