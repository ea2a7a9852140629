#pragma once
// Helpers shared by the safetensors reader, writer and checkpoint code. Not part
// of the public API: the rules they encode (what a valid name, shape or JSON
// document is) must be the same on the read and the write side, so that every
// file the writer produces is one the reader accepts and vice versa.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/safetensors/dtype.h"
#include "nlohmann/json.hpp"

namespace align::safetensors::internal {

// abseil here is built with its own string_view, which does not convert from
// std::string_view implicitly.
inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }

// A quoted, escaped and length-bounded rendering of an untrusted string (tensor
// names come straight from files) that is safe to put in an error message.
std::string Quote(std::string_view s);

bool IsValidUtf8(std::string_view s);

// Parses a complete JSON document. Unlike nlohmann's own parser it rejects
// duplicate object keys (which nlohmann would silently resolve to the last one,
// letting two readers of one file disagree), bounds the nesting depth, and never
// throws: invalid UTF-8, syntax errors, duplicates and excessive depth come back
// as InvalidArgument.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text);

// dtype x shape in bytes; InvalidArgument for negative dimensions or a product
// that does not fit (the element count must fit int64, the byte size uint64).
absl::StatusOr<uint64_t> ByteSize(DType dtype, const std::vector<int64_t>& shape);

// The checks Writer::Add makes, exposed so a multi-file write can reject a bad
// tensor before it has written anything.
absl::Status ValidateTensor(std::string_view name, DType dtype, const std::vector<int64_t>& shape,
                            const void* data, size_t nbytes);

std::string ShapeString(const std::vector<int64_t>& shape);

// Writes the concatenation of `pieces` to `path + ".tmp"`, fsyncs it and renames
// it over `path`, so readers see either the old file or the complete new one.
absl::Status WriteFileAtomically(const std::string& path,
                                 std::initializer_list<std::string_view> pieces);

}  // namespace align::safetensors::internal
