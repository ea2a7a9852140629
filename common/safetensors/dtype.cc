#include "common/safetensors/dtype.h"

#include <array>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace align::safetensors {
namespace {

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  size_t size;
};

// One table drives names, sizes and parsing so they cannot drift apart.
constexpr std::array<DTypeEntry, 7> kDTypes = {{
    {DType::kF32, "F32", 4},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
    {DType::kF64, "F64", 8},
    {DType::kI64, "I64", 8},
    {DType::kI32, "I32", 4},
    {DType::kU8, "U8", 1},
}};

const DTypeEntry& Lookup(DType dtype) {
  for (const DTypeEntry& entry : kDTypes) {
    if (entry.dtype == dtype) return entry;
  }
  // Only reachable through a cast of an out-of-range integer to DType.
  return kDTypes[0];
}

}  // namespace

std::string_view DTypeName(DType dtype) { return Lookup(dtype).name; }

size_t DTypeSize(DType dtype) { return Lookup(dtype).size; }

absl::StatusOr<DType> ParseDType(std::string_view name) {
  for (const DTypeEntry& entry : kDTypes) {
    if (entry.name == name) return entry.dtype;
  }
  std::string shown(name.substr(0, 32));
  return absl::InvalidArgumentError(absl::StrCat(
      "unsupported dtype \"", absl::CEscape(shown), name.size() > 32 ? "..." : "",
      "\" (supported: F32, F16, BF16, F64, I64, I32, U8)"));
}

}  // namespace align::safetensors
