#pragma once
// Evaluation during training (JobSpec::evaluate_every, docs/evaluation.md
// "During training"): every evaluate_every steps and at the last, the policy
// being trained samples the first max_prompts prompts x seeds, each image is
// scored by the spec's rewards and embedded by a CLIP image tower, and the
// figures (each reward's mean and std, the diversity) come from
// common/evaluation's ComputeFigures, the formulas of evaluate jobs.
//
// Paired across steps: sample (p, k) has sample id p x seeds + k and every
// evaluation of a run draws its noise from the same key (the job's seed and
// a stream of its own), so two evaluations differ by the weights alone. The
// draws are keyed, not taken from torch's generators, and those generators'
// states are restored after each evaluation: a run trains to the same
// weights with evaluations as without.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/step_metrics.h"
#include "worker/engine/communicator.h"
#include "worker/models/unet_2d_condition.h"

namespace align::engine {

// Keys the evaluation's sampling noise (with the job's seed).
inline constexpr uint64_t kPolicyEvaluationStream = 0x7472657661;  // "treva"

class PolicyEvaluator {
 public:
  // Reads the prompt file (its first max_prompts prompts); the pipeline,
  // rewards and embedder are loaded on `device` at the first evaluation.
  // `bf16`: sample under the bf16 autocast the training forward uses.
  static absl::StatusOr<std::unique_ptr<PolicyEvaluator>> Create(const JobSpec& spec, torch::Device device, bool bf16);
  ~PolicyEvaluator();

  // Whether the evaluation runs after `step` (1-based: steps done).
  bool Due(int64_t step) const;
  // Collective (every rank, same step). Samples `policy` in eval mode without
  // gradients (LoRA adapters on), its training mode restored after; rank r
  // samples the prompts p with p % world_size == r, and every rank gets every
  // figure. A failure on any rank fails it on every rank.
  absl::StatusOr<TrainEvaluation> Evaluate(int64_t step, models::UNet2DConditionModel policy, Communicator& comm);

  const std::vector<std::string>& prompts() const { return prompts_; }

 private:
  struct Loaded;
  PolicyEvaluator(JobSpec spec, torch::Device device, bool bf16, std::vector<std::string> prompts);
  absl::Status LoadFor(models::UNet2DConditionModel policy);
  // This rank's images: scores [P x K, rewards] and embeddings [P x K, dim]
  // in its rows, zeros elsewhere.
  absl::Status SampleMine(int rank, int world_size, torch::Tensor& scores, torch::Tensor& embeddings);

  const JobSpec spec_;
  const torch::Device device_;
  const bool bf16_;
  const std::vector<std::string> prompts_;
  std::unique_ptr<Loaded> loaded_;
};

}  // namespace align::engine
