#include "worker/engine/parameter_updater.h"

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/engine/bucket_schedule.h"
#include "worker/engine/grad_norm.h"
#include "worker/engine/overlapped_reduction.h"
#include "worker/engine/sharded_optimizer.h"

namespace align::engine {
namespace {

std::vector<int64_t> GradientBytesOf(const std::vector<torch::Tensor>& params) {
  std::vector<int64_t> bytes;
  for (const torch::Tensor& p : params) bytes.push_back(p.numel() * 4);  // reduced in fp32
  return bytes;
}

// Replicated, overlapped: each bucket's gradients packed into one fp32
// tensor, all-reduced (sum) while backward goes on, then divided by the world
// size and copied back: the operations GradientReducer does, per element, so
// the mean is the same bits as without overlap where the all-reduce adds the
// ranks' values in the same order (always with two ranks: a + b).
class OverlappedAllReduce : public OverlappedReduction {
 public:
  OverlappedAllReduce(Communicator& comm, const std::vector<torch::Tensor>& params, int64_t bucket_bytes)
      : OverlappedReduction(params, ReverseOrderBuckets(GradientBytesOf(params), bucket_bytes)), comm_(comm) {}

 protected:
  Started Start(size_t b) override {
    std::vector<torch::Tensor> grads;
    for (size_t i : buckets()[b]) {
      torch::Tensor p = params()[i];
      if (!p.grad().defined()) {
        p.mutable_grad() = torch::zeros_like(p);
        CountGradient(i);
      }
      grads.push_back(p.grad().to(torch::kFloat).reshape({-1}));
    }
    torch::Tensor flat = torch::cat(grads);
    return {comm_.StartAllReduceSum(flat), flat};
  }
  void Done(size_t b, const torch::Tensor& flat) override {
    flat.div_(comm_.world_size());
    int64_t offset = 0;
    for (size_t i : buckets()[b]) {
      torch::Tensor grad = params()[i].grad();
      grad.copy_(flat.narrow(0, offset, grad.numel()).view_as(grad));
      offset += grad.numel();
    }
  }

 private:
  Communicator& comm_;
};

class ReplicatedUpdater : public ParameterUpdater {
 public:
  ReplicatedUpdater(const NamedParameters& params, const OptimSpec& spec, Communicator& comm)
      : params_(Tensors(params)),
        comm_(comm),
        reducer_(comm, params_, BucketBytes(spec.bucket_mb)),
        optimizer_(MakeOptimizer(params, spec)) {
    // One rank has nothing to reduce (GradientReducer leaves the gradients as they are too).
    if (spec.overlap && comm.world_size() > 1) {
      overlapped_ = std::make_unique<OverlappedAllReduce>(comm, params_, BucketBytes(spec.bucket_mb));
    }
  }

  void ZeroGradients() override {
    for (auto& p : params_) p.mutable_grad() = torch::Tensor();
    if (overlapped_) overlapped_->BeginStep();
  }
  void BeforeLastBackward() override {
    if (overlapped_) overlapped_->Arm();
  }
  void AverageGradients() override {
    if (overlapped_) {
      overlapped_->Finish();
      gradient_bytes_ = {overlapped_->peak_bytes(), overlapped_->held_bytes()};
      return;
    }
    reducer_.AverageGradients();
    // Every gradient, and one packed bucket at a time while it is reduced.
    gradient_bytes_.held = 0;
    for (const auto& p : params_) {
      if (p.grad().defined()) gradient_bytes_.held += static_cast<int64_t>(p.grad().nbytes());
    }
    gradient_bytes_.peak = gradient_bytes_.held + (comm_.world_size() > 1 ? reducer_.LargestBucketBytes() : 0);
  }
  double GradNorm() override { return GlobalGradNorm(params_); }
  void ScaleGradients(double scale) override { engine::ScaleGradients(params_, scale); }
  void Step(double lr) override { optimizer_->Step(lr); }
  std::map<std::string, torch::Tensor> State() override { return optimizer_->State(); }
  absl::Status LoadState(const std::map<std::string, torch::Tensor>& state) override {
    return optimizer_->LoadState(state);
  }
  int64_t StateBytes() const override {
    int64_t bytes = 0;
    for (const auto& [key, tensor] : optimizer_->State()) {
      if (key != "step") bytes += static_cast<int64_t>(tensor.nbytes());
    }
    return bytes;
  }
  GradientMemory GradientBytes() const override { return gradient_bytes_; }

