#pragma once
// A model's weights as diffusers/transformers store them: one safetensors file,
// or shards listed by `<name>.safetensors.index.json` ({"weight_map": {key: shard}}).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/safetensors/reader.h"
#include "common/safetensors/writer.h"

namespace align::safetensors {

class ShardedWeights {
 public:
  // Opens `dir/<base>.safetensors` if present, else `dir/<base>.safetensors.index.json`
  // and every shard it names (base e.g. "diffusion_pytorch_model" or "model").
  static absl::StatusOr<ShardedWeights> Open(const std::string& dir, const std::string& base);
  // Opens a single file or an index file by path.
  static absl::StatusOr<ShardedWeights> OpenPath(const std::string& path);

  // Every tensor name, sorted.
  std::vector<std::string> Names() const;
  bool Contains(std::string_view name) const;
  absl::StatusOr<TensorView> Get(std::string_view name) const;
  size_t size() const { return where_.size(); }

 private:
  static absl::StatusOr<ShardedWeights> OpenSingle(const std::string& path);
  static absl::StatusOr<ShardedWeights> OpenIndex(const std::string& index_path);
  void AddFile(std::shared_ptr<File> file);

  std::string origin_;  // the file or index path, for error messages
  std::vector<std::shared_ptr<File>> files_;
  std::map<std::string, const File*, std::less<>> where_;
};

struct NamedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};

// Writes `tensors` under `dir` as `<base>.safetensors`, or, when their total
// size exceeds `max_shard_bytes`, as `<base>-0000i-of-0000n.safetensors` shards
// plus `<base>.safetensors.index.json` (diffusers' naming), each shard at most
// max_shard_bytes unless one tensor alone is larger.
absl::Status WriteShardedWeights(const std::string& dir, const std::string& base,
                                 const std::vector<NamedTensor>& tensors,
                                 uint64_t max_shard_bytes = 10ull << 30);

}  // namespace align::safetensors
