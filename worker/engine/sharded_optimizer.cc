#include "worker/engine/sharded_optimizer.h"

#include <torch/torch.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/bucket_schedule.h"
#include "worker/engine/overlapped_reduction.h"

namespace align::engine {
namespace {

// The parameter the inner AdamW sees for bucket b; its slots are "<name>.<slot>".
std::string ShardName(size_t b) { return absl::StrCat("shard", b); }
constexpr const char* kSlots[] = {"exp_avg", "exp_avg_sq"};

std::string SlotKey(const std::string& param, const char* slot) { return absl::StrCat(param, ".", slot); }

}  // namespace

// Sharded, overlapped: a bucket's final gradients are packed into a zeroed
// buffer laid out as the bucket's flat values (each parameter's memory order,
// padding zero), dropped, and the buffer reduce-scattered (mean) into this
// rank's part of the gradient shard while backward goes on.
class ShardedOptimizer::OverlappedReduceScatter : public OverlappedReduction {
 public:
  OverlappedReduceScatter(ShardedOptimizer& owner, std::vector<torch::Tensor> params,
                          std::vector<std::vector<size_t>> buckets)
      : OverlappedReduction(std::move(params), std::move(buckets)), owner_(owner) {}

 protected:
  Started Start(size_t b) override {
    const FlatParameters& flat = owner_.buckets_[b];
    torch::Tensor packed = torch::zeros({flat.layout().padded_numel}, flat.values().options());
    const std::vector<torch::Tensor> views = flat.Views(packed);
    const std::vector<size_t>& members = buckets()[b];
    for (size_t k = 0; k < members.size(); ++k) {
      const torch::Tensor& grad = params()[members[k]].grad();
      if (grad.defined()) views[k].copy_(grad);
      ReleaseGradient(members[k]);
    }
    return {owner_.comm_.StartReduceScatter(packed, owner_.gradient_shards_[b], ReduceOp::kMean), packed};
  }
  void Done(size_t /*b*/, const torch::Tensor& /*packed*/) override {}