  absl::Status CanStepOnDevice() const override {
    if (comm_.world_size() > 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a step on the device runs on one rank: the gradients' all-reduce over ", comm_.world_size(),
          " ranks cannot be captured"));
    }
    return optimizer_->CanStepOnDevice();
  }
  void ZeroGradientsInPlace() override {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> grads;
    for (auto& p : params_) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
    if (!grads.empty()) at::_foreach_zero_(grads);
  }
  torch::Tensor GradNormOnDevice() override { return GlobalGradNormOnDevice(params_); }
  void ClipGradientsOnDevice(const torch::Tensor& norm, double grad_clip) override {
    engine::ClipGradientsOnDevice(params_, norm, grad_clip);
  }
  void StepOnDevice(const torch::Tensor& lr, const torch::Tensor& skip) override {
    TORCH_CHECK(comm_.world_size() == 1, CanStepOnDevice().message());
    optimizer_->StepOnDevice(lr, skip);
  }

  std::string Describe() const override {
    return overlapped_ ? absl::StrCat("replicated, ", overlapped_->buckets().size(),
                                      " gradient buckets all-reduced during backward")
                       : "replicated";
  }

 private:
  static std::vector<torch::Tensor> Tensors(const NamedParameters& params) {
    std::vector<torch::Tensor> tensors;
    for (const auto& [name, p] : params) tensors.push_back(p);
    return tensors;
  }

  std::vector<torch::Tensor> params_;
  Communicator& comm_;
  GradientReducer reducer_;
  std::unique_ptr<OverlappedAllReduce> overlapped_;  // optim.overlap on more than one rank
  std::unique_ptr<Optimizer> optimizer_;
  GradientMemory gradient_bytes_;
};

}  // namespace

absl::Status ParameterUpdater::CanStepOnDevice() const {
  return absl::FailedPreconditionError(
      absl::StrCat("a step on the device needs the replicated updater (not optim.shard); this one is ", Describe()));
}

void ParameterUpdater::ZeroGradientsInPlace() { TORCH_CHECK(false, CanStepOnDevice().message()); }

torch::Tensor ParameterUpdater::GradNormOnDevice() {
  TORCH_CHECK(false, CanStepOnDevice().message());
  return torch::Tensor();
}

void ParameterUpdater::ClipGradientsOnDevice(const torch::Tensor& /*norm*/, double /*grad_clip*/) {
  TORCH_CHECK(false, CanStepOnDevice().message());
}

void ParameterUpdater::StepOnDevice(const torch::Tensor& /*lr*/, const torch::Tensor& /*skip*/) {
  TORCH_CHECK(false, CanStepOnDevice().message());
}

DeviceUpdate UpdateOnDevice(ParameterUpdater& updater, const torch::Tensor& lr, double grad_clip,
                            const torch::Tensor& nonfinite_losses) {
  torch::NoGradGuard no_grad;
  updater.AverageGradients();
  DeviceUpdate update;
  update.grad_norm = updater.GradNormOnDevice();
  const torch::Tensor bad = torch::logical_or(torch::logical_not(torch::isfinite(update.grad_norm)),
                                              nonfinite_losses.to(update.grad_norm.device()) > 0);
  update.skipped = bad.to(torch::kFloat);
  // Clipped even when skipped (no host decision): the update then reads none of them.
  if (grad_clip > 0) updater.ClipGradientsOnDevice(update.grad_norm, grad_clip);
  updater.StepOnDevice(lr, update.skipped);
  return update;
}

absl::StatusOr<std::unique_ptr<ParameterUpdater>> MakeParameterUpdater(const NamedParameters& params,
                                                                       const OptimSpec& spec, Communicator& comm) {
  if (spec.shard) return ShardedOptimizer::Create(params, spec, comm);
  return std::make_unique<ReplicatedUpdater>(params, spec, comm);
}

}  // namespace align::engine
