#pragma once
// `gradient_checkpointing: auto` (docs/training.md): measure the policy's
// activations at the job's micro-batch shape, plan the cheapest set of
// recompute blocks whose estimated step memory fits the budget, and have the
// policy recompute those.

#include <cstdint>
#include <optional>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "common/dataset/manifest.h"
#include "common/gradient_checkpointing_spec.h"
#include "worker/engine/optimizer.h"
#include "worker/engine/recompute_plan.h"
#include "worker/models/unet_2d_condition.h"

namespace align::engine {

// The budget to plan against: memory_budget_gib when given; else on CUDA the
// device's total memory times kAutoBudgetFractionOfDevice; else (the CPU)
// none, and nothing is recomputed.
std::optional<int64_t> AutoCheckpointingBudgetBytes(const GradientCheckpointing& spec, torch::Device device);

// What a training step holds on the device besides activations: every
// parameter of `models` (the policy, the reference, ...), a gradient of each
// trainable parameter, and the optimizer state.
int64_t TrainingStateBytes(const std::vector<const torch::nn::Module*>& models, const NamedParameters& trainable,
                           int64_t optimizer_state_bytes);

struct AutoCheckpointingInputs {
  data::PairShape shape;    // of the training data
  int64_t samples = 0;      // images per policy forward of a micro-batch
  torch::Device device = torch::kCPU;
  bool bf16 = false;        // autocast, as the training forward
  int64_t fixed_bytes = 0;  // TrainingStateBytes
};

// Plans for `spec` (mode auto) and applies the plan to `policy`. nullopt when
// there is no budget (nothing recomputed); FailedPrecondition, with the
// estimate and the budget, when even full recomputation does not fit.
absl::StatusOr<std::optional<RecomputePlan>> ApplyAutoCheckpointing(models::UNet2DConditionModelImpl& policy,
                                                                    const GradientCheckpointing& spec,
                                                                    const AutoCheckpointingInputs& inputs);

}  // namespace align::engine
