// SetCudaTf32: what it sets in LibTorch's process-wide precision state (no GPU needed: the
// state is read by cuDNN and cuBLAS calls when there is one).

#include "worker/models/fp32_precision.h"

#include <optional>

#include <ATen/Context.h>
#include <gtest/gtest.h>

namespace align::models {
namespace {

bool Conv() { return at::globalContext().allowTF32CuDNN(); }
bool Matmul() { return at::globalContext().allowTF32CuBLAS(); }

TEST(Fp32PrecisionTest, FalseMakesConvolutionsAndMatmulsIeee) {
  SetCudaTf32(false);
  EXPECT_FALSE(Conv());
  EXPECT_FALSE(Matmul());
}

TEST(Fp32PrecisionTest, TrueMakesBothTf32) {
  SetCudaTf32(true);
  EXPECT_TRUE(Conv());
  EXPECT_TRUE(Matmul());
}

TEST(Fp32PrecisionTest, UnsetRestoresLibTorchDefaultsAfterAnEarlierJob) {
  // LibTorch's defaults: TF32 convolutions, IEEE matmuls.
  SetCudaTf32(false);  // what a previous job on this worker may have left
  SetCudaTf32(std::nullopt);
  EXPECT_TRUE(Conv());
  EXPECT_FALSE(Matmul());
  SetCudaTf32(true);
  SetCudaTf32(std::nullopt);
  EXPECT_TRUE(Conv());
  EXPECT_FALSE(Matmul());
}

}  // namespace
}  // namespace align::models
