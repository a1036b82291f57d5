// tests/support/compare.cpp — see compare.hpp.
#include "tests/support/compare.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace impasto::test {

std::string Comparison::str() const {
  std::ostringstream s;
  s << (finite ? "" : "NON-FINITE ") << "max_abs=" << max_abs << " max_rel=" << max_rel << " worst[" << worst
    << "]: got " << worst_a << " want " << worst_b;
  return s.str();
}

Comparison compare(const float* a, const float* b, std::size_t n, double rtol, double atol) {
  Comparison c;
  double worst_ratio = -1;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = a[i], y = b[i];
    if (!std::isfinite(x) || !std::isfinite(y)) {
      if (c.finite) { c.worst = i; c.worst_a = x; c.worst_b = y; }
      c.finite = false;
      continue;
    }
    const double err = std::fabs(x - y);
    const double rel = err / std::max(std::fabs(y), 1e-30);
    c.max_abs = std::max(c.max_abs, err);
    c.max_rel = std::max(c.max_rel, rel);
    const double ratio = err / (atol + rtol * std::fabs(y) + 1e-300);
    if (c.finite && ratio > worst_ratio) {
      worst_ratio = ratio;
      c.worst = i;
      c.worst_a = x;
      c.worst_b = y;
    }
  }
  c.ok = c.finite && worst_ratio <= 1.0;
  if (n == 0) c.ok = true;
  return c;
}

Comparison compare(const std::vector<float>& a, const std::vector<float>& b, double rtol, double atol) {
  if (a.size() != b.size()) {
    Comparison c;
    c.finite = false;
    c.ok = false;
    c.worst_a = double(a.size());
    c.worst_b = double(b.size());
    return c;
  }
  return compare(a.data(), b.data(), a.size(), rtol, atol);
}

}  // namespace impasto::test
