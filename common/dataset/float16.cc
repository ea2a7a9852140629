#include "common/dataset/float16.h"

#include <cmath>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace align::data {
namespace {

uint32_t FloatBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

float BitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

void Store16(uint16_t v, uint8_t* p) {
  p[0] = static_cast<uint8_t>(v & 0xFF);
  p[1] = static_cast<uint8_t>(v >> 8);
}

absl::Status NotFloating(safetensors::DType dtype) {
  return absl::InvalidArgumentError(
      absl::StrCat("dtype ", std::string(safetensors::DTypeName(dtype)), " is not F32, F16 or BF16"));
}

}  // namespace

bool IsFloatingDType(safetensors::DType dtype) {
  return dtype == safetensors::DType::kF32 || dtype == safetensors::DType::kF16 ||
         dtype == safetensors::DType::kBF16;
}

// Shards are little-endian; F32 is copied as is, which assumes a little-endian
// host (x86-64, aarch64), as the safetensors reader does.
float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1F;
  const uint32_t mantissa = h & 0x3FF;
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float.
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1F) return BitsToFloat(sign | 0x7F800000u | (mantissa << 13));
  return BitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

float BFloat16ToFloat(uint16_t bits) { return BitsToFloat(static_cast<uint32_t>(bits) << 16); }

uint16_t FloatToHalf(float value) {
  const uint32_t x = FloatBits(value);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t magnitude = x & 0x7FFFFFFFu;
  if (magnitude >= 0x7F800000u) {  // inf or NaN (NaN stays quiet NaN)
    return sign | (magnitude > 0x7F800000u ? 0x7E00 : 0x7C00);
  }
  if (magnitude >= 0x477FF000u) return sign | 0x7C00;  // >= 65520 rounds to inf
  if (magnitude < 0x38800000u) {
    // Below half's smallest normal (2^-14): a multiple of 2^-24. Scaling by a
    // power of two is exact, and nearbyint rounds ties to even by default.
    const float scaled = BitsToFloat(magnitude) * 16777216.0f;
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  const uint32_t mantissa = magnitude & 0x7FFFFFu;
  uint32_t h = (((magnitude >> 23) - 112) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1FFFu;
  // A carry out of the mantissa correctly bumps the exponent.
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

uint16_t FloatToBFloat16(float value) {
  const uint32_t x = FloatBits(value);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x0040);  // quiet NaN
  const uint32_t rounding = 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

absl::Status ConvertToFloat(safetensors::DType dtype, const uint8_t* src, int64_t count, float* dst) {
  if (count == 0) return IsFloatingDType(dtype) ? absl::OkStatus() : NotFloating(dtype);
  switch (dtype) {
    case safetensors::DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(float));
      return absl::OkStatus();
    case safetensors::DType::kF16:
      for (int64_t i = 0; i < count; ++i) dst[i] = HalfToFloat(Load16(src + 2 * i));
      return absl::OkStatus();
    case safetensors::DType::kBF16:
      for (int64_t i = 0; i < count; ++i) dst[i] = BFloat16ToFloat(Load16(src + 2 * i));
      return absl::OkStatus();
    default:
      return NotFloating(dtype);
  }
}

absl::Status ConvertFromFloat(const float* src, int64_t count, safetensors::DType dtype, uint8_t* dst) {
  if (count == 0) return IsFloatingDType(dtype) ? absl::OkStatus() : NotFloating(dtype);
  switch (dtype) {
    case safetensors::DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(float));
      return absl::OkStatus();
    case safetensors::DType::kF16:
      for (int64_t i = 0; i < count; ++i) Store16(FloatToHalf(src[i]), dst + 2 * i);
      return absl::OkStatus();
    case safetensors::DType::kBF16:
      for (int64_t i = 0; i < count; ++i) Store16(FloatToBFloat16(src[i]), dst + 2 * i);
      return absl::OkStatus();
    default:
      return NotFloating(dtype);
  }
}

}  // namespace align::data
