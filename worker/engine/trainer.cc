#include "worker/engine/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/empty_prompt.h"
#include "common/dataset/latent_draws.h"
#include "common/dataset/prefetch.h"
#include "common/dataset/reader.h"
#include "common/diffusers/dataset_fit.h"
#include "common/diffusers/model_folder.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "worker/engine/training_checkpoint.h"
#include "worker/engine/auto_checkpointing.h"
#include "worker/engine/captured_step.h"
#include "worker/engine/device_memory.h"
#include "worker/engine/local_rank.h"
#include "worker/engine/losses.h"
#include "worker/engine/lr_schedule.h"
#include "worker/engine/metrics_log.h"
#include "worker/engine/parameter_updater.h"
#include "worker/engine/policy_evaluator.h"
#include "worker/engine/preference_step.h"
#include "worker/engine/rank_agreement.h"
#include "worker/models/autocast.h"
#include "worker/models/fp32_precision.h"
#include "worker/models/fused_geglu.h"
#include "worker/models/lora.h"
#include "worker/models/lora_io.h"
#include "worker/models/noise_schedule.h"
#include "worker/models/unet_io.h"

namespace align::engine {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Keys torch's generator for adapter dropout (common/random.h's streams are the project's own draws).
constexpr uint64_t kLoraDropoutStream = 0x10ad;

class TrainerImpl : public Trainer {
 public:
  TrainerImpl(const JobSpec& spec, Communicator& comm, std::unique_ptr<PlanSource> plan, TrainerHooks hooks,
              RunIdentity identity)
      : spec_(spec),
        comm_(comm),
        plan_(std::move(plan)),
        hooks_(std::move(hooks)),
        identity_(std::move(identity)),
        device_(torch::kCPU) {}

  absl::Status Init();
  absl::Status Run() override;
  int64_t start_step() const override { return start_step_; }

 private:
  // One micro-batch of this step, on the device, with its noise.
  struct MicroBatch {
    PairTensors tensors;
    NoiseDraws draws;
  };
  // What a step's micro-batches add up to over every rank, and how it ended.
  struct StepSums {
    std::vector<double> metrics;  // [kStepMetricCount], StepMetric order
    double grad_norm = 0;
    bool skipped = false;
  };
  absl::StatusOr<StepMetrics> TrainStep(int64_t step);
  absl::StatusOr<MicroBatch> NextMicroBatch(int64_t step);
  // The step as the trainer takes it by default: a micro-batch with a
  // non-finite loss is not back-propagated, and the step is skipped.
  absl::StatusOr<StepSums> EagerStep(int64_t step, double lr);
  // cuda_graph: the same step with no host synchronisation (captured_step.h),
  // on one rank: its sums are already every rank's.
  absl::StatusOr<StepSums> CapturedTrainStep(int64_t step, double lr);
  absl::StatusOr<EvalMetrics> Evaluate(int64_t step);
  absl::Status EvaluateFinalStepIfMissing();
  // Evaluation during training (evaluate_every): rank 0 logs it; `report`: the hook hears of it.
  absl::Status EvaluatePolicy(int64_t step, bool report);
  absl::Status EvaluatePolicyAtResumeIfMissing();
  absl::Status Checkpoint(int64_t step);
  absl::Status Resume();
  void EnqueuePrefetch(int64_t step);

