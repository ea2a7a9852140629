// The trainer's graph-safe step (worker/engine/captured_step.h: device
// clipping, the fused AdamW with device learning rate and step count,
// metrics left on the device) against today's eager step, with bench-like
// settings on the tiny SDXL UNet. On the CPU the step runs eagerly, so
// everything but the capture is checked here; the CUDA test captures and
// replays, and skips where no GPU is.

#include "worker/engine/captured_step.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "common/diffusers/scheduler_config.h"
#include "common/diffusers/unet_config.h"
#include "common/job_spec.h"
#include "common/loss_spec.h"
#include "common/random.h"
#include "worker/engine/communicator.h"
#include "worker/engine/losses.h"
#include "worker/engine/optimizer.h"
#include "worker/engine/parameter_updater.h"
#include "worker/engine/preference_step.h"
#include "worker/models/layers.h"
#include "worker/models/noise_schedule.h"
#include "worker/models/unet_2d_condition.h"

namespace align::engine {
namespace {

const std::string kTinyUNet = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl/unet/config.json";
constexpr int kMicroBatches = 2;
constexpr int64_t kPairs = 1, kResolution = 64, kTokens = 8;

// What the trainer reads after a step.
struct Outcome {
  std::vector<double> metrics;  // summed over micro-batches, StepMetric order
  double grad_norm = 0;
  bool skipped = false;
};

// align-bench's setup: random weights, dpo with a reference, fp32, the fused
// AdamW, one process.
class TinyTraining {
 public:
  explicit TinyTraining(torch::Device device) : device_(device) {
    auto config = diffusers::LoadUNetConfig(kTinyUNet);
    EXPECT_TRUE(config.ok()) << config.status();
    config_ = *config;
    diffusers::SchedulerConfig sched;
    sched.beta_schedule = diffusers::BetaSchedule::kScaledLinear;
    sched.beta_start = 0.00085;
    sched.beta_end = 0.012;
    schedule_ = std::make_unique<models::NoiseSchedule>(sched);
    auto loss = MakeLoss(LossSpec{}, sched.num_train_timesteps);
    EXPECT_TRUE(loss.ok()) << loss.status();
    loss_ = std::move(*loss);
    const auto fp32 = torch::TensorOptions().dtype(torch::kFloat).device(device);
    policy_ = models::UNet2DConditionModel(config_, fp32);
    models::InitializeRandomWeights(*policy_, 0);
    policy_->train();
    reference_ = models::UNet2DConditionModel(config_, fp32);
    models::InitializeRandomWeights(*reference_, 0);
    reference_->eval();
    for (auto& p : reference_->parameters()) p.set_requires_grad(false);
    NamedParameters named;
    for (auto& item : policy_->named_parameters()) named.emplace_back(item.key(), item.value());
    // A trainable parameter the step does not use: it gets no gradient, and
    // the optimizer must leave it alone, weight decay included.
    unused_ = torch::ones({3}, fp32).set_requires_grad(true);
    named.emplace_back("unused", unused_);
    optim_.weight_decay = 0.1;
    optim_.fused = true;
    optim_.grad_clip = 1e-3;  // small enough that every step clips
    comm_ = MakeSingleProcessCommunicator();
    auto updater = MakeParameterUpdater(named, optim_, *comm_);
    EXPECT_TRUE(updater.ok()) << updater.status();
    updater_ = std::move(*updater);
    step_ = std::make_unique<PreferenceStep>(policy_, reference_, *schedule_, *loss_, device, /*bf16=*/false);

    torch::manual_seed(3);
    const int64_t latent = kResolution / 8;
    batch_.pairs = kPairs;
    batch_.latents = torch::randn({2 * kPairs, config_.in_channels, latent, latent}).to(device);
    batch_.prompt_embeds = torch::randn({2 * kPairs, kTokens, config_.cross_attention_dim}).to(device);
    batch_.pooled = torch::randn({2 * kPairs, config_.pooled_text_dim()}).to(device);
    batch_.time_ids = torch::tensor({64., 64., 0., 0., 64., 64.}).repeat({2 * kPairs, 1}).to(device, torch::kFloat);
  }

  NoiseDraws Draws(int step, bool poisoned = false) const {
    std::vector<int64_t> keys(kPairs);
    std::iota(keys.begin(), keys.end(), 0);
    NoiseDraws draws = DrawNoise(0, RandomStream::kNoise, step, keys, batch_.latents.sizes().slice(1),
                                 schedule_->num_train_timesteps(), device_);
    if (poisoned) draws.noise[0][0][0][0] = std::nan("");  // a non-finite loss
    return draws;
  }

