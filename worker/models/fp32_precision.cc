#include "worker/models/fp32_precision.h"

#include <optional>

#include <ATen/Context.h>

namespace align::models {

void SetCudaTf32(std::optional<bool> allow_tf32) {
  auto& context = at::globalContext();
  // LibTorch's own choice, read before this process first changes it: TF32 convolutions, IEEE
  // matmuls (TF32 where TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1). One API throughout: LibTorch
  // refuses to answer when its legacy flags and its per-operator precisions were mixed.
  static const bool default_cudnn = context.allowTF32CuDNN();
  static const bool default_cublas = context.allowTF32CuBLAS();
  context.setAllowTF32CuDNN(allow_tf32.value_or(default_cudnn));
  context.setAllowTF32CuBLAS(allow_tf32.value_or(default_cublas));
}

}  // namespace align::models
