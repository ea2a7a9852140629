#pragma once
// GEGLU on CUDA as two kernels: forward reads the projection once and writes the
// output once; backward reads the projection and the output's gradient once and
// writes the projection's gradient once. Plain CUDA, no LibTorch: the caller
// (worker/models/fused_geglu.cc) checks shapes, allocates and picks the stream.
//
// The projection is [rows, 2 * inner], row-major and contiguous: its first half
// of each row is the hidden value h, its second half the gate a.
//   out[r, c]          = h * gelu(a)                 (out: [rows, inner])
//   grad_proj[r, c]          = g * gelu(a)           (grad_proj: [rows, 2 * inner])
//   grad_proj[r, inner + c]  = g * h * gelu'(a)
// with gelu the exact (erf) form, gelu(x) = x * Phi(x), gelu'(x) = Phi(x) + x * phi(x),
// and g = grad_out[r, c]. bf16 is computed in fp32 and rounded once, as ATen's
// bf16 gelu computes.
//
// Each returns cudaGetLastError() after its launch (cudaSuccess where there is
// nothing to do): the launch's own errors, not the kernel's completion.

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace align::kernels {

cudaError_t LaunchGegluForward(const float* projection, float* out, int64_t rows, int64_t inner,
                               cudaStream_t stream);
cudaError_t LaunchGegluForward(const __nv_bfloat16* projection, __nv_bfloat16* out, int64_t rows,
                               int64_t inner, cudaStream_t stream);

cudaError_t LaunchGegluBackward(const float* grad_out, const float* projection, float* grad_projection,
                                int64_t rows, int64_t inner, cudaStream_t stream);
cudaError_t LaunchGegluBackward(const __nv_bfloat16* grad_out, const __nv_bfloat16* projection,
                                __nv_bfloat16* grad_projection, int64_t rows, int64_t inner,
                                cudaStream_t stream);

}  // namespace align::kernels
