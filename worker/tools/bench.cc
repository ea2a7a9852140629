#include "worker/tools/bench.h"

#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/diffusers/unet_config.h"
#include "common/job_spec.h"
#include "common/loss_spec.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/engine/auto_checkpointing.h"
#include "worker/engine/communicator.h"
#include "worker/engine/device_memory.h"
#include "worker/engine/local_rank.h"
#include "worker/engine/losses.h"
#include "worker/engine/optimizer.h"
#include "worker/engine/parameter_updater.h"
#include "worker/engine/preference_step.h"
#include "worker/engine/captured_step.h"
#include "worker/models/autocast.h"
#include "worker/models/flop_counter.h"
#include "worker/models/layers.h"
#include "worker/tools/step_profile.h"

namespace align::tools {
namespace {

using Clock = std::chrono::steady_clock;

absl::StatusOr<LossSpec> BenchLoss(const BenchOptions& o) {
  LossSpec spec;
  bool known = false;
  for (const auto& [name, type] : LossTypeNames()) {
    if (o.loss == name) {
      spec.type = type;
      known = true;
    }
  }
  if (!known) return absl::InvalidArgumentError(absl::StrCat("--loss: unknown loss \"", o.loss, "\""));
  if (spec.type == LossType::kFdpo) {
    ASSIGN_OR_RETURN(spec.divergence, ParseDivergence(o.divergence));
  }
  return spec;
}

absl::StatusOr<GradientCheckpointing> BenchCheckpointing(const BenchOptions& o) {
  GradientCheckpointing c;
  if (o.gradient_checkpointing == "full") {
    c.mode = GradientCheckpointingMode::kFull;
  } else if (o.gradient_checkpointing == "auto") {
    c.mode = GradientCheckpointingMode::kAuto;
  } else if (o.gradient_checkpointing != "none") {
    return absl::InvalidArgumentError(
        absl::StrCat("--gradient-checkpointing: expected none, full or auto, got \"", o.gradient_checkpointing, "\""));
  }
  if (o.memory_budget_gib != 0) {
    if (c.mode != GradientCheckpointingMode::kAuto) {
      return absl::InvalidArgumentError("--memory-budget-gib: only applies with --gradient-checkpointing auto");
    }
    if (!std::isfinite(o.memory_budget_gib) || o.memory_budget_gib <= 0 ||
        o.memory_budget_gib > spec_limits::kMaxMemoryBudgetGib) {
      return absl::InvalidArgumentError(absl::StrCat("--memory-budget-gib: must be > 0 and <= ",
                                                     static_cast<int64_t>(spec_limits::kMaxMemoryBudgetGib), ", got ",
                                                     o.memory_budget_gib));
    }
    c.memory_budget_gib = o.memory_budget_gib;
  }
  return c;
}

int64_t PeakHostBytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

}  // namespace

namespace {
int RunBenchOrThrow(const BenchOptions& o, std::ostream& out, std::ostream& err) {
  absl::StatusOr<diffusers::UNetConfig> config = diffusers::LoadUNetConfig(o.unet_config);
  absl::StatusOr<LossSpec> loss_spec = BenchLoss(o);
  if (!config.ok() || !loss_spec.ok()) {
    err << "align-bench: " << (config.ok() ? loss_spec.status() : config.status()).message() << "\n";
    return 2;
  }
  absl::StatusOr<GradientCheckpointing> checkpointing = BenchCheckpointing(o);
  if (!checkpointing.ok()) {
    err << "align-bench: " << checkpointing.status().message() << "\n";
    return 2;
  }
  if (o.resolution % 8 != 0 || o.pairs < 1 || o.steps < 1 || o.tokens < 1 || o.micro_batches < 1) {
    err << "align-bench: --resolution must be a multiple of 8; --pairs, --micro-batches, --steps, --tokens positive\n";
    return 2;
  }
  if (o.cuda_graph && !o.fused_optimizer) {
    err << "align-bench: --cuda-graph needs --fused-optimizer (the optimizer step that runs on the device)\n";
    return 2;
  }
  if (o.cuda_graph && o.shard_optimizer) {
    err << "align-bench: --cuda-graph does not combine with --shard-optimizer: its reduce-scatter and all-gather "
           "are MPI collectives, which a CUDA graph cannot capture\n";
    return 2;
  }
  torch::Device device(torch::kCPU);
  if (o.device == "cuda" || (o.device == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) {
      err << "align-bench: --device cuda but CUDA is not available\n";
      return 2;
    }
    // Rank r of a host on GPU r, as the trainer does (0 when launched alone).
    device = torch::Device(torch::kCUDA, static_cast<int>(engine::LocalRank() % torch::cuda::device_count()));
  }
  if (o.cuda_graph && !device.is_cuda()) {
    err << "align-bench: --cuda-graph needs a CUDA device, the step would run on " << device.str() << "\n";
    return 2;
  }
  const bool bf16 = o.precision == "bf16";
  if (o.bf16_weight_casts == "per_step" && !bf16) {
    err << "align-bench: --bf16-weight-casts per_step applies with --precision bf16\n";
    return 2;
  }
  torch::manual_seed(static_cast<int64_t>(o.seed));

  diffusers::SchedulerConfig sched;  // SDXL's training schedule
  sched.beta_schedule = diffusers::BetaSchedule::kScaledLinear;
  sched.beta_start = 0.00085;
  sched.beta_end = 0.012;
  models::NoiseSchedule schedule(sched);
  auto loss = engine::MakeLoss(*loss_spec, sched.num_train_timesteps);
  if (!loss.ok()) {
    err << "align-bench: " << loss.status().message() << "\n";
    return 2;
  }

  models::UNet2DConditionModel policy(*config, torch::TensorOptions().dtype(torch::kFloat).device(device));
  models::InitializeRandomWeights(*policy, o.seed);
  policy->train();
  policy->set_gradient_checkpointing(checkpointing->mode == GradientCheckpointingMode::kFull);
  models::UNet2DConditionModel reference{nullptr};
  if ((*loss)->needs_reference()) {
    reference = models::UNet2DConditionModel(
        *config, torch::TensorOptions().dtype(bf16 ? torch::kBFloat16 : torch::kFloat).device(device));
    models::InitializeRandomWeights(*reference, o.seed);
    reference->eval();
    for (auto& p : reference->parameters()) p.set_requires_grad(false);
    reference->set_channels_last(o.channels_last);
    reference->set_fused_geglu(o.fused_geglu);
  }
  policy->set_channels_last(o.channels_last);
  policy->set_fused_geglu(o.fused_geglu);
  engine::NamedParameters named;
  for (auto& item : policy->named_parameters()) named.emplace_back(item.key(), item.value());
  OptimSpec optim;
  optim.fused = o.fused_optimizer;
  optim.shard = o.shard_optimizer;
  optim.overlap = o.overlap_reduction;
  optim.bucket_mb = o.bucket_mb;
  // Sharded: over the ranks mpirun started (every rank runs the same batch);
  // replicated: this process alone.
  const std::unique_ptr<engine::Communicator> comm =
      o.shard_optimizer ? engine::MakeCommunicatorFor(device) : engine::MakeSingleProcessCommunicator();
  absl::StatusOr<std::unique_ptr<engine::ParameterUpdater>> updater =
      engine::MakeParameterUpdater(named, optim, *comm);
  if (!updater.ok()) {
    err << "align-bench: " << updater.status().message() << "\n";
    return 2;
  }
  std::optional<engine::RecomputePlan> recompute_plan;
  if (checkpointing->mode == GradientCheckpointingMode::kAuto) {
    data::PairShape shape;
    shape.latent_channels = config->in_channels;
    shape.latent_height = shape.latent_width = o.resolution / 8;
    shape.tokens = o.tokens;
    shape.context_dim = config->cross_attention_dim;
    const int64_t samples = ((*loss)->needs_rejected() ? 2 : 1) * int64_t{o.pairs};
    const engine::AutoCheckpointingInputs inputs{
        shape, samples, device, bf16,
        engine::TrainingStateBytes({policy.get(), reference ? reference.get() : nullptr}, named,
                                   (*updater)->StateBytes())};
    absl::StatusOr<std::optional<engine::RecomputePlan>> plan =
        engine::ApplyAutoCheckpointing(*policy, *checkpointing, inputs);
    if (!plan.ok()) {
      err << "align-bench: " << plan.status().message() << "\n";
      return 2;
    }
    recompute_plan = *plan;
  }
  engine::PreferenceStep step(policy, reference, schedule, **loss, device, bf16);

  const int64_t latent = o.resolution / 8, b = o.pairs;
  engine::PairTensors batch;
  batch.pairs = b;
  batch.latents = torch::randn({2 * b, config->in_channels, latent, latent}).to(device);
  batch.prompt_embeds = torch::randn({2 * b, o.tokens, config->cross_attention_dim}).to(device);
  if (config->text_time_embedding) batch.pooled = torch::randn({2 * b, config->pooled_text_dim()}).to(device);
  batch.time_ids = torch::tensor({double(o.resolution), double(o.resolution), 0., 0., double(o.resolution),
                                  double(o.resolution)})
                       .repeat({2 * b, 1})
                       .to(device, torch::kFloat);
  std::vector<int64_t> keys(b);
  std::iota(keys.begin(), keys.end(), 0);

  // Model FLOPs of one training step, counted on its first run.
  double step_flops = 0;
  auto draw_noise = [&](int i) {
    return engine::DrawNoise(o.seed, RandomStream::kNoise, i, keys, batch.latents.sizes().slice(1),
                             sched.num_train_timesteps, device);
  };
  // A step's micro-batches, forward and backward, with the bf16 weight
  // copies of the step. The model FLOPs are counted on the first call.
  bool flops_counted = false;
  auto forward_backward = [&](const engine::NoiseDraws& draws) {
    std::optional<models::WeightCastCache> weight_casts;
    if (bf16 && o.bf16_weight_casts == "per_step") weight_casts.emplace();
    for (int micro = 0; micro < o.micro_batches; ++micro) {
      engine::StepResult r;
      {
        // Forwards only (policy and reference): recomputation under gradient
        // checkpointing is overhead, not model FLOPs.
        models::ScopedFlopCount count;
        r = step.Forward(batch, draws, /*train=*/true);
        if (!flops_counted) step_flops += count.flops();
      }
      if (micro + 1 == o.micro_batches) (*updater)->BeforeLastBackward();
      (r.out.loss / static_cast<double>(o.micro_batches)).backward();
    }
    flops_counted = true;
  };
  // One step as the trainer runs it; the noise is drawn outside the timing.
  auto run_step = [&](const engine::NoiseDraws& draws) {
    (*updater)->ZeroGradients();
    forward_backward(draws);
    // Clipped as the trainer (and the diffusers reference step) does.
    (*updater)->AverageGradients();
    const double grad_norm = (*updater)->GradNorm();
    if (grad_norm > optim.grad_clip) (*updater)->ScaleGradients(optim.grad_clip / (grad_norm + 1e-6));
    (*updater)->Step(1e-6);
  };
  // --cuda-graph: the trainer's cuda_graph step (worker/engine/captured_step.h),
  // captured after its eager warm-ups and replayed since. The first step
  // runs as above, counting the FLOPs.
  std::unique_ptr<engine::CapturedStep> captured;
  const engine::CapturedStepOptions captured_options{optim.grad_clip, bf16 && o.bf16_weight_casts == "per_step"};
  if (o.cuda_graph) {
    absl::StatusOr<std::unique_ptr<engine::CapturedStep>> made =
        engine::CapturedStep::Create(step, **updater, device, captured_options);
    if (!made.ok()) {
      err << "align-bench: --cuda-graph: " << made.status().message() << "\n";
      return 2;
    }
    captured = std::move(*made);
  }
  auto run_any_step = [&](const engine::NoiseDraws& draws) -> absl::Status {
    if (!captured || !flops_counted) {
      run_step(draws);
      return absl::OkStatus();
    }
    const std::vector<engine::PairTensors> batches(o.micro_batches, batch);
    const std::vector<engine::NoiseDraws> noise(o.micro_batches, draws);
    return captured->Run(batches, noise, 1e-6).status();
  };
  // Captured: the eager step, the warm-ups and the capture are not timed, only replays.
  const int untimed_steps =
      captured ? std::max(o.warmup_steps, 1 + captured_options.warmup_runs + 1) : o.warmup_steps;
  std::vector<double> times;
  for (int i = 0; i < untimed_steps + o.steps; ++i) {
    const engine::NoiseDraws draws = draw_noise(i);
    engine::SynchronizeDevice(device);
    const auto start = Clock::now();
    const absl::Status ran = run_any_step(draws);
    if (!ran.ok()) {
      err << "align-bench: " << ran.message() << "\n";
      return 1;
    }
    engine::SynchronizeDevice(device);
    if (i >= untimed_steps) times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  // The profiled step is not timed: recording slows the host down.
  std::optional<ProfileSummary> profile;
  if (!o.profile_path.empty()) {
    const int i = untimed_steps + o.steps;
    const engine::NoiseDraws draws = draw_noise(i);
    engine::SynchronizeDevice(device);
    StepProfile recording(device);
    const absl::Status ran = run_any_step(draws);
    engine::SynchronizeDevice(device);
    if (!ran.ok()) {
      err << "align-bench: " << ran.message() << "\n";
      return 1;
    }
    absl::StatusOr<ProfileSummary> summary = recording.Finish(o.profile_path);
    if (!summary.ok()) {
      err << "align-bench: --profile: " << summary.status().message() << "\n";
      return 1;
    }
    profile = *summary;
  }
  // The policy's backward costs twice its forward (input and weight
  // gradients), the reference has no backward: 3 F_policy + F_reference.
  const double policy_forward = (*loss)->needs_reference() ? step_flops / 2 : step_flops;
  const double model_flops = step_flops + 2 * policy_forward;

  // Each rank's optimizer state, gathered for rank 0's line.
  torch::Tensor state_bytes = torch::zeros({comm->world_size()}, torch::kDouble);
  state_bytes[comm->rank()] = static_cast<double>((*updater)->StateBytes());
  comm->AllReduceSum(state_bytes);
  std::vector<int64_t> state_bytes_per_rank;
  for (int r = 0; r < comm->world_size(); ++r) state_bytes_per_rank.push_back(state_bytes[r].item<int64_t>());
  // Each rank's gradient storage in the last step: the most at once, and what
  // it keeps from backward's end to the optimizer step.
  const engine::GradientMemory gradient_bytes = (*updater)->GradientBytes();
  torch::Tensor gradient_sizes = torch::zeros({2, comm->world_size()}, torch::kDouble);
  gradient_sizes[0][comm->rank()] = static_cast<double>(gradient_bytes.peak);
  gradient_sizes[1][comm->rank()] = static_cast<double>(gradient_bytes.held);
  comm->AllReduceSum(gradient_sizes);
  std::vector<int64_t> peak_gradient_bytes_per_rank, gradient_bytes_per_rank;
  for (int r = 0; r < comm->world_size(); ++r) {
    peak_gradient_bytes_per_rank.push_back(gradient_sizes[0][r].item<int64_t>());
    gradient_bytes_per_rank.push_back(gradient_sizes[1][r].item<int64_t>());
  }

  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  nlohmann::json line = {{"unet_config", o.unet_config},
                         {"parameters", policy->num_parameters()},
                         {"loss", o.loss},
                         {"pairs_per_micro_batch", o.pairs},
                         {"micro_batches", o.micro_batches},
                         {"resolution", o.resolution},
                         {"tokens", o.tokens},
                         {"precision", o.precision},
                         {"gradient_checkpointing", o.gradient_checkpointing},
                         {"recomputed_blocks", policy->recomputed_blocks()},
                         {"channels_last", o.channels_last},
                         {"fused_geglu", o.fused_geglu},
                         {"bf16_weight_casts", o.bf16_weight_casts},
                         {"fused_optimizer", o.fused_optimizer},
                         {"shard_optimizer", o.shard_optimizer},
                         {"ranks", comm->world_size()},
                         {"overlap_reduction", o.overlap_reduction},
                         {"bucket_mb", o.bucket_mb},
                         {"cuda_graph", o.cuda_graph},
                         {"optimizer_state_bytes_per_rank", state_bytes_per_rank},
                         {"peak_gradient_bytes_per_rank", peak_gradient_bytes_per_rank},
                         {"gradient_bytes_per_rank", gradient_bytes_per_rank},
                         {"grad_clip", optim.grad_clip},
                         {"device", device.str()},
                         {"torch_threads", torch::get_num_threads()},
                         {"steps", o.steps},
                         {"step_s", median},
                         {"step_s_min", times.front()},
                         {"pairs_per_s", static_cast<double>(o.pairs) * o.micro_batches / median},
                         {"model_tflop_per_step", model_flops / 1e12},
                         {"model_tflops", model_flops / median / 1e12},
                         {"peak_device_bytes", engine::PeakDeviceMemoryBytes(device)},
                         {"peak_host_bytes", PeakHostBytes()}};
  if (recompute_plan.has_value()) {
    line["recompute_plan"] = {{"memory_budget_bytes", recompute_plan->budget_bytes},
                              {"estimated_step_bytes", recompute_plan->estimated_bytes},
                              {"estimated_activation_bytes", recompute_plan->activation_bytes},
                              {"recompute_tflop_per_micro_batch", recompute_plan->recompute_flops / 1e12}};
  }
  if (profile.has_value()) {
    line["profile"] = {{"trace", o.profile_path},
                       {"host_ops_per_step", profile->host_ops},
                       {"device_activities_per_step", profile->device_activities},
                       {"device_busy_fraction", profile->device_busy_fraction},
                       {"device_span_s", profile->device_span_s}};
  }
  if (comm->rank() == 0) out << line.dump() << std::endl;
  return 0;
}
}  // namespace

int RunBench(const BenchOptions& o, std::ostream& out, std::ostream& err) {
  try {
    return RunBenchOrThrow(o, out, err);
  } catch (const c10::Error& e) {
    err << "align-bench: " << e.what_without_backtrace() << "\n";
    return 1;
  }
}

}  // namespace align::tools
