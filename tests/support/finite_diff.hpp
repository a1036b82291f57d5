// tests/support/finite_diff.hpp — the central-difference check of a gradient along a direction, shared by
// the VGG-19 and loss tests: (f(x + εv) − f(x − εv)) / 2ε against <g, v>.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

namespace impasto::test {

struct DirectionalDerivative {
  double finite_difference = 0;  // (f(x + εv) − f(x − εv)) / 2ε
  double backward = 0;           // <g, v>
};

inline DirectionalDerivative directional_derivative(const std::vector<float>& x0, const std::vector<float>& g,
                                                    const std::vector<float>& v, float eps,
                                                    const std::function<double(const std::vector<float>&)>& f) {
  std::vector<float> xp(x0), xm(x0);
  DirectionalDerivative d;
  for (std::size_t i = 0; i < x0.size(); ++i) {
    xp[i] += eps * v[i];
    xm[i] -= eps * v[i];
    d.backward += double(g[i]) * v[i];
  }
  d.finite_difference = (f(xp) - f(xm)) / (2.0 * double(eps));
  return d;
}

}  // namespace impasto::test
