// weights/weights.hpp — VGG-19 convolution weights on the host: the Keras HDF5 loader and writer, the
// embedded seeded random-feature default, and the description every run prints of what it uses.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace impasto {

// One row of the VGG-19 layer table (Simonyan & Zisserman 2015, configuration E), features part only.
struct VggConvSpec {
  const char* name;   // "conv1_1"
  const char* keras;  // "block1_conv1" (the layer name in the Keras HDF5 file)
  int cin, cout;      // 3×3 kernels
  bool pool_after;    // a 2×2 pooling follows (the last conv of blocks 1–4; block 5's pool is never used)
};
inline constexpr int kVggConvCount = 16;
const std::array<VggConvSpec, kVggConvCount>& vgg19_convs();

struct ConvWeights {
  int cout = 0, cin = 0, k = 3;
  std::vector<float> w;  // (cout, cin, k, k)
  std::vector<float> b;  // (cout)
};

struct VggWeights {
  // The first `convs.size()` layers of the table (a prefix: a network truncated after the deepest layer
  // in use needs no more).
  std::vector<ConvWeights> convs;
  // What these weights are, for the first line of every run: "random VGG-19 (seed 42)" or
  // "FILE (sha256 0123abcd…)".
  std::string description;
  // Channel order the first layer expects. The Caffe/Keras ImageNet weights take BGR.
  bool bgr_input = true;
};

// The embedded default: He-normal weights (std = sqrt(2 / (cin·9))), zero biases, from a seeded generator
// specified in random_vgg.cpp (SplitMix64 → Marsaglia polar method in double), so the same seed gives
// bit-identical weights on every machine and standard library. `layers` limits how many convs are made.
VggWeights random_vgg19_weights(std::uint64_t seed, int layers = kVggConvCount);

// Keras HDF5 layout (vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5): follows the file's layer_names and
// weight_names attributes, checks every shape and dtype, transposes (kh,kw,in,out) → (out,in,kh,kw).
// Throws impasto::Error naming the file and the layer/problem. `layers` limits how many convs are read.
VggWeights load_keras_vgg19(const std::string& path, int layers = kVggConvCount);
// Writes the same layout (all layers in `weights`; the file is written to a temporary name and renamed).
void save_keras_vgg19(const VggWeights& weights, const std::string& path, bool overwrite);

// "random", "random:SEED" or a file path → weights (random default seed: 0).
VggWeights load_weights_spec(const std::string& spec, int layers = kVggConvCount);

// One line per dataset of a Keras weight file: layer, weight name, shape, dtype.
struct H5WeightInfo {
  std::string layer, name, dtype;
  std::vector<std::uint64_t> shape;
};
std::vector<H5WeightInfo> inspect_keras_h5(const std::string& path);

// SHA-256 (FIPS 180-4) of a file's bytes as 64 lowercase hex digits.
std::string sha256_file(const std::string& path);

}  // namespace impasto
