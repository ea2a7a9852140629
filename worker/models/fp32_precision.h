#pragma once
// How fp32 math runs on CUDA: through TF32 tensor cores (fp32 range, 10-bit mantissa, ~1e-3
// relative error) or as IEEE fp32. LibTorch keeps the choice process-wide, for cuDNN
// convolutions and cuBLAS matmuls separately; its defaults are TF32 convolutions and IEEE
// matmuls. CPU math is always IEEE fp32.

#include <optional>

namespace align::models {

// true: TF32 for convolutions and matmuls; false: IEEE fp32 for both; nullopt: LibTorch's
// defaults. Takes effect for every CUDA kernel launched afterwards in this process.
void SetCudaTf32(std::optional<bool> allow_tf32);

}  // namespace align::models
