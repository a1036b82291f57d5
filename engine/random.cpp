// engine/random.cpp — NormalStream and deterministic_log of random.hpp: the normal numbers of the random
// weights (weights/random_vgg.cpp has their specification) and of the Gaussian noise init, the same doubles
// on every machine.
#include "engine/random.hpp"

#include <cfloat>
#include <cmath>

// The specification needs plain binary64 arithmetic: no x87 extended precision, no contraction into FMA.
static_assert(FLT_EVAL_METHOD == 0, "random.cpp needs FLT_EVAL_METHOD == 0 (SSE2 / non-x87 floating point)");
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace impasto {

double deterministic_log(double s) {
  int e = 0;
  double f = std::frexp(s, &e);  // s = f·2^e, f in [0.5, 1): exact
  if (f < 0.70710678118654752440) {  // bring f into [√½, √2)
    f *= 2.0;                        // exact
    e -= 1;
  }
  const double t = (f - 1.0) / (f + 1.0);  // |t| ≤ 0.1716, t² ≤ 0.0295
  const double t2 = t * t;
  double p = 1.0 / 29.0;
  for (int k = 27; k >= 1; k -= 2) p = p * t2 + 1.0 / static_cast<double>(k);  // Σ t^(k-1)/k, k odd
  const double ln_f = 2.0 * t * p;
  const double ln2 = 0.693147180559945286226763982995;  // the double nearest ln 2 (0x3FE62E42FEFA39EF)
  return static_cast<double>(e) * ln2 + ln_f;
}

double NormalStream::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u, v, s;
  do {
    u = 2.0 * uniform_.uniform() - 1.0;
    v = 2.0 * uniform_.uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double m = std::sqrt(-2.0 * deterministic_log(s) / s);
  spare_ = v * m;
  has_spare_ = true;
  return u * m;
}

}  // namespace impasto
