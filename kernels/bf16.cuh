// kernels/bf16.cuh — bf16 activations (DType::bf16) in the CUDA kernels: math::Element<__nv_bfloat16> widens a
// stored element to float and narrows a float result back (round to nearest even), so that the math written on
// Element<T> (kernels/pointwise.cuh, pool.cuh) reads and writes bf16 as it does float32. Kernels compute in
// float and round once, where they store.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/hd.cuh"
#include "kernels/pointwise.cuh"  // relu

namespace impasto::math {

template <>
struct Element<__nv_bfloat16> {
  __device__ static float widen(__nv_bfloat16 v) { return __bfloat162float(v); }
  __device__ static __nv_bfloat16 narrow(float v) { return __float2bfloat16(v); }
};

}  // namespace impasto::math

namespace impasto::kernels {

// What a convolution's epilogue stores for its raw bf16 output element y: bf16(y + bias), then ReLU when relu —
// computed in float and rounded once (kernels::bias_act_bf16, and the pooling fused with it in kernels/pool.cu).
__device__ inline __nv_bfloat16 bias_act_value(__nv_bfloat16 y, float bias, bool relu) {
  const float v = __bfloat162float(y) + bias;
  return __float2bfloat16(relu ? math::relu(v) : v);
}

// f(T{}) with T the activations' element type: float, or bf16 (`bf16`); a launcher's dispatch.
template <typename F>
void on_type(bool bf16, F&& f) {
  if (bf16)
    f(__nv_bfloat16{});
  else
    f(float{});
}

}  // namespace impasto::kernels
