// fuzz/fuzz_keras_h5.cpp — fuzz target: any bytes as a Keras HDF5 weight file through impasto::inspect_keras_h5
// and impasto::load_keras_vgg19 (the first layer only, which a small file can hold, and all layers). An
// impasto::Error is the expected answer to a bad file; a crash, a sanitizer report, another exception or weights
// of other shapes than VGG-19's is a finding. libhdf5 itself is not instrumented: ASan sees its frees and
// crashes, not its reads and writes.
#include <cstdint>

#include "engine/error.hpp"
#include "fuzz/fuzz_support.hpp"
#include "weights/weights.hpp"

namespace {

void check_loaded(const impasto::VggWeights& weights, int layers) {
  using impasto::fuzz::require;
  require(weights.convs.size() == std::size_t(layers), "load_keras_vgg19: the layers asked for");
  for (int l = 0; l < layers; ++l) {
    const impasto::VggConvSpec& spec = impasto::vgg19_convs()[std::size_t(l)];
    const impasto::ConvWeights& c = weights.convs[std::size_t(l)];
    require(c.cin == spec.cin && c.cout == spec.cout && c.k == 3, "load_keras_vgg19: the table's shapes");
    require(c.w.size() == std::size_t(c.cout) * c.cin * 9, "load_keras_vgg19: kernel holds cout*cin*3*3 values");
    require(c.b.size() == std::size_t(c.cout), "load_keras_vgg19: bias holds cout values");
  }
  require(!weights.description.empty(), "load_keras_vgg19: a description");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = impasto::fuzz::write_input(data, size, "input.h5");
  try {
    for (const impasto::H5WeightInfo& row : impasto::inspect_keras_h5(path))
      impasto::fuzz::require(!row.dtype.empty(), "inspect_keras_h5: a dtype on every row");
  } catch (const impasto::Error&) {
  }
  for (int layers : {1, impasto::kVggConvCount}) {
    try {
      check_loaded(impasto::load_keras_vgg19(path, layers), layers);
    } catch (const impasto::Error&) {
    }
  }
  return 0;
}