  JobSpec spec_;
  Communicator& comm_;
  std::unique_ptr<PlanSource> plan_;
  TrainerHooks hooks_;
  RunIdentity identity_;
  torch::Device device_;
  bool bf16_ = false;
  models::UNet2DConditionModel policy_{nullptr}, reference_{nullptr};
  std::unique_ptr<models::NoiseSchedule> schedule_;
  std::unique_ptr<PreferenceLoss> loss_;
  std::unique_ptr<PreferenceStep> step_;
  std::unique_ptr<ParameterUpdater> updater_;  // gradients and optimizer, replicated or sharded
  std::unique_ptr<CapturedStep> captured_step_;  // with cuda_graph
  std::shared_ptr<const data::PairReader> train_data_, heldout_data_;
  std::optional<data::EmptyPrompt> empty_prompt_;  // with data.prompt_dropout > 0
  std::unique_ptr<data::PrefetchingReader> prefetch_;
  std::vector<plan::MicroBatchPlan> pending_plans_;  // in prefetch order
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<PolicyEvaluator> evaluator_;  // with evaluate_every
  int64_t start_step_ = 0;
  int64_t prefetched_until_ = 0;
};

absl::Status TrainerImpl::Init() {
  if (spec_.device == "cuda" || (spec_.device == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) return absl::FailedPreconditionError("device: cuda requested but not available");
    device_ = torch::Device(torch::kCUDA, static_cast<int>(LocalRank() % torch::cuda::device_count()));
    models::SetCudaTf32(spec_.allow_tf32);
  }
  bf16_ = spec_.precision == Precision::kBf16;

  const diffusers::ModelFolder model(spec_.model);
  ASSIGN_OR_RETURN(diffusers::SchedulerConfig sched, diffusers::LoadSchedulerConfig(model.SchedulerConfigPath()));
  schedule_ = std::make_unique<models::NoiseSchedule>(sched);
  ASSIGN_OR_RETURN(loss_, MakeLoss(spec_.loss, sched.num_train_timesteps));

  auto fp32 = torch::TensorOptions().dtype(torch::kFloat).device(device_);
  if (spec_.lora) {
    // The base weights are frozen: in the compute precision (bf16 halves
    // their memory); the adapters are fp32 master weights.
    auto base_options = torch::TensorOptions().dtype(bf16_ ? torch::kBFloat16 : torch::kFloat).device(device_);
    ASSIGN_OR_RETURN(policy_, models::LoadUNet(model.Dir(diffusers::Component::kUNet), base_options));
    for (auto& p : policy_->parameters()) p.set_requires_grad(false);
    const models::LoraConfig config{spec_.lora->rank, spec_.lora->alpha, spec_.lora->dropout};
    absl::StatusOr<std::vector<std::string>> adapted =
        models::InjectLora(*policy_, spec_.lora->targets, config, spec_.seed);
    if (!adapted.ok()) return absl::InvalidArgumentError(absl::StrCat("lora.targets: ", adapted.status().message()));
  } else {
    ASSIGN_OR_RETURN(policy_, models::LoadUNet(model.Dir(diffusers::Component::kUNet), fp32));
  }
  policy_->train();
  policy_->set_gradient_checkpointing(spec_.gradient_checkpointing.mode == GradientCheckpointingMode::kFull);
  const bool reference_is_base = spec_.reference == ReferenceKind::kBase;
  if (loss_->needs_reference() && reference_is_base && !spec_.lora) {
    return absl::InvalidArgumentError("reference: base needs a lora section (the base is the policy's adapters off)");
  }
  if (loss_->needs_reference() && !reference_is_base) {
    // The frozen reference runs in the compute precision: bf16 halves its memory.
    auto ref_options = torch::TensorOptions().dtype(bf16_ ? torch::kBFloat16 : torch::kFloat).device(device_);
    ASSIGN_OR_RETURN(reference_, models::LoadUNet(model.Dir(diffusers::Component::kUNet), ref_options));
    reference_->eval();
    for (auto& p : reference_->parameters()) p.set_requires_grad(false);
    reference_->set_channels_last(spec_.channels_last);
    reference_->set_fused_geglu(spec_.fused_geglu);
  }
  // After the adapters exist and before the optimizer takes the parameters:
  // their optimizer state follows their layout.
  policy_->set_channels_last(spec_.channels_last);
  policy_->set_fused_geglu(spec_.fused_geglu);
  if (spec_.fused_geglu && device_.is_cuda() && !models::FusedGegluHasCudaKernels() && comm_.rank() == 0) {
    // Not an error: the unfused ops compute the same; the log says why it is not faster.
    std::cerr << "align-worker: fused_geglu: this build has no CUDA kernels (no nvcc at configure time); "
                 "GEGLU runs unfused\n";
  }

  ASSIGN_OR_RETURN(std::unique_ptr<data::PairReader> train, data::PairReader::Open(spec_.dataset, "train"));
  train_data_ = std::move(train);
  absl::StatusOr<std::unique_ptr<data::PairReader>> heldout = data::PairReader::Open(spec_.dataset, "heldout");
  if (heldout.ok()) heldout_data_ = std::move(*heldout);

  const absl::Status fits = diffusers::CheckPairShapeFitsUNet(train_data_->shape(), policy_->config());
  if (!fits.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset ", spec_.dataset, " does not fit model ", spec_.model, ": ", fits.message()));
  }

  if (spec_.data.prompt_dropout > 0) {
    ASSIGN_OR_RETURN(empty_prompt_, data::EmptyPrompt::Load(spec_.dataset, train_data_->shape()));
  }

  step_ = std::make_unique<PreferenceStep>(policy_, reference_, *schedule_, *loss_, device_, bf16_,
                                           loss_->needs_reference() && reference_is_base);

  // What trains: every weight, or only the adapters (the base is frozen).
  NamedParameters named;
  if (spec_.lora) {
    for (auto& [name, p] : models::LoraParameters(*policy_)) named.emplace_back(name, p);
  } else {
    for (auto& item : policy_->named_parameters()) named.emplace_back(item.key(), item.value());
  }
  ASSIGN_OR_RETURN(updater_, MakeParameterUpdater(named, spec_.optim, comm_));
  // One write: the ranks share the terminal, and pieces written apart interleave.
  std::cerr << absl::StrCat("align-worker: rank ", comm_.rank(), ": optimizer state ", updater_->StateBytes(),
                            " bytes, ", updater_->Describe(), "\n");
  if (spec_.gradient_checkpointing.mode == GradientCheckpointingMode::kAuto) {
    // Planned once the optimizer state's size is known; every rank fails alike when nothing fits.
    const int64_t samples = (loss_->needs_rejected() ? 2 : 1) * spec_.batch.pairs_per_rank;
    const AutoCheckpointingInputs inputs{train_data_->shape(), samples, device_, bf16_,
                                         TrainingStateBytes({policy_.get(), reference_ ? reference_.get() : nullptr},
                                                            named, updater_->StateBytes())};
    absl::StatusOr<std::optional<RecomputePlan>> recompute =
        ApplyAutoCheckpointing(*policy_, spec_.gradient_checkpointing, inputs);
    RETURN_IF_ERROR(AgreeOnFailure(comm_, recompute.status()));
    std::cerr << "align-worker: rank " << comm_.rank() << ": gradient_checkpointing auto: "
              << (*recompute ? DescribeRecomputePlan(**recompute, policy_->recompute_block_names().size())
                             : "no memory budget on the CPU, nothing recomputed")
              << "\n";
  }

  if (spec_.cuda_graph) {
    const CapturedStepOptions options{spec_.optim.grad_clip,
                                      bf16_ && spec_.bf16_weight_casts == WeightCasts::kPerStep};
    absl::StatusOr<std::unique_ptr<CapturedStep>> captured =
        CapturedStep::Create(*step_, *updater_, device_, options);
    if (!captured.ok()) return absl::InvalidArgumentError(absl::StrCat("cuda_graph: ", captured.status().message()));
    captured_step_ = std::move(*captured);
    if (!device_.is_cuda() && comm_.rank() == 0) {
      std::cerr << "align-worker: cuda_graph: on the CPU the graph-safe step runs eagerly (nothing to capture)\n";
    }
  }

  if (!plan_) {
    // The coordinator's planner, run locally (curriculum stages included).
    ASSIGN_OR_RETURN(std::unique_ptr<plan::StepPlanner> planner,
                     plan::MakeStepPlanner(spec_, spec_.dataset, comm_.world_size()));
    plan_ = std::make_unique<LocalPlanSource>(std::move(planner), comm_.rank());
  }
  prefetch_ = std::make_unique<data::PrefetchingReader>(train_data_, static_cast<size_t>(2 * spec_.batch.grad_accum));

  if (spec_.evaluate_every > 0) {
    ASSIGN_OR_RETURN(evaluator_, PolicyEvaluator::Create(spec_, device_, bf16_));
  }

  std::error_code ec;
  fs::create_directories(spec_.output, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("output: cannot create ", spec_.output, ": ", ec.message()));
  return Resume();
}

absl::Status TrainerImpl::Resume() {
  std::optional<TrainingCheckpoint> latest = TrainingCheckpoint::FindLatest(spec_.output);
  if (latest) {
    RETURN_IF_ERROR(latest->CheckMayResume(identity_.job_id, spec_.resume));
    if (spec_.lora) {
      ASSIGN_OR_RETURN(models::LoraWeights adapters, models::ReadLoraWeights(latest->dir()));
      RETURN_IF_ERROR(models::LoadLoraWeights(*policy_, adapters));
    } else {
      RETURN_IF_ERROR(latest->LoadUNetWeights(policy_));
    }
    ASSIGN_OR_RETURN(auto state, latest->ReadOptimizerState());
    RETURN_IF_ERROR(updater_->LoadState(state));
    start_step_ = latest->step();
  }
  if (comm_.rank() == 0) {
    ASSIGN_OR_RETURN(metrics_, MetricsLog::Open(spec_.output + "/metrics.jsonl", start_step_));
  }
  return absl::OkStatus();
}

void TrainerImpl::EnqueuePrefetch(int64_t step) {
  // Requests for whole steps, in order; Next() hands them back in that order.
  for (; prefetched_until_ <= step && prefetched_until_ < spec_.steps; ++prefetched_until_) {
    for (int64_t micro = 0; micro < spec_.batch.grad_accum; ++micro) {
      absl::StatusOr<plan::MicroBatchPlan> mb = plan_->MicroBatch(prefetched_until_, micro);
      if (!mb.ok()) return;  // reported when the step asks for it
      prefetch_->Enqueue(mb->pairs);
      pending_plans_.push_back(*mb);
    }
  }
}

absl::StatusOr<TrainerImpl::MicroBatch> TrainerImpl::NextMicroBatch(int64_t step) {
  if (pending_plans_.empty()) return absl::InternalError("no plan for this step (plan source failed)");
  plan::MicroBatchPlan mb = pending_plans_.front();
  pending_plans_.erase(pending_plans_.begin());
  // A bad pair on one rank fails the job on every rank, before the next collective.
  absl::StatusOr<data::PairBatch> batch = prefetch_->Next();
  RETURN_IF_ERROR(AgreeOnFailure(comm_, batch.status()));
  if (empty_prompt_) empty_prompt_->ApplyDropout(*batch, spec_.seed, step, spec_.data.prompt_dropout);
  data::DrawLatents(*batch, spec_.seed, step);  // per-step flips and VAE samples, when the dataset has them
  MicroBatch micro;
  micro.tensors = ToDevice(*batch, device_);
  micro.draws = DrawNoise(spec_.seed, RandomStream::kNoise, step, mb.positions, micro.tensors.latents.sizes().slice(1),
                          schedule_->num_train_timesteps(), device_);
  return micro;
}

absl::StatusOr<TrainerImpl::StepSums> TrainerImpl::EagerStep(int64_t step, double lr) {
  updater_->ZeroGradients();
  StepSums sums;
  sums.metrics.assign(kStepMetricCount, 0.0);
  double nonfinite_losses = 0;  // micro-batches whose loss was not finite
  const int64_t accum = spec_.batch.grad_accum;
  // Ends with the backward passes, before the optimizer changes the weights.
  std::optional<models::WeightCastCache> weight_casts;
  if (bf16_ && spec_.bf16_weight_casts == WeightCasts::kPerStep) weight_casts.emplace();
  for (int64_t micro = 0; micro < accum; ++micro) {
    ASSIGN_OR_RETURN(MicroBatch mb, NextMicroBatch(step));
    StepResult r = step_->Forward(mb.tensors, mb.draws, /*train=*/true);
    const double loss_value = r.out.loss.item<double>();
    if (micro == accum - 1) updater_->BeforeLastBackward();
    if (std::isfinite(loss_value)) {
      (r.out.loss / static_cast<double>(accum)).backward();
    } else {
      nonfinite_losses += 1;
    }
    const double values[kStepMetricCount] = {loss_value,    r.out.implicit_accuracy, r.out.reward_margin, r.policy_w,
                                             r.policy_l,    r.reference_w,           r.reference_l};
    for (int64_t i = 0; i < kStepMetricCount; ++i) sums.metrics[i] += values[i];
  }
  weight_casts.reset();
  updater_->AverageGradients();
  // Summed over ranks before the skip decision, so that every rank decides alike.
  std::vector<double> local = sums.metrics;
  local.push_back(nonfinite_losses);
  torch::Tensor packed = torch::tensor(local, torch::kDouble);
  comm_.AllReduceSum(packed);
  for (int64_t i = 0; i < kStepMetricCount; ++i) sums.metrics[i] = packed[i].item<double>();
  sums.grad_norm = updater_->GradNorm();
  sums.skipped = packed[kStepMetricCount].item<double>() > 0 || !std::isfinite(sums.grad_norm);
  if (!sums.skipped) {
    if (spec_.optim.grad_clip > 0 && sums.grad_norm > spec_.optim.grad_clip) {
      updater_->ScaleGradients(spec_.optim.grad_clip / (sums.grad_norm + 1e-6));
    }
    updater_->Step(lr);
  }
  return sums;
}

absl::StatusOr<TrainerImpl::StepSums> TrainerImpl::CapturedTrainStep(int64_t step, double lr) {
  std::vector<PairTensors> tensors;
  std::vector<NoiseDraws> draws;
  for (int64_t micro = 0; micro < spec_.batch.grad_accum; ++micro) {
    ASSIGN_OR_RETURN(MicroBatch mb, NextMicroBatch(step));
    tensors.push_back(std::move(mb.tensors));
    draws.push_back(std::move(mb.draws));
  }
  ASSIGN_OR_RETURN(CapturedStepOutcome outcome, captured_step_->Run(tensors, draws, lr));
  StepSums sums;
  sums.metrics = std::move(outcome.metric_sums);
  sums.grad_norm = outcome.grad_norm;
  sums.skipped = outcome.skipped;
  return sums;
}

absl::StatusOr<StepMetrics> TrainerImpl::TrainStep(int64_t step) {
  const auto start = Clock::now();
  EnqueuePrefetch(step + 1);
  if (spec_.lora && spec_.lora->dropout > 0) {
    // Adapter dropout draws from torch's generator: keyed by step and rank so
    // that a resumed run drops what the uninterrupted one would have.
    torch::manual_seed(DeriveSeed(spec_.seed, {kLoraDropoutStream, static_cast<uint64_t>(step),
                                               static_cast<uint64_t>(comm_.rank())}));
  }
  StepMetrics m;
  m.step = step + 1;
  m.lr = LearningRate(spec_.optim, step, spec_.steps);
  m.stage = plan_->StageOf(step);
  ASSIGN_OR_RETURN(StepSums sums, captured_step_ ? CapturedTrainStep(step, m.lr) : EagerStep(step, m.lr));

  // Means over every micro-batch of every rank.
  const double denom = static_cast<double>(spec_.batch.grad_accum * comm_.world_size());
  const auto mean = [&](StepMetric metric) { return sums.metrics[metric] / denom; };
  m.grad_norm = sums.grad_norm;
  m.skipped = sums.skipped;
  m.loss = mean(kStepLoss);
  m.implicit_accuracy = mean(kStepImplicitAccuracy);
  m.reward_margin = mean(kStepRewardMargin);
  m.policy_mse_w = mean(kStepPolicyW);
  m.policy_mse_l = mean(kStepPolicyL);
  m.reference_mse_w = mean(kStepReferenceW);
  m.reference_mse_l = mean(kStepReferenceL);
  if (spec_.lora) {
    m.lora_norm = models::LoraNorm(*policy_);
    m.lora_scale = spec_.lora->alpha / static_cast<double>(spec_.lora->rank);
  }
  SynchronizeDevice(device_);
  m.step_s = std::chrono::duration<double>(Clock::now() - start).count();
  m.pairs_per_s =
      static_cast<double>(spec_.batch.pairs_per_rank * spec_.batch.grad_accum * comm_.world_size()) / m.step_s;
  m.gpu_memory_bytes = PeakDeviceMemoryBytes(device_);
  return m;
}

absl::StatusOr<EvalMetrics> TrainerImpl::Evaluate(int64_t step) {
  EvalMetrics e;
  e.step = step;
  if (!heldout_data_) return e;
  policy_->eval();
  double correct = 0, loss_sum = 0, count = 0;
  const int64_t n = heldout_data_->num_pairs();
  const int64_t per_batch = spec_.batch.pairs_per_rank;
  std::vector<int64_t> mine;
  for (int64_t i = comm_.rank(); i < n; i += comm_.world_size()) mine.push_back(i);
  absl::Status read = absl::OkStatus();
  for (size_t begin = 0; begin < mine.size(); begin += per_batch) {
    std::vector<int64_t> ids(mine.begin() + begin, mine.begin() + std::min(mine.size(), begin + per_batch));
    absl::StatusOr<data::PairBatch> batch = heldout_data_->Read(ids);
    if (!batch.ok()) {
      read = batch.status();
      break;
    }
    PairTensors tensors = ToDevice(*batch, device_);
    // Fixed draws per held-out pair: evaluations at different steps compare like with like.
    NoiseDraws draws = DrawNoise(spec_.seed, RandomStream::kEval, 0, ids, tensors.latents.sizes().slice(1),
                            schedule_->num_train_timesteps(), device_);
    StepResult r = step_->Forward(tensors, draws, /*train=*/false);
    torch::Tensor z = r.out.logits.to(torch::kDouble).cpu();
    correct += (z > 0).to(torch::kDouble).sum().item<double>() + 0.5 * (z == 0).to(torch::kDouble).sum().item<double>();
    loss_sum += r.out.loss.item<double>() * static_cast<double>(ids.size());
    count += static_cast<double>(ids.size());
  }
  policy_->train();
  RETURN_IF_ERROR(AgreeOnFailure(comm_, read));
  torch::Tensor packed = torch::tensor({correct, loss_sum, count}, torch::kDouble);
  comm_.AllReduceSum(packed);
  e.heldout_pairs = static_cast<int64_t>(packed[2].item<double>());
  if (e.heldout_pairs > 0) {
    e.heldout_implicit_accuracy = packed[0].item<double>() / packed[2].item<double>();
    e.heldout_loss = packed[1].item<double>() / packed[2].item<double>();
  }
  return e;
}

absl::Status TrainerImpl::EvaluateFinalStepIfMissing() {
  // Resumed at the final checkpoint: an earlier attempt trained every step,
  // but a group that lost the job may have written that checkpoint while the
  // attempt holding the job died before its final evaluation. Rank 0's log
  // says whether it ran; every rank takes part in the evaluation. No hook is
  // called: the runner reports the final step's lines from the log.
  double missing = 0;
  if (comm_.rank() == 0) {
    absl::StatusOr<LoggedStep> logged = MetricsLog::ReadStep(spec_.output + "/metrics.jsonl", start_step_);
    missing = logged.ok() && logged->eval.has_value() ? 0.0 : 1.0;
  }
  torch::Tensor agreed = torch::tensor({missing}, torch::kDouble);
  comm_.AllReduceSum(agreed);
  if (agreed.item<double>() == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(EvalMetrics e, Evaluate(start_step_));
  if (metrics_) RETURN_IF_ERROR(metrics_->WriteEval(e));
  return absl::OkStatus();
}

absl::Status TrainerImpl::EvaluatePolicy(int64_t step, bool report) {
  ASSIGN_OR_RETURN(TrainEvaluation e, evaluator_->Evaluate(step, policy_, comm_));
  if (metrics_) RETURN_IF_ERROR(metrics_->WriteTrainEvaluation(e));
  if (report && hooks_.on_evaluation) hooks_.on_evaluation(e);
  return absl::OkStatus();
}

absl::Status TrainerImpl::EvaluatePolicyAtResumeIfMissing() {
  // The checkpoint this run resumed from comes after its step's evaluation,
  // so the log normally has it and it is not run again; it lacks it only when
  // a stale attempt wrote the checkpoint (see EvaluateFinalStepIfMissing).
  // At the final step, as there, the runner reports it from the log.
  if (!evaluator_ || start_step_ == 0 || !evaluator_->Due(start_step_)) return absl::OkStatus();
  double missing = 0;
  if (comm_.rank() == 0) {
    absl::StatusOr<LoggedStep> logged = MetricsLog::ReadStep(spec_.output + "/metrics.jsonl", start_step_);
    missing = logged.ok() && logged->evaluation.has_value() ? 0.0 : 1.0;
  }
  torch::Tensor agreed = torch::tensor({missing}, torch::kDouble);
  comm_.AllReduceSum(agreed);
  if (agreed.item<double>() == 0) return absl::OkStatus();
  return EvaluatePolicy(start_step_, /*report=*/start_step_ != spec_.steps);
}

absl::Status TrainerImpl::Checkpoint(int64_t step) {
  // On every rank: a sharded optimizer gathers its state for the writer.
  const std::map<std::string, torch::Tensor> optimizer_state = updater_->State();
  absl::Status status = absl::OkStatus();
  if (comm_.rank() == 0) {
    nlohmann::json state = {{"step", step}, {"seed", spec_.seed}, {"world_size", comm_.world_size()},
                            {"job", spec_.name}, {"loss", LossTypeName(spec_.loss.type)}};
    if (!identity_.job_id.empty()) {
      state["job_id"] = identity_.job_id;
      state["attempt"] = identity_.attempt;
    }
    if (spec_.lora) {
      state["lora"] = {{"rank", spec_.lora->rank}, {"alpha", spec_.lora->alpha}, {"targets", spec_.lora->targets}};
      const bool merged = spec_.lora->save_merged;
      const TrainingCheckpoint::ModelWriter write_adapters = [this, merged](const std::string& dir) -> absl::Status {
        RETURN_IF_ERROR(models::SaveLoraWeights(*policy_, spec_.lora->targets, dir));
        if (!merged) return absl::OkStatus();
        return models::SaveMergedUNet(policy_, (fs::path(dir) / std::string(diffusers::ComponentName(diffusers::Component::kUNet))).string());
      };
      status = TrainingCheckpoint::WriteWith(spec_.output, step, write_adapters, optimizer_state, state);
    } else {
      status = TrainingCheckpoint::Write(spec_.output, step, policy_, optimizer_state, state);
    }
  }
  // Every rank learns whether the checkpoint landed before anyone goes on:
  // 0 it did, 1 it failed, 2 another attempt of the job wrote this step first.
  const double outcome = status.ok() ? 0.0 : absl::IsFailedPrecondition(status) ? 2.0 : 1.0;
  torch::Tensor landed = torch::tensor({outcome}, torch::kDouble);
  comm_.AllReduceSum(landed);
  if (landed.item<double>() == 2.0) {
    // Either attempt may be the stale one: a group that lost the job and went
    // on can reach this step before the attempt that holds the job now. Both
    // stop here, on every rank; if this one holds the job, the coordinator
    // requeues it and the next attempt resumes from the checkpoint on disk.
    const std::string why = status.ok() ? absl::StrCat("checkpoint-", step, " was written by another attempt of this job")
                                        : std::string(status.message());
    return absl::CancelledError(absl::StrCat("stopped at step ", step, ": ", why));
  }
  if (landed.item<double>() > 0 && status.ok()) return absl::InternalError("rank 0 failed to write a checkpoint");
  if (status.ok() && hooks_.on_checkpoint) hooks_.on_checkpoint(step, TrainingCheckpoint::Dir(spec_.output, step));
  return status;
}

absl::Status TrainerImpl::Run() {
  RETURN_IF_ERROR(EvaluatePolicyAtResumeIfMissing());
  if (start_step_ > 0 && start_step_ == spec_.steps) return EvaluateFinalStepIfMissing();
  int64_t consecutive_bad = 0;
  if (start_step_ == 0 && spec_.eval_every > 0) {
    ASSIGN_OR_RETURN(EvalMetrics e, Evaluate(0));
    if (metrics_) RETURN_IF_ERROR(metrics_->WriteEval(e));
    if (hooks_.on_eval) hooks_.on_eval(e);
  }
  prefetched_until_ = start_step_;
  for (int64_t step = start_step_; step < spec_.steps; ++step) {
    if (hooks_.should_stop) {
      // Every rank stops at the same step boundary if any rank was asked to.
      torch::Tensor stop = torch::tensor({hooks_.should_stop() ? 1.0 : 0.0}, torch::kDouble);
      comm_.AllReduceSum(stop);
      if (stop.item<double>() > 0) return absl::CancelledError(absl::StrCat("stopped after step ", step));
    }
    ASSIGN_OR_RETURN(StepMetrics m, TrainStep(step));
    consecutive_bad = m.skipped ? consecutive_bad + 1 : 0;
    if (metrics_) RETURN_IF_ERROR(metrics_->WriteStep(m));
    if (hooks_.on_step) hooks_.on_step(m);
    if (consecutive_bad >= spec_.max_bad_steps) {
      return absl::AbortedError(absl::StrCat(consecutive_bad, " consecutive steps with non-finite loss or gradients (",
                                             "last at step ", m.step, "); max_bad_steps is ", spec_.max_bad_steps));
    }
    const bool last = m.step == spec_.steps;
    if ((spec_.eval_every > 0 && m.step % spec_.eval_every == 0) || last) {
      ASSIGN_OR_RETURN(EvalMetrics e, Evaluate(m.step));
      if (metrics_) RETURN_IF_ERROR(metrics_->WriteEval(e));
      if (hooks_.on_eval) hooks_.on_eval(e);
    }
    if (evaluator_ && evaluator_->Due(m.step)) RETURN_IF_ERROR(EvaluatePolicy(m.step, /*report=*/true));
    if ((spec_.checkpoint_every > 0 && m.step % spec_.checkpoint_every == 0) || last) {
      RETURN_IF_ERROR(Checkpoint(m.step));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Trainer>> CreateTrainer(const JobSpec& spec, Communicator& comm,
                                                       std::unique_ptr<PlanSource> plan, TrainerHooks hooks,
                                                       RunIdentity identity) {
  auto trainer = std::make_unique<TrainerImpl>(spec, comm, std::move(plan), std::move(hooks), std::move(identity));
  try {
    RETURN_IF_ERROR(trainer->Init());
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("setting up the trainer failed: ", e.what_without_backtrace()));
  }
  return trainer;
}

}  // namespace align::engine
