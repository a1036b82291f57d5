// engine/enum_names.hpp — the names of each option enum, written once in a table beside the enum, and the
// enum_name()/parse_enum() pair over such a table. The CLI (its checks and help), the resume fingerprint of a
// video run and perf/bench.cpp all spell an option through these, so a name cannot drift between them and a
// stored name survives a reordered enum. A table beside an enum E reads:
//
//   template <> struct EnumNames<PoolMode> {
//     static constexpr const char* what = "pooling";  // for "unknown pooling 'x' (expected avg or max)"
//     static constexpr EnumName<PoolMode> table[] = {
//         {PoolMode::average, "avg"}, {PoolMode::max, "max"}, {PoolMode::average, "average"}};
//   };
//
// A value's first entry is its name; later entries for the same value are aliases that parse_enum accepts.
#pragma once

#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.hpp"

namespace impasto {

template <class E>
struct EnumName {
  E value;
  const char* name;
};

template <class E>
struct EnumNames;  // specialized beside each option enum

template <class E>
const char* enum_name(E value) {
  for (const EnumName<E>& n : EnumNames<E>::table)
    if (n.value == value) return n.name;
  return "?";
}

// The values' names in the table's order, aliases left out (for CLI11's IsMember and help texts).
template <class E>
std::vector<std::string> enum_names() {
  std::vector<std::string> out;
  const auto& table = EnumNames<E>::table;
  for (std::size_t i = 0; i < std::size(table); ++i) {
    bool alias = false;
    for (std::size_t j = 0; j < i; ++j) alias = alias || table[j].value == table[i].value;
    if (!alias) out.push_back(table[i].name);
  }
  return out;
}

// "a", "a or b", "a, b or c".
inline std::string one_of(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return s;
}

// "a | b | c": the choices in a help text.
inline std::string choices(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) s += (i == 0 ? "" : " | ") + names[i];
  return s;
}

template <class E>
std::optional<E> find_enum(const std::string& s) {
  for (const EnumName<E>& n : EnumNames<E>::table)
    if (s == n.name) return n.value;
  return std::nullopt;
}

// The value named s (a name or an alias); anything else is a one-line Error listing the names.
template <class E>
E parse_enum(const std::string& s) {
  if (const std::optional<E> e = find_enum<E>(s)) return *e;
  IMPASTO_FAIL("unknown " << EnumNames<E>::what << " '" << s << "' (expected " << one_of(enum_names<E>()) << ")");
}

}  // namespace impasto
