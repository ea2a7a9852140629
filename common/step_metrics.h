#pragma once
// One vocabulary for what a training step reports, from the trainer to
// metrics.jsonl, the Session stream, the coordinator's store and Prometheus,
// and alignctl's plots. A metric's name is written once, here; the structs are
// what the trainer fills, the name -> value maps what travels.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace align {

namespace metric_names {
inline constexpr char kStep[] = "step";
inline constexpr char kLoss[] = "loss";
inline constexpr char kImplicitAccuracy[] = "implicit_accuracy";
inline constexpr char kRewardMargin[] = "reward_margin";
inline constexpr char kLearningRate[] = "lr";
inline constexpr char kGradNorm[] = "grad_norm";
inline constexpr char kPairsPerSecond[] = "pairs_per_s";
inline constexpr char kStepSeconds[] = "step_s";
inline constexpr char kPolicyMseWinner[] = "policy_mse_w";
inline constexpr char kPolicyMseLoser[] = "policy_mse_l";
inline constexpr char kReferenceMseWinner[] = "reference_mse_w";
inline constexpr char kReferenceMseLoser[] = "reference_mse_l";
inline constexpr char kGpuMemoryBytes[] = "gpu_memory_bytes";
inline constexpr char kStage[] = "stage";
inline constexpr char kSkipped[] = "skipped";
// LoRA runs only: the adapters' global L2 norm after the step, and alpha / rank.
inline constexpr char kLoraNorm[] = "lora_norm";
inline constexpr char kLoraScale[] = "lora_scale";
inline constexpr char kHeldoutImplicitAccuracy[] = "heldout_implicit_accuracy";
inline constexpr char kHeldoutLoss[] = "heldout_loss";
inline constexpr char kHeldoutPairs[] = "heldout_pairs";
// Evaluation during training (evaluate_every). In metrics.jsonl, one record
// per evaluation: {"evaluation": {"prompts": P, "seeds": K, "rewards":
// {"<reward>": {"mean": m, "std": s}, ...}, "diversity": d, "seconds": t}, "step": N}
// (diversity null with K = 1).
inline constexpr char kEvaluation[] = "evaluation";
inline constexpr char kEvaluationPrompts[] = "prompts";
inline constexpr char kEvaluationSeeds[] = "seeds";
inline constexpr char kEvaluationRewards[] = "rewards";
inline constexpr char kEvaluationRewardMean[] = "mean";
inline constexpr char kEvaluationRewardStd[] = "std";
inline constexpr char kEvaluationDiversity[] = "diversity";
inline constexpr char kEvaluationSeconds[] = "seconds";
// The same figures as the flat name -> value map the workers report: a
// reward's mean and std under these prefixes followed by the reward's name
// ("train_eval_reward/pickscore"), the diversity under its own name.
inline constexpr char kTrainEvalRewardPrefix[] = "train_eval_reward/";
inline constexpr char kTrainEvalRewardStdPrefix[] = "train_eval_reward_std/";
inline constexpr char kTrainEvalDiversity[] = "train_eval_diversity";
}  // namespace metric_names

// One optimizer step's numbers, already averaged over ranks.
struct StepMetrics {
  int64_t step = 0;  // 1-based: the number of optimizer steps done after this one
  double loss = 0, implicit_accuracy = 0, reward_margin = 0;
  double policy_mse_w = 0, policy_mse_l = 0, reference_mse_w = 0, reference_mse_l = 0;
  double grad_norm = 0, lr = 0, pairs_per_s = 0, step_s = 0;
  int64_t gpu_memory_bytes = 0;
  int64_t stage = 0;
  bool skipped = false;  // non-finite loss or gradient: no update
  std::optional<double> lora_norm, lora_scale;  // LoRA runs only
};

// A held-out evaluation's numbers.
struct EvalMetrics {
  int64_t step = 0;
  double heldout_implicit_accuracy = 0;
  double heldout_loss = 0;
  int64_t heldout_pairs = 0;
};

// An evaluation during training: the policy's samples of a fixed prompt
// subset, scored (docs/evaluation.md, "During training").
struct TrainEvaluation {
  struct Reward {
    std::string name;  // common/reward_name.h's
    double mean = 0, std = 0;
  };
  int64_t step = 0;
  int64_t prompts = 0, seeds = 0;
  std::vector<Reward> rewards;  // in the spec's order
  std::optional<double> diversity;  // nullopt with one seed
  double seconds = 0;
};

// Every field but the step, by name (skipped: 0 or 1; the LoRA ones when set).
std::map<std::string, double> StepMetricValues(const StepMetrics& metrics);
std::map<std::string, double> EvalMetricValues(const EvalMetrics& metrics);
// The figures under the kTrainEval* names (no counts, no seconds).
std::map<std::string, double> TrainEvaluationValues(const TrainEvaluation& evaluation);

}  // namespace align
