#include "worker/engine/auto_checkpointing.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/engine/activation_measurement.h"
#include "worker/engine/device_memory.h"

namespace align::engine {

std::optional<int64_t> AutoCheckpointingBudgetBytes(const GradientCheckpointing& spec, torch::Device device) {
  if (spec.memory_budget_gib) return static_cast<int64_t>(std::floor(*spec.memory_budget_gib * kBytesPerGiB));
  if (!device.is_cuda()) return std::nullopt;
  return static_cast<int64_t>(static_cast<double>(TotalDeviceMemoryBytes(device)) * kAutoBudgetFractionOfDevice);
}

int64_t TrainingStateBytes(const std::vector<const torch::nn::Module*>& models, const NamedParameters& trainable,
                           int64_t optimizer_state_bytes) {
  int64_t bytes = optimizer_state_bytes;
  for (const torch::nn::Module* model : models) {
    if (model == nullptr) continue;
    for (const torch::Tensor& p : model->parameters()) bytes += p.numel() * p.element_size();
  }
  for (const auto& [name, p] : trainable) bytes += p.numel() * p.element_size();
  return bytes;
}

absl::StatusOr<std::optional<RecomputePlan>> ApplyAutoCheckpointing(models::UNet2DConditionModelImpl& policy,
                                                                    const GradientCheckpointing& spec,
                                                                    const AutoCheckpointingInputs& inputs) {
  const std::optional<int64_t> budget = AutoCheckpointingBudgetBytes(spec, inputs.device);
  if (!budget) {
    policy.set_gradient_checkpointing(false);
    return std::optional<RecomputePlan>();
  }
  // A failure here (the measuring forward out of memory) is this rank's status, so that every rank
  // of the job hears of it rather than waiting for this one.
  absl::StatusOr<ActivationFigures> measured;
  try {
    measured = MeasureActivationsAt(policy, inputs.shape, inputs.samples, inputs.device, inputs.bf16);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(
        "gradient_checkpointing: auto: measuring the policy's activations (forwards of 1 and 2 samples, nothing "
        "recomputed) failed: ",
        e.what_without_backtrace()));
  }
  ASSIGN_OR_RETURN(ActivationFigures figures, std::move(measured));
  ASSIGN_OR_RETURN(RecomputePlan plan, PlanRecompute(figures, inputs.fixed_bytes, *budget));
  RETURN_IF_ERROR(policy.set_recomputed_blocks(std::set<std::string>(plan.recomputed.begin(), plan.recomputed.end())));
  return std::optional<RecomputePlan>(plan);
}

}  // namespace align::engine
