// engine/random.hpp — SplitMix64 (Steele, Lea & Flood, OOPSLA 2014; constants of Vigna's splitmix64.c):
// the one seeded generator of impasto (random weights, noise images), specified so that every machine and
// standard library draws the same numbers for the same seed.
#pragma once

#include <cstdint>

namespace impasto {

class SplitMix64 {
 public:
  static constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ull;  // 2^64 / φ, the increment

  // The SplitMix64 output function.
  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Stream `stream` of seed `seed`: state = mix(seed ^ (kGolden·(stream + 1))), so streams are independent.
  SplitMix64(std::uint64_t seed, std::uint64_t stream) : state_(mix(seed ^ (kGolden * (stream + 1)))) {}

  std::uint64_t next() {
    state_ += kGolden;
    return mix(state_);
  }
  // A double in [0, 1) from the top 53 bits.
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  std::uint64_t state_;
};

// Standard normal numbers from stream `stream` of seed `seed`: the Marsaglia polar method on SplitMix64's
// uniform(), with a logarithm built from correctly rounded operations only, so that a seed gives the same
// doubles on every machine (weights/random_vgg.cpp specifies it; engine/random.cpp implements it).
class NormalStream {
 public:
  NormalStream(std::uint64_t seed, std::uint64_t stream) : uniform_(seed, stream) {}
  double normal();

 private:
  SplitMix64 uniform_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// ln(s) for s in (0, 1) from correctly rounded IEEE operations only (weights/random_vgg.cpp specifies it).
double deterministic_log(double s);

}  // namespace impasto
