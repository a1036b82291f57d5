// tests/support/compare.hpp — the comparison helper of every numeric test: max abs/rel error with the index
// of the worst element; any non-finite value in either array fails.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace impasto::test {

struct Comparison {
  double max_abs = 0;       // max |a − b|
  double max_rel = 0;       // max |a − b| / max(|b|, floor)
  std::size_t worst = 0;    // index of the element with the largest violation ratio
  double worst_a = 0, worst_b = 0;
  bool finite = true;
  bool ok = false;          // every element within atol + rtol·|b|
  std::string str() const;  // one line for failure messages
};

// a is the value under test, b the reference; an element passes when |a − b| <= atol + rtol·|b|.
Comparison compare(const float* a, const float* b, std::size_t n, double rtol, double atol);
Comparison compare(const std::vector<float>& a, const std::vector<float>& b, double rtol, double atol);

}  // namespace impasto::test

// CHECK_CLOSE(a, b, rtol, atol): doctest check with the comparison's line on failure.
#define CHECK_CLOSE(a, b, rtol, atol)                                        \
  do {                                                                      \
    const auto impasto_cmp_ = ::impasto::test::compare((a), (b), (rtol), (atol)); \
    INFO(impasto_cmp_.str());                                               \
    CHECK(impasto_cmp_.ok);                                                 \
  } while (0)