 private:
  ShardedOptimizer& owner_;
};

absl::StatusOr<std::unique_ptr<ShardedOptimizer>> ShardedOptimizer::Create(const NamedParameters& params,
                                                                           const OptimSpec& spec,
                                                                           Communicator& comm) {
  if (spec.name != OptimizerName::kAdamW) {
    return absl::InvalidArgumentError(
        "optim.shard applies to adamw only: adafactor's factored second moment keeps statistics per row and "
        "column of each matrix, and a flat shard cuts through matrices");
  }
  std::vector<FlatParameters> flats;
  std::vector<std::vector<size_t>> buckets;
  if (!spec.overlap) {
    ASSIGN_OR_RETURN(FlatParameters flat, FlatParameters::Create(params, comm.world_size()));
    flats.push_back(std::move(flat));
  } else {
    if (params.empty()) return absl::InvalidArgumentError("no trainable parameters to flatten");
    std::vector<int64_t> bytes;
    for (const auto& [name, p] : params) bytes.push_back(p.numel() * 4);
    buckets = ReverseOrderBuckets(bytes, BucketBytes(spec.bucket_mb));
    for (const std::vector<size_t>& bucket : buckets) {
      NamedParameters members;
      for (size_t i : bucket) members.push_back(params[i]);
      ASSIGN_OR_RETURN(FlatParameters flat, FlatParameters::Create(members, comm.world_size(), FlatGradients::kNone));
      flats.push_back(std::move(flat));
    }
  }
  std::unique_ptr<ShardedOptimizer> sharded(new ShardedOptimizer(std::move(flats), comm));
  NamedParameters shards;
  for (size_t b = 0; b < sharded->value_shards_.size(); ++b) shards.emplace_back(ShardName(b), sharded->value_shards_[b]);
  sharded->shard_optimizer_ = MakeAdamW(shards, spec);
  if (spec.overlap) {
    std::vector<torch::Tensor> tensors;
    for (const auto& [name, p] : params) tensors.push_back(p);
    sharded->overlapped_ = std::make_unique<OverlappedReduceScatter>(*sharded, tensors, std::move(buckets));
  }
  return sharded;
}

ShardedOptimizer::ShardedOptimizer(std::vector<FlatParameters> buckets, Communicator& comm)
    : buckets_(std::move(buckets)), comm_(comm) {
  int64_t shard_numel = 0;
  for (const FlatParameters& flat : buckets_) shard_numel += flat.layout().shard_numel;
  gradient_shard_ = torch::zeros({shard_numel}, buckets_.front().values().options());
  int64_t offset = 0;
  for (const FlatParameters& flat : buckets_) {
    value_shards_.push_back(flat.ValueShard(comm.rank()));
    gradient_shards_.push_back(gradient_shard_.narrow(0, offset, flat.layout().shard_numel));
    offset += flat.layout().shard_numel;
    // The shard optimizer reads the gradient of its parameters.
    value_shards_.back().mutable_grad() = gradient_shards_.back();
  }
}

ShardedOptimizer::~ShardedOptimizer() = default;

void ShardedOptimizer::ZeroGradients() {
  if (!overlapped_) return buckets_.front().ZeroGradients();
  for (const FlatParameters& flat : buckets_) {
    for (const auto& [name, p] : flat.parameters()) p.mutable_grad() = torch::Tensor();
  }
  overlapped_->BeginStep();
}

void ShardedOptimizer::BeforeLastBackward() {
  if (overlapped_) overlapped_->Arm();
}

void ShardedOptimizer::AverageGradients() {
  torch::NoGradGuard no_grad;
  const auto shard_bytes = static_cast<int64_t>(gradient_shard_.nbytes());
  if (overlapped_) {
    overlapped_->Finish();
    gradient_bytes_ = {overlapped_->peak_bytes() + shard_bytes, overlapped_->held_bytes() + shard_bytes};
    return;
  }
  FlatParameters& flat = buckets_.front();
  flat.AdoptReplacedGradients();
  comm_.ReduceScatter(flat.gradients(), gradient_shard_, ReduceOp::kMean);
  const auto buffer_bytes = static_cast<int64_t>(flat.gradients().nbytes());
  gradient_bytes_ = {buffer_bytes + shard_bytes, buffer_bytes + shard_bytes};
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
  for (size_t b = 0; b < buckets_.size(); ++b) {
    torch::Tensor values = buckets_[b].values();
    comm_.AllGather(value_shards_[b], values);
  }
}

std::map<std::string, torch::Tensor> ShardedOptimizer::State() {
  torch::NoGradGuard no_grad;
  const std::map<std::string, torch::Tensor> shard_state = shard_optimizer_->State();
  std::map<std::string, torch::Tensor> state;
  state["step"] = shard_state.at("step");
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const FlatParameters& flat = buckets_[b];
    const NamedParameters& params = flat.parameters();
    for (const char* slot : kSlots) {
      // Gathered in host memory: a checkpoint does not need the device memory
      // that sharding saved (the file is written from the host anyway).
      const torch::Tensor shard = shard_state.at(SlotKey(ShardName(b), slot)).to(torch::kCPU).contiguous();
      torch::Tensor whole = torch::empty({flat.layout().padded_numel}, shard.options());
      comm_.AllGather(shard, whole);
      const std::vector<torch::Tensor> views = flat.Views(whole);
      for (size_t i = 0; i < params.size(); ++i) state[SlotKey(params[i].first, slot)] = views[i];
    }
  }
  return state;
}

absl::Status ShardedOptimizer::LoadState(const std::map<std::string, torch::Tensor>& state) {
  auto step = state.find("step");
  if (step == state.end()) return absl::InvalidArgumentError("optimizer state has no 'step'");
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> shard_state = {{"step", step->second}};
  for (size_t b = 0; b < buckets_.size(); ++b) {
    const FlatParameters& flat = buckets_[b];
    const FlatLayout& layout = flat.layout();
    const NamedParameters& params = flat.parameters();
    const int64_t shard_begin = layout.ShardBegin(comm_.rank());
    for (const char* slot : kSlots) {
      torch::Tensor shard = torch::zeros_like(value_shards_[b]);
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
            .copy_(flat.InBufferOrder(i, it->second).narrow(0, begin - layout.offsets[i], end - begin));
      }
      shard_state[SlotKey(ShardName(b), slot)] = shard;
    }
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

GradientMemory ShardedOptimizer::GradientBytes() const { return gradient_bytes_; }

std::string ShardedOptimizer::Describe() const {
  int64_t shard_numel = 0, padded_numel = 0;
  for (const FlatParameters& flat : buckets_) {
    shard_numel += flat.layout().shard_numel;
    padded_numel += flat.layout().padded_numel;
  }
  std::string described = absl::StrCat("sharded over ", comm_.world_size(), " ranks (", shard_numel, " of ",
                                       padded_numel, " flat elements each)");
  if (overlapped_) {
    absl::StrAppend(&described, ", ", buckets_.size(), " gradient buckets reduce-scattered during backward");
  }
  return described;
}

}  // namespace align::engine
