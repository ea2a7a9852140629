#pragma once
// Moves parameters between LibTorch modules and safetensors weight files by
// name: loading is a walk over module.named_parameters(), so a model whose
// submodules carry the reference's names loads the reference's files.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/safetensors/sharded_weights.h"

namespace align::models {

// Copies a safetensors tensor into a new CPU tensor of its own dtype.
torch::Tensor ToTorch(const safetensors::TensorView& view);
absl::StatusOr<safetensors::DType> ToSafetensorsDType(torch::Dtype dtype);
// Reads every tensor of one safetensors file (inputs/outputs files, not models).
absl::StatusOr<std::map<std::string, torch::Tensor>> ReadTensors(const std::string& path);
absl::Status WriteTensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors);

struct LoadOptions {
  // Weights key = prefix + parameter name, for the first prefix that
  // matches (e.g. {"", "text_model."} for both transformers layouts).
  std::vector<std::string> key_prefixes = {""};
  // Weight keys that may be present and are not model parameters (e.g.
  // buffers older library versions saved); they are neither loaded nor errors.
  std::vector<std::string> ignored_keys;
};

// Fills every parameter of `module` from `weights`, converting dtypes
// (F16/BF16/F32 on disk) to each parameter's own dtype and device. Fails,
// listing the keys, when a parameter is missing, a shape differs, or the
// weights hold keys no parameter uses; the module is then partly written.
absl::Status LoadParameters(torch::nn::Module& module, const safetensors::ShardedWeights& weights,
                            const LoadOptions& options = {});

// Writes every parameter of `module` under `dir` as `<base>.safetensors` (or
// shards + index above max_shard_bytes), converted to `on_disk`.
absl::Status SaveParameters(const torch::nn::Module& module, const std::string& dir,
                            const std::string& base, torch::Dtype on_disk,
                            uint64_t max_shard_bytes = 10ull << 30);

}  // namespace align::models
