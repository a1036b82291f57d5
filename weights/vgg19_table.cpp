// weights/vgg19_table.cpp — the VGG-19 convolution table (Simonyan & Zisserman, ICLR 2015, configuration E),
// features part only: our layer names, the Keras layer names, channel counts and where the 2×2 pools sit.
#include "weights/weights.hpp"

namespace impasto {

const std::array<VggConvSpec, kVggConvCount>& vgg19_convs() {
  static const std::array<VggConvSpec, kVggConvCount> table = {{
      {"conv1_1", "block1_conv1", 3, 64, false},
      {"conv1_2", "block1_conv2", 64, 64, true},
      {"conv2_1", "block2_conv1", 64, 128, false},
      {"conv2_2", "block2_conv2", 128, 128, true},
      {"conv3_1", "block3_conv1", 128, 256, false},
      {"conv3_2", "block3_conv2", 256, 256, false},
      {"conv3_3", "block3_conv3", 256, 256, false},
      {"conv3_4", "block3_conv4", 256, 256, true},
      {"conv4_1", "block4_conv1", 256, 512, false},
      {"conv4_2", "block4_conv2", 512, 512, false},
      {"conv4_3", "block4_conv3", 512, 512, false},
      {"conv4_4", "block4_conv4", 512, 512, true},
      {"conv5_1", "block5_conv1", 512, 512, false},
      {"conv5_2", "block5_conv2", 512, 512, false},
      {"conv5_3", "block5_conv3", 512, 512, false},
      {"conv5_4", "block5_conv4", 512, 512, false},  // block5_pool exists in the file but is never used
  }};
  return table;
}

}  // namespace impasto
