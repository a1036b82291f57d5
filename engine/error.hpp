// engine/error.hpp — the one error type of impasto and the macros that raise it.
// Every failure (bad input, library call, impossible request) becomes an impasto::Error whose what() is
// one line naming the problem; the CLI's main prints it and exits non-zero. Library failures carry the
// location (file:line), the failed expression and the library's own message.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace impasto {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// The device ran out of memory; a distinct type so callers can suggest a smaller request.
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

// A named input file does not exist (an embedding maps it to its own not-found error, e.g. Python's
// FileNotFoundError; the message is the same one line).
class NotFoundError : public Error {
 public:
  using Error::Error;
};

// A loss or gradient became NaN or Inf during an optimization.
class NonFiniteError : public Error {
 public:
  using Error::Error;
};

namespace detail {
[[noreturn]] inline void throw_at(const char* file, int line, const std::string& message) {
  std::ostringstream s;
  s << message << " [" << file << ":" << line << "]";
  throw Error(s.str());
}
}  // namespace detail

}  // namespace impasto

// IMPASTO_FAIL(stream-expr): throw an Error built from a stream expression, e.g.
//   IMPASTO_FAIL("image '" << path << "' is empty");
#define IMPASTO_FAIL(...)                       \
  do {                                          \
    std::ostringstream impasto_fail_s_;         \
    impasto_fail_s_ << __VA_ARGS__;             \
    throw ::impasto::Error(impasto_fail_s_.str()); \
  } while (0)

// IMPASTO_CHECK(cond, stream-expr): a precondition on user input or API use; message only, no location.
#define IMPASTO_CHECK(cond, ...) \
  do {                           \
    if (!(cond)) IMPASTO_FAIL(__VA_ARGS__); \
  } while (0)

// IMPASTO_ASSERT(cond): an internal invariant; the message carries file:line because it is a bug.
#define IMPASTO_ASSERT(cond)                                                                  \
  do {                                                                                        \
    if (!(cond)) ::impasto::detail::throw_at(__FILE__, __LINE__, "internal error: " #cond);  \
  } while (0)
