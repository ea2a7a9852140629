#pragma once
// WebDataset tar shards in Pick-a-Pic's layout: consecutive members sharing a
// key (the name up to the first '.' of its last path component) form one
// sample; a sample holds `<key>.jpg_0`, `<key>.jpg_1` (JPEG or PNG bytes,
// recognised by content) and `<key>.json` with `caption` and `label_0`.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/prepare/input_index.h"
#include "common/prepare/tar_reader.h"

namespace align::prepare {

inline constexpr int64_t kMaxImageBytes = int64_t{256} << 20;
inline constexpr int64_t kMaxJsonBytes = int64_t{16} << 20;

// `input` is a directory (its *.tar, *.tar.gz, *.tgz, *.tar.zst, *.tar.xz
// files), a glob pattern, or one file; the result is sorted by path.
// NotFound when nothing matches.
absl::StatusOr<std::vector<std::string>> ResolveShards(const std::string& input);

// Splits a member name into the WebDataset key and extension.
void SplitMemberName(const std::string& name, std::string* key, std::string* extension);

struct Sample {
  int64_t position = 0;                       // ordinal within the shard
  std::string key;
  std::set<std::string> extensions;           // every member present
  std::map<std::string, std::string> data;    // loaded members, by extension
};

class WebDatasetReader {
 public:
  // `load(position, extension)`: whether to read that member's bytes (others
  // are skipped).
  using LoadPredicate = std::function<bool(int64_t position, const std::string& extension)>;
  static absl::StatusOr<std::unique_ptr<WebDatasetReader>> Open(const std::string& path, LoadPredicate load);

  // The next sample; false at the end. A corrupt archive is DataLoss (the
  // samples before it were returned normally).
  absl::StatusOr<bool> Next(Sample* sample);

 private:
  WebDatasetReader(std::unique_ptr<TarReader> tar, LoadPredicate load) : tar_(std::move(tar)), load_(std::move(load)) {}
  absl::Status AddMember(const std::string& extension);

  std::unique_ptr<TarReader> tar_;
  LoadPredicate load_;
  Sample pending_;          // the sample being assembled
  bool has_pending_ = false;
  bool done_ = false;
  int64_t next_position_ = 0;
};

absl::StatusOr<InputIndex> IndexWebDataset(const std::string& input);

}  // namespace align::prepare
