#pragma once
// Streams the regular-file members of a tar archive (optionally gzip/zstd/xz
// compressed) through libarchive without extracting anything: a member's data
// is read only when asked for, otherwise skipped (a seek on uncompressed
// files), so indexing a shard costs its headers, not its images.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct archive;

namespace align::prepare {

class TarReader {
 public:
  static absl::StatusOr<std::unique_ptr<TarReader>> Open(const std::string& path);
  ~TarReader();
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // Advances to the next regular file; false at the end of the archive.
  // DataLoss for a corrupt or truncated archive, naming the file and the
  // member it stopped after.
  absl::StatusOr<bool> Next();
  const std::string& name() const { return name_; }
  int64_t size() const { return size_; }
  // The current member's bytes; InvalidArgument when it is larger than `max_bytes`.
  absl::StatusOr<std::string> ReadData(int64_t max_bytes);

 private:
  TarReader(std::string path, ::archive* a) : path_(std::move(path)), archive_(a) {}
  std::string path_;
  ::archive* archive_;
  std::string name_;
  int64_t size_ = 0;
};

}  // namespace align::prepare
