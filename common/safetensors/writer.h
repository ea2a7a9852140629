#pragma once
// Writes safetensors files: tensors are laid out in the order they were added,
// each aligned as the reference writer does (header padded with spaces to a
// multiple of 8 bytes).

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/safetensors/dtype.h"

namespace align::safetensors {

class Writer {
 public:
  // Copies `nbytes` bytes from `data`; InvalidArgument if nbytes does not match
  // dtype x shape or the name is empty or already added.
  absl::Status Add(const std::string& name, DType dtype, std::vector<int64_t> shape,
                   const void* data, size_t nbytes);
  void SetMetadata(const std::string& key, const std::string& value);

  size_t num_tensors() const { return entries_.size(); }
  uint64_t data_bytes() const { return data_.size(); }

  // Writes to `path` through a temporary file renamed into place, so a reader
  // never sees a half-written file.
  absl::Status WriteFile(const std::string& path) const;
  std::string Serialize() const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  // The 8-byte length and the padded JSON header that precede data_.
  std::string HeaderBytes() const;

  std::vector<Entry> entries_;
  std::set<std::string, std::less<>> names_;
  std::map<std::string, std::string> metadata_;
  std::string data_;
};

}  // namespace align::safetensors
