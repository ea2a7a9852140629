#include "worker/engine/flat_parameters.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace align::engine {

FlatLayout FlatLayout::Make(const std::vector<int64_t>& numels, int world_size) {
  FlatLayout layout;
  layout.world_size = world_size;
  layout.numels = numels;
  for (int64_t n : numels) {
    layout.offsets.push_back(layout.numel);
    layout.numel += n;
  }
  const int64_t share = (layout.numel + world_size - 1) / world_size;
  layout.shard_numel = std::max<int64_t>(
      kShardAlignment, (share + kShardAlignment - 1) / kShardAlignment * kShardAlignment);
  layout.padded_numel = layout.shard_numel * world_size;
  return layout;
}

std::pair<int64_t, int64_t> FlatLayout::ShardPart(size_t i, int rank) const {
  const int64_t begin = std::max(offsets[i], ShardBegin(rank));
  const int64_t end = std::min(offsets[i] + numels[i], ShardBegin(rank) + shard_numel);
  return begin < end ? std::make_pair(begin, end) : std::make_pair(begin, begin);
}

absl::StatusOr<FlatParameters> FlatParameters::Create(const NamedParameters& params, int world_size,
                                                      FlatGradients gradients) {
  if (params.empty()) return absl::InvalidArgumentError("no trainable parameters to flatten");
  if (world_size < 1) return absl::InvalidArgumentError("world size must be >= 1");
  const torch::Device device = params.front().second.device();
  std::vector<int64_t> numels;
  for (const auto& [name, p] : params) {
    if (p.scalar_type() != torch::kFloat || p.device() != device) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sharding flattens the trainable parameters into one fp32 buffer on one device; ", name, " is ",
          std::string(c10::toString(p.scalar_type())), " on ", p.device().str(), ", the first one fp32 on ",
          device.str()));
    }
    if (!p.is_non_overlapping_and_dense()) {
      return absl::InvalidArgumentError(absl::StrCat("sharding needs dense parameters; ", name, " is strided"));
    }
    numels.push_back(p.numel());
  }
  FlatParameters flat;
  flat.layout_ = FlatLayout::Make(numels, world_size);
  flat.params_ = params;
  const auto options = torch::TensorOptions().dtype(torch::kFloat).device(device);
  flat.values_ = torch::zeros({flat.layout_.padded_numel}, options);
  if (gradients == FlatGradients::kBuffer) flat.gradients_ = torch::zeros({flat.layout_.padded_numel}, options);
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> value_views = flat.Views(flat.values_);
  if (gradients == FlatGradients::kBuffer) flat.gradient_views_ = flat.Views(flat.gradients_);
  for (size_t i = 0; i < params.size(); ++i) {
    torch::Tensor p = params[i].second;
    value_views[i].copy_(p);
    p.set_data(value_views[i]);
    p.mutable_grad() = gradients == FlatGradients::kBuffer ? flat.gradient_views_[i] : torch::Tensor();
  }
  return flat;
}

torch::Tensor FlatParameters::Shard(const torch::Tensor& flat, int rank) const {
  return flat.narrow(0, layout_.ShardBegin(rank), layout_.shard_numel);
}

std::vector<torch::Tensor> FlatParameters::Views(const torch::Tensor& flat) const {
  std::vector<torch::Tensor> views;
  views.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const torch::Tensor& p = params_[i].second;
    views.push_back(flat.narrow(0, layout_.offsets[i], layout_.numels[i]).as_strided(p.sizes(), p.strides()));
  }
  return views;
}

torch::Tensor FlatParameters::InBufferOrder(size_t i, const torch::Tensor& value) const {
  const torch::Tensor& p = params_[i].second;
  torch::Tensor laid_out = torch::empty_strided(p.sizes(), p.strides(), value.options());
  laid_out.copy_(value);
  return laid_out.as_strided({laid_out.numel()}, {1});
}

void FlatParameters::ZeroGradients() {
  TORCH_CHECK(gradients_.defined(), "FlatParameters::ZeroGradients: no gradient buffer");
  torch::NoGradGuard no_grad;
  gradients_.zero_();
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor p = params_[i].second;
    if (!p.grad().is_same(gradient_views_[i])) p.mutable_grad() = gradient_views_[i];
  }
}

void FlatParameters::AdoptReplacedGradients() {
  TORCH_CHECK(gradients_.defined(), "FlatParameters::AdoptReplacedGradients: no gradient buffer");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor p = params_[i].second;
    if (!p.grad().defined() || p.grad().is_same(gradient_views_[i])) continue;
    gradient_views_[i].copy_(p.grad());
    p.mutable_grad() = gradient_views_[i];
  }
}

}  // namespace align::engine
