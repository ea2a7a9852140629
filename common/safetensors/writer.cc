#include "common/safetensors/writer.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/safetensors/internal.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::safetensors {
namespace {

// The reference writer pads the JSON so the data buffer starts 8-byte aligned
// in the file (and so in an mmap), which lets readers view F32/I64 in place.
constexpr size_t kHeaderAlignment = 8;

// Names and metadata are validated as UTF-8 on the way in, so `replace` never
// fires for names; for metadata (SetMetadata cannot fail) it keeps dump() from
// throwing.
std::string DumpJson(const nlohmann::ordered_json& value) {
  return value.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

void AppendLittleEndian64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

absl::Status Writer::Add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                         const void* data, size_t nbytes) {
  RETURN_IF_ERROR(internal::ValidateTensor(name, dtype, shape, data, nbytes));
  if (names_.count(name) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", internal::Quote(name), " already added"));
  }
  const uint64_t begin = data_.size();
  if (nbytes > 0) data_.append(static_cast<const char*>(data), nbytes);
  entries_.push_back(Entry{name, dtype, std::move(shape), begin, data_.size()});
  names_.insert(name);
  return absl::OkStatus();
}

void Writer::SetMetadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

std::string Writer::HeaderBytes() const {
  // Built piece by piece rather than as one ordered_json object, whose
  // insertion is linear in its size (quadratic over thousands of tensors).
  std::string json = "{";
  bool first = true;
  const auto append_member = [&](const std::string& key, const nlohmann::ordered_json& value) {
    if (!first) json += ',';
    first = false;
    json += DumpJson(key);
    json += ':';
    json += DumpJson(value);
  };
  if (!metadata_.empty()) append_member("__metadata__", nlohmann::ordered_json(metadata_));
  for (const Entry& e : entries_) {
    nlohmann::ordered_json entry;
    entry["dtype"] = std::string(DTypeName(e.dtype));
    entry["shape"] = e.shape;
    entry["data_offsets"] = {e.begin, e.end};
    append_member(e.name, entry);
  }
  json += '}';
  json.append((kHeaderAlignment - json.size() % kHeaderAlignment) % kHeaderAlignment, ' ');

  std::string out;
  out.reserve(8 + json.size());
  AppendLittleEndian64(out, json.size());
  out += json;
  return out;
}

std::string Writer::Serialize() const { return HeaderBytes() + data_; }

absl::Status Writer::WriteFile(const std::string& path) const {
  return internal::WriteFileAtomically(path, {HeaderBytes(), data_});
}

}  // namespace align::safetensors
