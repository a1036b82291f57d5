// tests/support/gpu_main.cpp — main of the GPU suite: exits with the skip code 77 and one line saying why
// when no CUDA device is present, so ctest reports the suite as skipped instead of passed or failed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "engine/backend.hpp"
#include "engine/backend_factory.hpp"

int main(int argc, char** argv) {
  if (!impasto::cuda_available()) {
    std::printf("GPU tests skipped: %s\n", impasto::cuda_unavailable_reason().c_str());
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
