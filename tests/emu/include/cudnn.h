// tests/emu/include/cudnn.h — the few cuDNN names kernels/check.hpp mentions, so the kernel files compile
// for the CPU kernel emulator. The emulator runs no cuDNN call.
#pragma once

enum cudnnStatus_t {
  CUDNN_STATUS_SUCCESS = 0,
  CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED = 4001,
  CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED = 4002,
};
inline const char* cudnnGetErrorString(cudnnStatus_t) { return "cuDNN is not available in the kernel emulator"; }
