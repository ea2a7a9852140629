#include "worker/engine/parameter_updater.h"

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "worker/engine/grad_norm.h"
#include "worker/engine/sharded_optimizer.h"

namespace align::engine {
namespace {

class ReplicatedUpdater : public ParameterUpdater {
 public:
  ReplicatedUpdater(const NamedParameters& params, const OptimSpec& spec, Communicator& comm)
      : params_(Tensors(params)), reducer_(comm, params_), optimizer_(MakeOptimizer(params, spec)) {}

  void ZeroGradients() override {
    for (auto& p : params_) p.mutable_grad() = torch::Tensor();
  }
  void AverageGradients() override { reducer_.AverageGradients(); }
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
  std::string Describe() const override { return "replicated"; }

 private:
  static std::vector<torch::Tensor> Tensors(const NamedParameters& params) {
    std::vector<torch::Tensor> tensors;
    for (const auto& [name, p] : params) tensors.push_back(p);
    return tensors;
  }

  std::vector<torch::Tensor> params_;
  GradientReducer reducer_;
  std::unique_ptr<Optimizer> optimizer_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ParameterUpdater>> MakeParameterUpdater(const NamedParameters& params,
                                                                       const OptimSpec& spec, Communicator& comm) {
  if (spec.shard) return ShardedOptimizer::Create(params, spec, comm);
  return std::make_unique<ReplicatedUpdater>(params, spec, comm);
}

}  // namespace align::engine
