#pragma once
// The trainable parameters in one contiguous fp32 buffer, their gradients in
// a second one, each split into equal, contiguous shards, one per rank: the
// layout that sharded data parallelism (worker/engine/sharded_optimizer.h)
// reduce-scatters gradients over and all-gathers parameters over with one
// collective each instead of one per parameter.

#include <cstdint>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "worker/engine/optimizer.h"

namespace align::engine {

// Where each parameter sits in the flat buffers, and which part each rank
// owns. Parameters follow one another in the given order, unpadded; only the
// end is padded (with zeros), so that `world_size` shards of `shard_numel`
// elements cover it exactly.
struct FlatLayout {
  // Shards start at multiples of this many elements (256 bytes of fp32): the
  // alignment vectorised kernels and NCCL's fast paths want.
  static constexpr int64_t kShardAlignment = 64;

  static FlatLayout Make(const std::vector<int64_t>& numels, int world_size);

  int64_t ShardBegin(int rank) const { return rank * shard_numel; }
  // The part of parameter `i` inside rank `rank`'s shard, as [begin, end) in
  // flat-buffer elements; begin == end when the shard holds none of it.
  std::pair<int64_t, int64_t> ShardPart(size_t i, int rank) const;

  std::vector<int64_t> offsets;  // of each parameter, in elements
  std::vector<int64_t> numels;   // of each parameter
  int64_t numel = 0;             // the parameters' elements together
  int64_t shard_numel = 0;       // each rank's share, padding included
  int64_t padded_numel = 0;      // world_size * shard_numel >= numel
  int world_size = 1;
};

// Whether backward accumulates into a flat gradient buffer (each gradient a
// view of it), or into autograd's own gradient tensors (overlapped reduction
// packs those bucket by bucket and drops them: no whole-size buffer is kept).
enum class FlatGradients { kBuffer, kNone };

class FlatParameters {
 public:
  // Copies the parameters' values into one buffer and makes each parameter a
  // view of it (Tensor::set_data: a module keeps its parameter objects, which
  // now alias the buffer), and, with kBuffer, gives each a gradient that is a
  // view of a second buffer, where backward accumulates. InvalidArgument
  // unless every parameter is an fp32 tensor on one device.
  static absl::StatusOr<FlatParameters> Create(const NamedParameters& params, int world_size,
                                               FlatGradients gradients = FlatGradients::kBuffer);

  const FlatLayout& layout() const { return layout_; }
  const NamedParameters& parameters() const { return params_; }
  // [padded_numel] each (gradients: undefined without kBuffer).
  const torch::Tensor& values() const { return values_; }
  const torch::Tensor& gradients() const { return gradients_; }
  // Rank `rank`'s [shard_numel] slice of values() / of any flat tensor.
  torch::Tensor ValueShard(int rank) const { return Shard(values_, rank); }
  torch::Tensor Shard(const torch::Tensor& flat, int rank) const;
  // Views of a [padded_numel] tensor laid out as values(), one per parameter,
  // shaped and strided as it (a channels-last weight keeps its NHWC memory
  // order inside the buffer).
  std::vector<torch::Tensor> Views(const torch::Tensor& flat) const;
  // `value` (shaped as parameter i) as the [numel] run of elements parameter
  // i occupies in the buffer: its memory order, not necessarily the logical one.
  torch::Tensor InBufferOrder(size_t i, const torch::Tensor& value) const;

  // kBuffer only.
  // Zeroes the gradient buffer and points every parameter's gradient at its
  // view again (in case something replaced or cleared it).
  void ZeroGradients();
  // After backward: a gradient that is no longer its view (autograd
  // replaces instead of accumulating in place when it records a graph of the
  // gradient, create_graph) is copied into the buffer and the view restored.
  void AdoptReplacedGradients();

 private:
  FlatParameters() = default;

  FlatLayout layout_;
  NamedParameters params_;
  torch::Tensor values_, gradients_;
  std::vector<torch::Tensor> gradient_views_;
};

}  // namespace align::engine
