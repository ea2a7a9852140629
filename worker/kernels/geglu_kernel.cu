#include "worker/kernels/geglu_kernel.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace align::kernels {
namespace {

constexpr int kThreads = 256;
// Enough blocks to fill any current GPU many times over; the loops stride past it.
constexpr int64_t kMaxBlocks = 1 << 16;
constexpr float kSqrtHalf = 0.70710678118654752440f;      // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;    // 1 / sqrt(2 pi)

__device__ __forceinline__ float ToFloat(float x) { return x; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename T>
__device__ __forceinline__ T FromFloat(float x);
template <>
__device__ __forceinline__ float FromFloat<float>(float x) { return x; }
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

// Phi(x), the standard normal CDF; gelu(x) = x * Phi(x), as ATen's erf gelu.
__device__ __forceinline__ float NormalCdf(float x) { return 0.5f * (1.0f + erff(x * kSqrtHalf)); }
__device__ __forceinline__ float Gelu(float x) { return x * NormalCdf(x); }
// gelu'(x) = Phi(x) + x * phi(x), as ATen's GeluBackward.
__device__ __forceinline__ float GeluDerivative(float x) {
  return NormalCdf(x) + x * (expf(-0.5f * x * x) * kInvSqrt2Pi);
}

// kWidth consecutive elements, loaded and stored as one (16-byte) access.
template <typename T, int kWidth>
struct alignas(sizeof(T) * kWidth) Pack {
  T v[kWidth];
};

template <typename T, int kWidth>
__device__ __forceinline__ Pack<T, kWidth> Load(const T* p) {
  return *reinterpret_cast<const Pack<T, kWidth>*>(p);
}
template <typename T, int kWidth>
__device__ __forceinline__ void Store(T* p, const Pack<T, kWidth>& pack) {
  *reinterpret_cast<Pack<T, kWidth>*>(p) = pack;
}

// Calls visit(row, col) for every kWidth-wide pack of output columns, one
// thread per pack (grid-stride); inner % kWidth == 0.
template <int kWidth, typename Visit>
__device__ __forceinline__ void ForEachPack(int64_t rows, int64_t inner, Visit visit) {
  const int64_t packs_per_row = inner / kWidth;
  const int64_t packs = rows * packs_per_row;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < packs; i += stride) {
    const int64_t row = i / packs_per_row;
    visit(row, (i - row * packs_per_row) * kWidth);
  }
}

template <typename T, int kWidth>
__global__ void __launch_bounds__(kThreads)
    GegluForwardKernel(const T* __restrict__ projection, T* __restrict__ out, int64_t rows, int64_t inner) {
  ForEachPack<kWidth>(rows, inner, [&](int64_t row, int64_t col) {
    const T* in_row = projection + row * 2 * inner;
    const Pack<T, kWidth> hidden = Load<T, kWidth>(in_row + col);
    const Pack<T, kWidth> gate = Load<T, kWidth>(in_row + inner + col);
    Pack<T, kWidth> result;
#pragma unroll
    for (int k = 0; k < kWidth; ++k) {
      result.v[k] = FromFloat<T>(ToFloat(hidden.v[k]) * Gelu(ToFloat(gate.v[k])));
    }
    Store<T, kWidth>(out + row * inner + col, result);
  });
}

// The products in the order autograd forms them for the unfused ops (mul's
// backward, then gelu's), so fp32 agrees with it to the rounding of erf and exp.
template <typename T, int kWidth>
__global__ void __launch_bounds__(kThreads)
    GegluBackwardKernel(const T* __restrict__ grad_out, const T* __restrict__ projection,
                        T* __restrict__ grad_projection, int64_t rows, int64_t inner) {
  ForEachPack<kWidth>(rows, inner, [&](int64_t row, int64_t col) {
    const T* in_row = projection + row * 2 * inner;
    T* grad_row = grad_projection + row * 2 * inner;
    const Pack<T, kWidth> g = Load<T, kWidth>(grad_out + row * inner + col);
    const Pack<T, kWidth> hidden = Load<T, kWidth>(in_row + col);
    const Pack<T, kWidth> gate = Load<T, kWidth>(in_row + inner + col);
    Pack<T, kWidth> grad_hidden, grad_gate;
#pragma unroll
    for (int k = 0; k < kWidth; ++k) {
      const float gk = ToFloat(g.v[k]);
      const float a = ToFloat(gate.v[k]);
      grad_hidden.v[k] = FromFloat<T>(gk * Gelu(a));
      grad_gate.v[k] = FromFloat<T>((gk * ToFloat(hidden.v[k])) * GeluDerivative(a));
    }
    Store<T, kWidth>(grad_row + col, grad_hidden);
    Store<T, kWidth>(grad_row + inner + col, grad_gate);
  });
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

unsigned Blocks(int64_t packs) {
  return static_cast<unsigned>(std::min<int64_t>((packs + kThreads - 1) / kThreads, kMaxBlocks));
}

// 16-byte accesses where every row's halves start on a 16-byte boundary
// (inner a multiple of the pack, the buffers aligned), else one element a thread.
template <typename T>
cudaError_t Forward(const T* projection, T* out, int64_t rows, int64_t inner, cudaStream_t stream) {
  if (rows <= 0 || inner <= 0) return cudaSuccess;
  constexpr int kVector = 16 / sizeof(T);
  if (inner % kVector == 0 && Aligned16(projection) && Aligned16(out)) {
    GegluForwardKernel<T, kVector>
        <<<Blocks(rows * inner / kVector), kThreads, 0, stream>>>(projection, out, rows, inner);
  } else {
    GegluForwardKernel<T, 1><<<Blocks(rows * inner), kThreads, 0, stream>>>(projection, out, rows, inner);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t Backward(const T* grad_out, const T* projection, T* grad_projection, int64_t rows, int64_t inner,
                     cudaStream_t stream) {
  if (rows <= 0 || inner <= 0) return cudaSuccess;
  constexpr int kVector = 16 / sizeof(T);
  if (inner % kVector == 0 && Aligned16(grad_out) && Aligned16(projection) && Aligned16(grad_projection)) {
    GegluBackwardKernel<T, kVector><<<Blocks(rows * inner / kVector), kThreads, 0, stream>>>(
        grad_out, projection, grad_projection, rows, inner);
  } else {
    GegluBackwardKernel<T, 1>
        <<<Blocks(rows * inner), kThreads, 0, stream>>>(grad_out, projection, grad_projection, rows, inner);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchGegluForward(const float* projection, float* out, int64_t rows, int64_t inner,
                               cudaStream_t stream) {
  return Forward(projection, out, rows, inner, stream);
}
cudaError_t LaunchGegluForward(const __nv_bfloat16* projection, __nv_bfloat16* out, int64_t rows,
                               int64_t inner, cudaStream_t stream) {
  return Forward(projection, out, rows, inner, stream);
}

cudaError_t LaunchGegluBackward(const float* grad_out, const float* projection, float* grad_projection,
                                int64_t rows, int64_t inner, cudaStream_t stream) {
  return Backward(grad_out, projection, grad_projection, rows, inner, stream);
}
cudaError_t LaunchGegluBackward(const __nv_bfloat16* grad_out, const __nv_bfloat16* projection,
                                __nv_bfloat16* grad_projection, int64_t rows, int64_t inner,
                                cudaStream_t stream) {
  return Backward(grad_out, projection, grad_projection, rows, inner, stream);
}

}  // namespace align::kernels
