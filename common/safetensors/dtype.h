#pragma once
// Element types that safetensors files carry in this project. Anything else in a
// file header is rejected by name when the file is opened.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace align::safetensors {

enum class DType : uint8_t { kF32, kF16, kBF16, kF64, kI64, kI32, kU8 };

// The spelling safetensors headers use: "F32", "F16", "BF16", "F64", "I64", "I32", "U8".
std::string_view DTypeName(DType dtype);
size_t DTypeSize(DType dtype);
absl::StatusOr<DType> ParseDType(std::string_view name);

}  // namespace align::safetensors
