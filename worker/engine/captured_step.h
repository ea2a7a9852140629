#pragma once
// The training step as a CUDA graph can hold it (worker/engine/step_graph.h):
// every micro-batch's forward and backward, the gradient norm, clipping and
// the fused AdamW, all on the device, with the step's metrics packed into one
// tensor that is read after the step. The trainer's `cuda_graph: true` and
// align-bench's --cuda-graph take their steps here; on the CPU it runs
// eagerly, which is how tests hold it to the trainer's eager step.
//
// It computes what the eager step computes, with one difference a host
// decision would need: a micro-batch whose loss is not finite is
// back-propagated like the others (the step is still skipped and not
// counted, but its gradient norm is then not finite).

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/engine/parameter_updater.h"
#include "worker/engine/preference_step.h"
#include "worker/engine/step_graph.h"

namespace align::engine {

struct CapturedStepOptions {
  double grad_clip = 0;                // optim.grad_clip; 0: no clipping
  bool per_step_weight_casts = false;  // bf16_weight_casts: per_step (a bf16 step)
  int warmup_runs = 3;                 // eager steps before the capture (StepGraph)
};

// What the host reads after a step.
struct CapturedStepOutcome {
  std::vector<double> metric_sums;  // [kStepMetricCount], summed over the micro-batches
  int64_t nonfinite_losses = 0;     // micro-batches whose loss was not finite
  double grad_norm = 0;
  bool skipped = false;  // not stepped, not counted: a non-finite loss or norm
};

class CapturedStep {
 public:
  // FailedPrecondition, saying why, where `updater` cannot step on the
  // device (worker/engine/parameter_updater.h). `step` and `updater` must
  // outlive this object.
  static absl::StatusOr<std::unique_ptr<CapturedStep>> Create(PreferenceStep& step, ParameterUpdater& updater,
                                                              torch::Device device, CapturedStepOptions options);

  // One optimizer step over `batches` (one per micro-batch, `draws` alike)
  // at learning rate `lr`. The first call fixes the number of micro-batches
  // and every shape; a later call that differs is InvalidArgument and runs
  // nothing. A c10::Error of the step propagates.
  absl::StatusOr<CapturedStepOutcome> Run(const std::vector<PairTensors>& batches, const std::vector<NoiseDraws>& draws,
                                          double lr);

  bool captured() const { return graph_ && graph_->captured(); }
  int runs() const { return graph_ ? graph_->runs() : 0; }

 private:
  CapturedStep(PreferenceStep& step, ParameterUpdater& updater, torch::Device device, CapturedStepOptions options)
      : step_(step), updater_(updater), device_(device), options_(options) {}
  // The static copies of the first call's inputs, and the graph over them.
  void MakeGraph(const std::vector<PairTensors>& batches, const std::vector<NoiseDraws>& draws);
  // The step itself, reading the static inputs and writing `outcome_`.
  void StepOnDevice();

  PreferenceStep& step_;
  ParameterUpdater& updater_;
  torch::Device device_;
  CapturedStepOptions options_;
  std::vector<PairTensors> static_batches_;
  std::vector<NoiseDraws> static_draws_;
  torch::Tensor static_lr_;  // 0-dim fp32
  // fp64 [kStepMetricCount + 3]: the metric sums, then the non-finite
  // losses, the gradient norm and the skip flag.
  torch::Tensor outcome_;
  std::unique_ptr<StepGraph> graph_;
};

}  // namespace align::engine
