#pragma once
// The computation shared by training, evaluation and benchmarking: a
// micro-batch of preference pairs, laid out [w_1..w_B, l_1..l_B], noised with
// one noise sample and timestep per pair, through the policy UNet (and the
// frozen reference), into per-sample denoising errors and the loss.

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "common/dataset/pair_batch.h"
#include "common/random.h"
#include "worker/engine/losses.h"
#include "worker/models/noise_schedule.h"
#include "worker/models/unet_2d_condition.h"

namespace align::engine {

// One micro-batch on the device, conditioning duplicated for both halves.
struct PairTensors {
  int64_t pairs = 0;
  torch::Tensor latents;  // [2B, C, H, W]: preferred then rejected
  torch::Tensor prompt_embeds, pooled, time_ids;
};

PairTensors ToDevice(const data::PairBatch& batch, torch::Device device);

struct NoiseDraws {
  torch::Tensor noise;      // [2B, C, H, W], the pair's two halves equal
  torch::Tensor timesteps;  // [2B]
};

// Draws keyed by (seed, stream, a, key_i) for each key: independent of batch
// layout and rank, reproducible on resume. Generated on the CPU so that CPU
// and GPU runs see the same numbers.
NoiseDraws DrawNoise(uint64_t seed, RandomStream stream, int64_t a, const std::vector<int64_t>& keys,
                     c10::IntArrayRef latent_shape, int64_t num_timesteps, torch::Device device);

// The entries of StepResult::metrics, in the order the trainer sums them.
enum StepMetric : int64_t {
  kStepLoss,
  kStepImplicitAccuracy,
  kStepRewardMargin,
  kStepPolicyW,
  kStepPolicyL,
  kStepReferenceW,
  kStepReferenceL,
  kStepMetricCount
};

struct StepResult {
  LossOutput out;
  double policy_w = 0, policy_l = 0, reference_w = 0, reference_l = 0;  // mean MSEs
  // Images the policy UNet ran on: 2B, or B when a training step's loss reads
  // the preferred half only (sft); policy_l is then 0 (not computed).
  int64_t policy_samples = 0;
  // [kStepMetricCount] fp64 on the device: the loss, out's two metrics and
  // the four mean MSEs above (0 where not computed), as the doubles hold them.
  torch::Tensor metrics;
};

class PreferenceStep {
 public:
  // `reference` may be empty (reference-free losses). `reference_is_base`:
  // the reference is the LoRA policy itself with its adapters switched off
  // (`reference: base`); `reference` is then ignored. The models, schedule and
  // loss must outlive this object.
  PreferenceStep(models::UNet2DConditionModel policy, models::UNet2DConditionModel reference,
                 const models::NoiseSchedule& schedule, const PreferenceLoss& loss, torch::Device device, bool bf16,
                 bool reference_is_base = false);

  // Forward through policy (with autograd when `train`) and reference (never);
  // the caller back-propagates result.out.loss. With a loss that does not read
  // the rejected half, a training forward runs the policy on the preferred
  // half only; evaluation runs both so held-out metrics stay comparable.
  StepResult Forward(const PairTensors& batch, const NoiseDraws& draws, bool train);
  // Forward without a host synchronisation (a captured CUDA graph reads its
  // metrics after replay): the doubles of the result (its out's too) are left
  // NaN, `metrics` holds them. Forward is this plus one read of `metrics`.
  StepResult ForwardOnDevice(const PairTensors& batch, const NoiseDraws& draws, bool train);

 private:
  models::UNet2DConditionModel policy_, reference_;
  const models::NoiseSchedule& schedule_;
  const PreferenceLoss& loss_;
  torch::Device device_;
  bool bf16_;
  bool reference_is_base_;
};

}  // namespace align::engine
