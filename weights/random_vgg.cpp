// weights/random_vgg.cpp — the embedded default weights: a seeded, He-normal, random-feature VGG-19
// (He, Wang & Hopcroft, NIPS 2016; Ustyuzhaninov et al., ICLR 2017 show such networks still synthesize
// textures). The generator is SPECIFIED below, so that any implementation (C++, Python, PyTorch peers)
// reproduces the weights bit for bit; it uses only IEEE-754 +, −, ×, ÷, sqrt and exact scaling by powers of
// two, never the C library's log (whose last bit differs between libms).
//
// Specification, for seed S (uint64) and layer index L (0 = conv1_1 … 15 = conv5_4), all arithmetic on
// uint64 modulo 2^64, on doubles in IEEE-754 binary64 round-to-nearest-even without fused multiply-add:
//   mix(z)   = z ^= z >> 30; z *= 0xBF58476D1CE4E5B9; z ^= z >> 27; z *= 0x94D049BB133111EB; z ^ (z >> 31)
//              (the SplitMix64 output function; Steele, Lea & Flood, "Fast splittable pseudorandom number
//              generators", OOPSLA 2014, with Stafford's "Mix13" constants as in Vigna's splitmix64.c)
//   state    = mix(S ^ (0x9E3779B97F4A7C15 × (L + 1)))          one independent stream per layer
//   next()   : state += 0x9E3779B97F4A7C15; return mix(state)   (SplitMix64)
//   uniform(): (next() >> 11) × 2^-53                            a double in [0, 1) from the top 53 bits
//   normal() : the Marsaglia polar method (Marsaglia & Bray, SIAM Review 6(3), 1964):
//                repeat u = 2·uniform() − 1, v = 2·uniform() − 1, s = u·u + v·v  until 0 < s < 1;
//                m = sqrt(−2·ln(s) / s); yield u·m, then v·m (the second value is kept for the next call).
//              ln(s) is computed by deterministic_log() (engine/random.cpp): s = f·2^e with f in [√½, √2)
//              (frexp, exact), t = (f − 1)/(f + 1), ln f = 2·(t + t³/3 + … + t^29/29) by Horner in t² from
//              the t^29 term down, ln s = e·ln2 + ln f, with ln2 the double 0x3FE62E42FEFA39EF. Every step is a
//              correctly rounded IEEE operation, so the result is the same double everywhere.
//   weight   = (float)(normal() × sqrt(2 / (cin·9)))  (the product rounded to double, then to float)
//              for every element of the (cout, cin, 3, 3) kernel in that order (out, in, kh, kw);
//   bias     = 0.
// (engine/random.cpp, which draws the normal numbers, holds the build to plain binary64 arithmetic; here each
// weight is one product, which no contraction can change.)
#include <cmath>
#include <cstdint>

#include "engine/error.hpp"
#include "engine/random.hpp"
#include "weights/weights.hpp"

namespace impasto {

VggWeights random_vgg19_weights(std::uint64_t seed, int layers) {
  IMPASTO_CHECK(layers >= 0 && layers <= kVggConvCount,
                "random weights: layers must be in 0.." << kVggConvCount << ", got " << layers);
  VggWeights out;
  out.description = "random VGG-19 (seed " + std::to_string(seed) + ")";
  out.bgr_input = true;
  out.convs.resize(static_cast<std::size_t>(layers));
  for (int l = 0; l < layers; ++l) {
    const VggConvSpec& spec = vgg19_convs()[static_cast<std::size_t>(l)];
    ConvWeights& c = out.convs[static_cast<std::size_t>(l)];
    c.cout = spec.cout;
    c.cin = spec.cin;
    c.k = 3;
    c.w.resize(static_cast<std::size_t>(spec.cout) * spec.cin * 9);
    c.b.assign(static_cast<std::size_t>(spec.cout), 0.0f);
    const double std_dev = std::sqrt(2.0 / (static_cast<double>(spec.cin) * 9.0));  // He et al., ICCV 2015
    NormalStream rng(seed, static_cast<std::uint64_t>(l));
    for (float& w : c.w) w = static_cast<float>(rng.normal() * std_dev);  // order (out, in, kh, kw)
  }
  return out;
}

}  // namespace impasto