  // Today's step, as the trainer takes it: a non-finite loss is not
  // back-propagated and skips the step, as does a non-finite norm.
  Outcome EagerStep(const NoiseDraws& draws, double lr) {
    Outcome o;
    o.metrics.assign(kStepMetricCount, 0.0);
    bool nonfinite = false;
    updater_->ZeroGradients();
    for (int micro = 0; micro < kMicroBatches; ++micro) {
      StepResult r = step_->Forward(batch_, draws, /*train=*/true);
      const double loss = r.out.loss.item<double>();
      if (micro + 1 == kMicroBatches) updater_->BeforeLastBackward();
      if (std::isfinite(loss)) {
        (r.out.loss / static_cast<double>(kMicroBatches)).backward();
      } else {
        nonfinite = true;
      }
      const double values[] = {loss, r.out.implicit_accuracy, r.out.reward_margin, r.policy_w,
                               r.policy_l, r.reference_w, r.reference_l};
      for (int i = 0; i < kStepMetricCount; ++i) o.metrics[i] += values[i];
    }
    updater_->AverageGradients();
    o.grad_norm = updater_->GradNorm();
    o.skipped = nonfinite || !std::isfinite(o.grad_norm);
    if (!o.skipped) {
      if (o.grad_norm > optim_.grad_clip) updater_->ScaleGradients(optim_.grad_clip / (o.grad_norm + 1e-6));
      updater_->Step(lr);
    }
    return o;
  }

  // The same step without host synchronisation, as the trainer's cuda_graph takes it.
  std::unique_ptr<CapturedStep> MakeCaptured() {
    auto captured = CapturedStep::Create(*step_, *updater_, device_, CapturedStepOptions{optim_.grad_clip});
    EXPECT_TRUE(captured.ok()) << captured.status();
    return captured.ok() ? std::move(*captured) : nullptr;
  }

  // Runs one step of `captured` and reads what it left for the host.
  Outcome CapturedStepOf(CapturedStep& captured, const NoiseDraws& draws, double lr) {
    absl::StatusOr<CapturedStepOutcome> ran = captured.Run(std::vector<PairTensors>(kMicroBatches, batch_),
                                                           std::vector<NoiseDraws>(kMicroBatches, draws), lr);
    EXPECT_TRUE(ran.ok()) << ran.status();
    if (!ran.ok()) return Outcome{};
    EXPECT_EQ(ran->nonfinite_losses > 0, ran->skipped && !std::isfinite(ran->grad_norm));
    return Outcome{ran->metric_sums, ran->grad_norm, ran->skipped};
  }

  PreferenceStep& step() { return *step_; }
  const PairTensors& batch() const { return batch_; }

  std::vector<torch::Tensor> Parameters() const {
    std::vector<torch::Tensor> params;
    for (const auto& p : policy_->parameters()) params.push_back(p.detach().cpu());
    return params;
  }
  int64_t StepCount() { return updater_->State().at("step").item<int64_t>(); }
  bool UnusedParameterUntouched() const {
    return !unused_.grad().defined() && torch::equal(unused_.detach().cpu(), torch::ones({3}));
  }

