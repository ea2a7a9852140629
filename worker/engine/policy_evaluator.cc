#include "worker/engine/policy_evaluator.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/curriculum/prompt_list.h"
#include "common/evaluation/evaluation_metrics.h"
#include "common/random.h"
#include "common/reward_name.h"
#include "common/status_macros.h"
#include "worker/engine/rank_agreement.h"
#include "worker/models/autocast.h"
#include "worker/models/lora.h"
#include "worker/reward/clip_image_embedder.h"
#include "worker/reward/reward_model.h"
#include "worker/sampling/image_pipeline.h"

namespace align::engine {
namespace {

// The policy in eval mode for a scope, back in training mode after, whatever happens.
class EvalModeScope {
 public:
  explicit EvalModeScope(models::UNet2DConditionModel policy) : policy_(std::move(policy)), was_training_(policy_->is_training()) {
    policy_->eval();
  }
  ~EvalModeScope() { policy_->train(was_training_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  models::UNet2DConditionModel policy_;
  bool was_training_;
};

// torch's default generators of the CPU and of `device`, as they were, restored at the scope's end:
// nothing the evaluation runs moves the streams training draws from.
class GeneratorStateScope {
 public:
  explicit GeneratorStateScope(torch::Device device) {
    generators_.push_back(at::globalContext().defaultGenerator(torch::kCPU));
    if (!device.is_cpu()) generators_.push_back(at::globalContext().defaultGenerator(device));
    for (at::Generator& generator : generators_) {
      std::lock_guard<std::mutex> lock(generator.mutex());
      states_.push_back(generator.get_state());
    }
  }
  ~GeneratorStateScope() {
    for (size_t i = 0; i < generators_.size(); ++i) {
      std::lock_guard<std::mutex> lock(generators_[i].mutex());
      generators_[i].set_state(states_[i]);
    }
  }
  GeneratorStateScope(const GeneratorStateScope&) = delete;
  GeneratorStateScope& operator=(const GeneratorStateScope&) = delete;

 private:
  std::vector<at::Generator> generators_;
  std::vector<torch::Tensor> states_;
};

absl::Status TorchCall(const std::function<absl::Status()>& fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    return absl::InternalError(e.what_without_backtrace());
  }
}

}  // namespace

struct PolicyEvaluator::Loaded {
  std::unique_ptr<sampling::ImagePipeline> pipeline;
  std::vector<std::unique_ptr<reward::RewardModel>> rewards;  // in the spec's order
  std::unique_ptr<reward::ClipImageEmbedder> embedder;
};

PolicyEvaluator::PolicyEvaluator(JobSpec spec, torch::Device device, bool bf16, std::vector<std::string> prompts)
    : spec_(std::move(spec)), device_(device), bf16_(bf16), prompts_(std::move(prompts)) {}

PolicyEvaluator::~PolicyEvaluator() = default;

absl::StatusOr<std::unique_ptr<PolicyEvaluator>> PolicyEvaluator::Create(const JobSpec& spec, torch::Device device,
                                                                         bool bf16) {
  if (!spec.evaluation || spec.evaluate_every <= 0) {
    return absl::InvalidArgumentError("evaluate_every: the spec has no evaluation during training");
  }
  absl::StatusOr<std::vector<std::string>> prompts = curriculum::ReadPrompts(spec.evaluation->prompts);
  if (!prompts.ok()) return absl::InvalidArgumentError(absl::StrCat("evaluation.prompts: ", prompts.status().message()));
  // The first max_prompts: the same subset at every evaluation and in every attempt.
  if (static_cast<int64_t>(prompts->size()) > spec.evaluation->max_prompts) prompts->resize(spec.evaluation->max_prompts);
  return std::unique_ptr<PolicyEvaluator>(new PolicyEvaluator(spec, device, bf16, *std::move(prompts)));
}

bool PolicyEvaluator::Due(int64_t step) const {
  return step > 0 && (step % spec_.evaluate_every == 0 || step == spec_.steps);
}

absl::Status PolicyEvaluator::LoadFor(models::UNet2DConditionModel policy) {
  if (loaded_) return absl::OkStatus();
  const TrainEvaluationSpec& e = *spec_.evaluation;
  auto loaded = std::make_unique<Loaded>();
  sampling::ImagePipelineOptions options;
  options.dtype = bf16_ ? torch::kBFloat16 : torch::kFloat;  // the text encoders'
  options.unet = policy;
  absl::StatusOr<std::unique_ptr<sampling::ImagePipeline>> pipeline =
      sampling::ImagePipeline::Load(spec_.model, device_, options);
  if (!pipeline.ok()) {
    return absl::Status(pipeline.status().code(),
                        absl::StrCat("evaluation: sampling from ", spec_.model, ": ", pipeline.status().message()));
  }
  loaded->pipeline = *std::move(pipeline);
  for (size_t i = 0; i < e.rewards.size(); ++i) {
    absl::StatusOr<std::unique_ptr<reward::RewardModel>> model =
        reward::LoadRewardModel(e.rewards[i].reward, e.rewards[i].model, device_);
    if (!model.ok()) {
      return absl::Status(model.status().code(),
                          absl::StrCat("evaluation.rewards[", i, "].model: ", model.status().message()));
    }
    loaded->rewards.push_back(*std::move(model));
  }
  absl::StatusOr<std::unique_ptr<reward::ClipImageEmbedder>> embedder =
      reward::ClipImageEmbedder::Load(e.embedder, device_);
  if (!embedder.ok()) {
    return absl::Status(embedder.status().code(), absl::StrCat("evaluation.embedder: ", embedder.status().message()));
  }
  loaded->embedder = *std::move(embedder);
  loaded_ = std::move(loaded);
  return absl::OkStatus();
}

absl::Status PolicyEvaluator::SampleMine(int rank, int world_size, torch::Tensor& scores, torch::Tensor& embeddings) {
  const TrainEvaluationSpec& e = *spec_.evaluation;
  const int64_t seeds = e.seeds;
  std::vector<int64_t> mine;  // sample ids, p x seeds + k
  for (int64_t p = rank; p < static_cast<int64_t>(prompts_.size()); p += world_size) {
    for (int64_t k = 0; k < seeds; ++k) mine.push_back(p * seeds + k);
  }
  const uint64_t noise_seed = DeriveSeed(spec_.seed, {kPolicyEvaluationStream});
  for (size_t from = 0; from < mine.size(); from += static_cast<size_t>(e.sampling.batch_size)) {
    const size_t to = std::min(mine.size(), from + static_cast<size_t>(e.sampling.batch_size));
    sampling::GenerationRequest request = sampling::RequestFor(e.sampling, noise_seed);
    for (size_t i = from; i < to; ++i) {
      request.prompts.push_back(prompts_[mine[i] / seeds]);
      request.sample_ids.push_back(mine[i]);
    }
    absl::StatusOr<sampling::GeneratedBatch> batch;
    {
      models::AutocastScope autocast(device_, bf16_);
      batch = loaded_->pipeline->Generate(request);
    }
    if (!batch.ok()) return absl::Status(batch.status().code(), absl::StrCat("evaluation: ", batch.status().message()));
    for (size_t r = 0; r < loaded_->rewards.size(); ++r) {
      ASSIGN_OR_RETURN(std::vector<double> s, loaded_->rewards[r]->Score(batch->images, request.prompts));
      for (size_t i = from; i < to; ++i) scores[mine[i]][static_cast<int64_t>(r)] = s[i - from];
    }
    ASSIGN_OR_RETURN(torch::Tensor embedded, loaded_->embedder->Embed(batch->images));
    for (size_t i = from; i < to; ++i) embeddings[mine[i]].copy_(embedded[static_cast<int64_t>(i - from)]);
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainEvaluation> PolicyEvaluator::Evaluate(int64_t step, models::UNet2DConditionModel policy,
                                                          Communicator& comm) {
  const auto started = std::chrono::steady_clock::now();
  const TrainEvaluationSpec& e = *spec_.evaluation;
  const int64_t prompts = static_cast<int64_t>(prompts_.size());
  const int64_t images = prompts * e.seeds;
  RETURN_IF_ERROR(AgreeOnFailure(comm, TorchCall([&] { return LoadFor(policy); })));

  torch::Tensor scores = torch::zeros({images, static_cast<int64_t>(e.rewards.size())}, torch::kDouble);
  torch::Tensor embeddings = torch::zeros({images, loaded_->embedder->dim()}, torch::kFloat);
  absl::Status sampled;
  {
    GeneratorStateScope generators(device_);
    EvalModeScope eval_mode(policy);
    if (spec_.lora) models::SetLoraEnabled(*policy, true);
    torch::NoGradGuard no_grad;
    sampled = TorchCall([&] { return SampleMine(comm.rank(), comm.world_size(), scores, embeddings); });
  }
  RETURN_IF_ERROR(AgreeOnFailure(comm, sampled));
  // Each row is one rank's, zeros on the others: the sum is the gather.
  comm.AllReduceSum(scores);
  comm.AllReduceSum(embeddings);

  evaluation::EvaluationData data;
  data.checkpoints = {"policy"};
  for (const EvaluateReward& reward : e.rewards) data.rewards.emplace_back(RewardNameString(reward.reward));
  data.prompts = prompts;
  data.seeds = e.seeds;
  const torch::Tensor embedding_rows = embeddings.contiguous();
  const int64_t dim = embedding_rows.size(1);
  for (int64_t p = 0; p < prompts; ++p) {
    for (int64_t k = 0; k < e.seeds; ++k) {
      const int64_t id = p * e.seeds + k;
      evaluation::ImageRecord image;
      image.prompt = p;
      image.seed = k;
      for (int64_t r = 0; r < scores.size(1); ++r) image.scores.push_back(scores[id][r].item<double>());
      const float* row = embedding_rows.data_ptr<float>() + id * dim;
      image.embedding.assign(row, row + dim);
      data.images.push_back(std::move(image));
    }
  }
  absl::StatusOr<evaluation::EvaluationFigures> figures = evaluation::ComputeFigures(data, {/*resamples=*/0, spec_.seed});
  if (!figures.ok()) {
    return absl::Status(figures.status().code(), absl::StrCat("evaluation at step ", step, ": ", figures.status().message()));
  }
  const evaluation::CheckpointFigures& policy_figures = figures->checkpoints.front();
  TrainEvaluation result;
  result.step = step;
  result.prompts = prompts;
  result.seeds = e.seeds;
  for (size_t r = 0; r < data.rewards.size(); ++r) {
    result.rewards.push_back({data.rewards[r], policy_figures.rewards[r].mean, policy_figures.rewards[r].std});
  }
  result.diversity = policy_figures.diversity;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace align::engine
