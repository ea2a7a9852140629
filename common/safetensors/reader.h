#pragma once
// Reads safetensors files (https://github.com/huggingface/safetensors format):
//   8 bytes little-endian header length N | N bytes JSON header | data buffer.
// The header is validated completely before any tensor is handed out, so a
// TensorView's bytes are always inside the mapped file and sized dtype x shape.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/safetensors/dtype.h"

namespace align::safetensors {

// Headers above this size are rejected before parsing (the reference
// implementation uses the same 100 MB bound).
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data buffer
  uint64_t end = 0;

  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

// A tensor's bytes, borrowed from the file that owns them.
struct TensorView {
  const TensorInfo* info = nullptr;
  const uint8_t* data = nullptr;
};

// The parsed, validated header: tensors in data-offset order, plus metadata.
struct Header {
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses and validates a header against a data buffer of `data_bytes` bytes:
// bad JSON, duplicate keys, unknown dtypes, negative or overflowing shapes,
// offsets out of range, overlapping or unordered ranges, gaps, and sizes that do
// not match dtype x shape are errors naming the tensor and the problem.
absl::StatusOr<Header> ParseHeader(std::string_view json, uint64_t data_bytes);

class File {
 public:
  // Memory-maps `path` read-only and validates it.
  static absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path);
  // Validates an in-memory copy of a whole file (tests and fuzzing).
  static absl::StatusOr<std::unique_ptr<File>> FromBytes(std::string bytes);

  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  bool Contains(std::string_view name) const;
  // NotFound naming the tensor and the file when absent.
  absl::StatusOr<TensorView> Get(std::string_view name) const;
  // Copies bytes [offset, offset + length) of `view`'s tensor into `dst` by reading the file on
  // disk (pread), not the mapping: a file truncated or replaced since Open gives DataLoss naming
  // it, where touching the mapping would raise SIGBUS and kill the process. In-memory files copy.
  // OutOfRange when the range is outside the tensor.
  absl::Status ReadBytes(const TensorView& view, uint64_t offset, uint64_t length, void* dst) const;

 private:
  File() = default;
  absl::Status Init(std::string_view origin);

  std::string path_;
  std::string owned_bytes_;     // FromBytes
  void* mapping_ = nullptr;     // Open
  size_t mapping_size_ = 0;
  uint64_t device_ = 0;         // Open: the file's identity, to notice a replaced file
  uint64_t inode_ = 0;
  const uint8_t* bytes_ = nullptr;
  size_t size_ = 0;
  const uint8_t* data_ = nullptr;
  Header header_;
  std::map<std::string, size_t, std::less<>> index_;
};

}  // namespace align::safetensors