 private:
  torch::Device device_;
  diffusers::UNetConfig config_;
  std::unique_ptr<models::NoiseSchedule> schedule_;
  std::unique_ptr<PreferenceLoss> loss_;
  models::UNet2DConditionModel policy_{nullptr}, reference_{nullptr};
  OptimSpec optim_;
  std::unique_ptr<Communicator> comm_;
  std::unique_ptr<ParameterUpdater> updater_;
  std::unique_ptr<PreferenceStep> step_;
  PairTensors batch_;
  torch::Tensor unused_;
};

void ExpectSameTraining(TinyTraining& eager, TinyTraining& graphed, CapturedStep& captured, int steps, int poisoned_step,
                        double rtol) {
  for (int step = 0; step < steps; ++step) {
    // A schedule's value, changing per step. align-bench's size: larger rates
    // make this random-weight UNet's loss explode, and the float learning
    // rate the device step reads (the eager step reads a double) differs in
    // its last bits, which such a run amplifies.
    const double lr = 1e-6 * (1 + step % 3);
    const bool poisoned = step == poisoned_step;
    const Outcome a = eager.EagerStep(eager.Draws(step, poisoned), lr);
    const Outcome b = graphed.CapturedStepOf(captured, graphed.Draws(step, poisoned), lr);
    EXPECT_EQ(a.skipped, poisoned) << "step " << step;
    EXPECT_EQ(b.skipped, a.skipped) << "step " << step;
    if (!poisoned) {
      // A skipped step's norm is the finite micro-batches' one eagerly and
      // not finite here (the poisoned loss was back-propagated).
      EXPECT_NEAR(b.grad_norm, a.grad_norm, rtol * a.grad_norm) << "step " << step;
      for (int i = 0; i < kStepMetricCount; ++i) {
        EXPECT_NEAR(b.metrics[i], a.metrics[i], rtol * (1 + std::abs(a.metrics[i]))) << "step " << step << " metric " << i;
      }
    }
    EXPECT_EQ(graphed.StepCount(), eager.StepCount()) << "step " << step;
    EXPECT_TRUE(eager.UnusedParameterUntouched()) << "step " << step;
    EXPECT_TRUE(graphed.UnusedParameterUntouched()) << "step " << step;
    const std::vector<torch::Tensor> pa = eager.Parameters(), pb = graphed.Parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (size_t i = 0; i < pa.size(); ++i) {
      ASSERT_TRUE(torch::allclose(pb[i], pa[i], rtol, 1e-7)) << "step " << step << " parameter " << i << ": max diff "
                                                             << (pb[i] - pa[i]).abs().max().item<double>();
    }
  }
}

// On the CPU the graph-safe step gives today's step over several steps: the
// same metrics, clipping, updates with a changing learning rate, and a step
// with a non-finite loss skipped without counting it.
TEST(CapturedStepTest, EqualsTodaysStepOnTheCpu) {
  TinyTraining eager(torch::kCPU), graphed(torch::kCPU);
  std::unique_ptr<CapturedStep> captured = graphed.MakeCaptured();
  ASSERT_NE(captured, nullptr);
  ExpectSameTraining(eager, graphed, *captured, /*steps=*/5, /*poisoned_step=*/2, /*rtol=*/1e-6);
  EXPECT_FALSE(captured->captured());
  EXPECT_EQ(captured->runs(), 5);
  EXPECT_EQ(eager.StepCount(), 4);
}

// The first step fixes the micro-batches: another count or size is refused
// before anything runs, and the step count does not move.
TEST(CapturedStepTest, RefusesAnotherShapeOfStepAndRunsNothing) {
  TinyTraining training(torch::kCPU);
  std::unique_ptr<CapturedStep> captured = training.MakeCaptured();
  ASSERT_NE(captured, nullptr);
  const NoiseDraws draws = training.Draws(0);
  ASSERT_TRUE(captured->Run({training.batch(), training.batch()}, {draws, draws}, 1e-6).ok());
  EXPECT_EQ(captured->Run({training.batch()}, {draws}, 1e-6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(captured->Run({training.batch(), training.batch()}, {draws}, 1e-6).status().code(),
            absl::StatusCode::kInvalidArgument);
  PairTensors wider = training.batch();
  wider.prompt_embeds = torch::cat({wider.prompt_embeds, wider.prompt_embeds}, 1);  // twice the tokens
  const absl::Status refused = captured->Run({training.batch(), wider}, {draws, draws}, 1e-6).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_EQ(captured->runs(), 1);
  EXPECT_EQ(training.StepCount(), 1);
}

TEST(CapturedStepTest, CreateSaysWhyAnUpdaterCannotStepOnTheDevice) {
  TinyTraining training(torch::kCPU);
  torch::Tensor weight = torch::zeros({2}, torch::requires_grad());
  OptimSpec per_parameter;  // optim.fused false
  auto comm = MakeSingleProcessCommunicator();
  auto updater = MakeParameterUpdater({{"weight", weight}}, per_parameter, *comm);
  ASSERT_TRUE(updater.ok()) << updater.status();
  absl::StatusOr<std::unique_ptr<CapturedStep>> refused =
      CapturedStep::Create(training.step(), **updater, torch::kCPU, CapturedStepOptions{});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("optim.fused"), std::string::npos) << refused.status();
}

// CUDA: the tiny UNet's whole training step captured and replayed, against
// today's eager step (within rounding: CUDA's convolution backward need not
// add in one order).
TEST(CapturedStepCudaTest, ReplayedUNetStepEqualsTodaysStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  TinyTraining eager(cuda), graphed(cuda);
  std::unique_ptr<CapturedStep> captured = graphed.MakeCaptured();
  ASSERT_NE(captured, nullptr);
  ExpectSameTraining(eager, graphed, *captured, /*steps=*/7, /*poisoned_step=*/5, /*rtol=*/1e-4);
  EXPECT_TRUE(captured->captured());
}

}  // namespace
}  // namespace align::engine
