#pragma once
// IEEE half and bfloat16 <-> float without LibTorch, for shards stored in F16/BF16.
// Narrowing rounds to nearest, ties to even, as torch's .to(dtype) does, so a
// shard written here matches one written by PyTorch bit for bit.

#include <cstdint>

#include "absl/status/status.h"
#include "common/safetensors/dtype.h"

namespace align::data {

float HalfToFloat(uint16_t bits);
float BFloat16ToFloat(uint16_t bits);
uint16_t FloatToHalf(float value);
uint16_t FloatToBFloat16(float value);

// Converts `count` little-endian elements of a floating dtype (F32, F16, BF16)
// at `src` (any alignment) to float. InvalidArgument for other dtypes.
absl::Status ConvertToFloat(safetensors::DType dtype, const uint8_t* src, int64_t count, float* dst);
// The reverse: writes count * DTypeSize(dtype) bytes to `dst`.
absl::Status ConvertFromFloat(const float* src, int64_t count, safetensors::DType dtype, uint8_t* dst);

bool IsFloatingDType(safetensors::DType dtype);

}  // namespace align::data
