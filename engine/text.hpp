// engine/text.hpp — small string utilities that several files need, each written once: a path's lower-cased
// extension, a comma-separated list, the FNV-1a fingerprint of a description, the nesting depth of JSON text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace impasto {

// ".png" for "a/B.PNG"; "" when the file name has no extension.
std::string lower_extension(const std::string& path);

// "a, b,,c" → {"a", "b", "c"}: items split at `sep`, trimmed of spaces and tabs; empty items are dropped.
std::vector<std::string> split_list(const std::string& s, char sep = ',');

// FNV-1a (64 bit) of the bytes of s, as its `digits` (1..16) lowest hexadecimal digits: a fingerprint for
// caches and resume state, not a cryptographic hash.
std::string fnv1a_hex(const std::string& s, int digits = 16);

// The deepest nesting of [ and { in JSON text (outside strings). nlohmann::json parses recursively, so a file
// of 400 KB of '[' overflows the stack: files that users or others can write are checked before parsing.
int json_nesting_depth(const std::string& text);

}  // namespace impasto
