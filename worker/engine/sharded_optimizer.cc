#include "worker/engine/sharded_optimizer.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace align::engine {
namespace {

// The one parameter the inner AdamW sees; its slots are "<kShardName>.<slot>".
constexpr char kShardName[] = "shard";
constexpr const char* kSlots[] = {"exp_avg", "exp_avg_sq"};

std::string SlotKey(const std::string& param, const char* slot) { return absl::StrCat(param, ".", slot); }

}  // namespace

absl::StatusOr<std::unique_ptr<ShardedOptimizer>> ShardedOptimizer::Create(const NamedParameters& params,
                                                                           const OptimSpec& spec,
                                                                           Communicator& comm) {
  if (spec.name != OptimizerName::kAdamW) {
    return absl::InvalidArgumentError(
        "optim.shard applies to adamw only: adafactor's factored second moment keeps statistics per row and "
        "column of each matrix, and a flat shard cuts through matrices");
  }
  ASSIGN_OR_RETURN(FlatParameters flat, FlatParameters::Create(params, comm.world_size()));
  std::unique_ptr<ShardedOptimizer> sharded(new ShardedOptimizer(std::move(flat), comm));
  sharded->shard_optimizer_ = MakeAdamW({{kShardName, sharded->value_shard_}}, spec);
  return sharded;
}

ShardedOptimizer::ShardedOptimizer(FlatParameters flat, Communicator& comm)
    : flat_(std::move(flat)), comm_(comm), value_shard_(flat_.ValueShard(comm.rank())) {
  gradient_shard_ = torch::zeros_like(value_shard_);
  // The shard optimizer reads the gradient of its one parameter.
  value_shard_.mutable_grad() = gradient_shard_;
}

void ShardedOptimizer::ZeroGradients() { flat_.ZeroGradients(); }

void ShardedOptimizer::AverageGradients() {
  torch::NoGradGuard no_grad;
  flat_.AdoptReplacedGradients();
  comm_.ReduceScatter(flat_.gradients(), gradient_shard_, ReduceOp::kMean);
}

double ShardedOptimizer::GradNorm() {
  torch::NoGradGuard no_grad;
  // Squared norm of the shard in fp64 (the padding is zero), summed over ranks on the host.
  const torch::Tensor shard_norm = at::_foreach_norm({gradient_shard_}, 2, torch::kDouble)[0];
  torch::Tensor sum_of_squares = shard_norm.pow(2).reshape({1}).to(torch::kCPU);
  comm_.AllReduceSum(sum_of_squares);
  return std::sqrt(sum_of_squares.item<double>());
}

void ShardedOptimizer::ScaleGradients(double scale) {
  torch::NoGradGuard no_grad;
  gradient_shard_.mul_(scale);
}

void ShardedOptimizer::Step(double lr) {
  shard_optimizer_->Step(lr);
  torch::NoGradGuard no_grad;
  torch::Tensor values = flat_.values();
  comm_.AllGather(value_shard_, values);
}

std::map<std::string, torch::Tensor> ShardedOptimizer::State() {
  torch::NoGradGuard no_grad;
  const std::map<std::string, torch::Tensor> shard_state = shard_optimizer_->State();
  std::map<std::string, torch::Tensor> state;
  state["step"] = shard_state.at("step");
  const NamedParameters& params = flat_.parameters();
  for (const char* slot : kSlots) {
    // Gathered in host memory: a checkpoint does not need the device memory
    // that sharding saved (the file is written from the host anyway).
    const torch::Tensor shard = shard_state.at(SlotKey(kShardName, slot)).to(torch::kCPU).contiguous();
    torch::Tensor whole = torch::empty({flat_.layout().padded_numel}, shard.options());
    comm_.AllGather(shard, whole);
    const std::vector<torch::Tensor> views = flat_.Views(whole);
    for (size_t i = 0; i < params.size(); ++i) state[SlotKey(params[i].first, slot)] = views[i];
  }
  return state;
}

absl::Status ShardedOptimizer::LoadState(const std::map<std::string, torch::Tensor>& state) {
  auto step = state.find("step");
  if (step == state.end()) return absl::InvalidArgumentError("optimizer state has no 'step'");
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> shard_state = {{"step", step->second}};
  const FlatLayout& layout = flat_.layout();
  const NamedParameters& params = flat_.parameters();
  const int64_t shard_begin = layout.ShardBegin(comm_.rank());
  for (const char* slot : kSlots) {
    torch::Tensor shard = torch::zeros_like(value_shard_);
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string key = SlotKey(params[i].first, slot);
      auto it = state.find(key);
      if (it == state.end()) return absl::InvalidArgumentError(absl::StrCat("optimizer state has no '", key, "'"));
      if (it->second.sizes() != params[i].second.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat("optimizer state '", key, "' has the wrong shape"));
      }
      const auto [begin, end] = layout.ShardPart(i, comm_.rank());
      if (begin == end) continue;
      shard.narrow(0, begin - shard_begin, end - begin)
          .copy_(flat_.InBufferOrder(i, it->second).narrow(0, begin - layout.offsets[i], end - begin));
    }
    shard_state[SlotKey(kShardName, slot)] = shard;
  }
  return shard_optimizer_->LoadState(shard_state);
}

int64_t ShardedOptimizer::StateBytes() const {
  int64_t bytes = 0;
  for (const auto& [key, tensor] : shard_optimizer_->State()) {
    if (key != "step") bytes += static_cast<int64_t>(tensor.nbytes());
  }
  return bytes;
}

std::string ShardedOptimizer::Describe() const {
  return absl::StrCat("sharded over ", comm_.world_size(), " ranks (", flat_.layout().shard_numel,
                      " of ", flat_.layout().padded_numel, " flat elements each)");
}

}  // namespace align::engine
