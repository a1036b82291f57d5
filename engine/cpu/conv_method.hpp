// engine/cpu/conv_method.hpp — which algorithm the CPU backend's "same" convolutions use (engine/cpu/conv.cpp
// explains both). `automatic` picks per layer shape; tests and benchmarks force one to compare them on the
// same inputs. 1×1 kernels always multiply x directly.
#pragma once

namespace impasto::cpu {

enum class ConvMethod {
  automatic,  // im2col for small planes (relative to the weights), shifted GEMMs otherwise
  im2col,     // im2col + one SGEMM (backward: one SGEMM + col2im)
  shifted,    // zero-padded input + K² SGEMMs on shifted views, in row strips
};

// Process-wide; affects every CpuBackend from the next convolution (and its workspace size) on.
void set_conv_method(ConvMethod method);
ConvMethod conv_method();

}  // namespace impasto::cpu
