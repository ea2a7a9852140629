// The graph-safe training step (no host synchronisation: device clipping,
// the fused AdamW with device learning rate and step count, metrics left on
// the device) against today's step, with bench-like settings on the tiny
// SDXL UNet. On the CPU StepGraph runs the step eagerly, so everything but
// the capture is checked here; the CUDA tests capture and replay, and skip
// where no GPU is.

#include "worker/engine/step_graph.h"

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

  // The same step without host synchronisation, as a StepGraph runs it:
  // noise, timesteps and lr are its static inputs, metrics_, grad_norm_ and
  // skipped_ its static outputs.
  std::unique_ptr<StepGraph> MakeGraph() {
    const NoiseDraws shapes = Draws(0);
    static_draws_ = {torch::empty_like(shapes.noise), torch::empty_like(shapes.timesteps)};
    static_lr_ = torch::zeros({}, torch::TensorOptions(torch::kFloat).device(device_));
    const auto fp64 = torch::TensorOptions(torch::kDouble).device(device_);
    metrics_ = torch::zeros({kStepMetricCount}, fp64);
    grad_norm_ = torch::zeros({}, fp64);
    skipped_ = torch::zeros({}, torch::TensorOptions(torch::kFloat).device(device_));
    EXPECT_TRUE(updater_->CanStepOnDevice().ok()) << updater_->CanStepOnDevice();
    auto step = [this] {
      updater_->ZeroGradientsInPlace();
      torch::Tensor metrics = torch::zeros({kStepMetricCount}, metrics_.options());
      torch::Tensor nonfinite = torch::zeros({}, skipped_.options());
      for (int micro = 0; micro < kMicroBatches; ++micro) {
        StepResult r = step_->ForwardOnDevice(batch_, static_draws_, /*train=*/true);
        if (micro + 1 == kMicroBatches) updater_->BeforeLastBackward();
        (r.out.loss / static_cast<double>(kMicroBatches)).backward();
        metrics.add_(r.metrics);
        nonfinite.add_(torch::isfinite(r.out.loss.detach()).logical_not());
      }
      const DeviceUpdate update = UpdateOnDevice(*updater_, static_lr_, optim_.grad_clip, nonfinite);
      torch::NoGradGuard no_grad;
      metrics_.copy_(metrics);
      grad_norm_.copy_(update.grad_norm);
      skipped_.copy_(update.skipped);
    };
    return std::make_unique<StepGraph>(
        device_, std::vector<torch::Tensor>{static_draws_.noise, static_draws_.timesteps, static_lr_}, step);
  }

  // Runs one step of `graph` and reads its outputs, as the trainer would after replay.
  Outcome GraphStep(StepGraph& graph, const NoiseDraws& draws, double lr) {
    const absl::Status ran = graph.Run({draws.noise, draws.timesteps, torch::full({}, lr, torch::kFloat).to(device_)});
    EXPECT_TRUE(ran.ok()) << ran;
    Outcome o;
    const torch::Tensor metrics = metrics_.cpu();
    o.metrics.assign(metrics.data_ptr<double>(), metrics.data_ptr<double>() + kStepMetricCount);
    o.grad_norm = grad_norm_.item<double>();
    o.skipped = skipped_.item<float>() != 0;
    return o;
  }

  std::vector<torch::Tensor> Parameters() const {
    std::vector<torch::Tensor> params;
    for (const auto& p : policy_->parameters()) params.push_back(p.detach().cpu());
    return params;
  }
  int64_t StepCount() { return updater_->State().at("step").item<int64_t>(); }

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
  NoiseDraws static_draws_;
  torch::Tensor static_lr_, metrics_, grad_norm_, skipped_;
};

void ExpectSameTraining(TinyTraining& eager, TinyTraining& graphed, StepGraph& graph, int steps, int poisoned_step,
                        double rtol) {
  for (int step = 0; step < steps; ++step) {
    // A schedule's value, changing per step. align-bench's size: larger rates
    // make this random-weight UNet's loss explode, and the float learning
    // rate the device step reads (the eager step reads a double) differs in
    // its last bits, which such a run amplifies.
    const double lr = 1e-6 * (1 + step % 3);
    const bool poisoned = step == poisoned_step;
    const Outcome a = eager.EagerStep(eager.Draws(step, poisoned), lr);
    const Outcome b = graphed.GraphStep(graph, graphed.Draws(step, poisoned), lr);
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
TEST(StepGraphTest, GraphSafeStepEqualsTodaysStepOnTheCpu) {
  TinyTraining eager(torch::kCPU), graphed(torch::kCPU);
  std::unique_ptr<StepGraph> graph = graphed.MakeGraph();
  ExpectSameTraining(eager, graphed, *graph, /*steps=*/5, /*poisoned_step=*/2, /*rtol=*/1e-6);
  EXPECT_FALSE(graph->captured());
  EXPECT_EQ(graph->runs(), 5);
  EXPECT_EQ(eager.StepCount(), 4);
}

TEST(StepGraphTest, RunRefusesInputsOfAnotherShapeAndRunsNothing) {
  int ran = 0;
  torch::Tensor input = torch::zeros({2, 3});
  StepGraph graph(torch::kCPU, {input}, [&] { ++ran; });
  EXPECT_TRUE(graph.Run({torch::ones({2, 3})}).ok());
  EXPECT_TRUE(torch::equal(input, torch::ones({2, 3})));
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, graph.Run({torch::ones({1, 3})}).code());
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, graph.Run({torch::ones({2, 3}, torch::kDouble)}).code());
  EXPECT_EQ(absl::StatusCode::kInvalidArgument, graph.Run({}).code());
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(graph.runs(), 1);
}

// CUDA: a small step captured and replayed gives what the same step gives
// eagerly (the warm-ups run eagerly; runs after them replay).
TEST(StepGraphCudaTest, ReplayedLinearStepEqualsEagerSteps) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  torch::manual_seed(1);
  torch::nn::Linear eager_model(16, 4), graphed_model(16, 4);
  eager_model->to(cuda);
  graphed_model->to(cuda);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < eager_model->parameters().size(); ++i) {
      graphed_model->parameters()[i].copy_(eager_model->parameters()[i]);
    }
  }
  OptimSpec spec;
  spec.fused = true;
  NamedParameters eager_named, graphed_named;
  for (auto& item : eager_model->named_parameters()) eager_named.emplace_back(item.key(), item.value());
  for (auto& item : graphed_model->named_parameters()) graphed_named.emplace_back(item.key(), item.value());
  auto comm = MakeSingleProcessCommunicator();
  auto eager = MakeParameterUpdater(eager_named, spec, *comm);
  auto graphed = MakeParameterUpdater(graphed_named, spec, *comm);
  ASSERT_TRUE(eager.ok() && graphed.ok());
  const auto fp32 = torch::TensorOptions(torch::kFloat).device(cuda);
  torch::Tensor x = torch::zeros({8, 16}, fp32), lr = torch::zeros({}, fp32), loss = torch::zeros({}, fp32);
  StepGraph graph(cuda, {x, lr}, [&] {
    (*graphed)->ZeroGradientsInPlace();
    torch::Tensor l = graphed_model->forward(x).pow(2).mean();
    l.backward();
    UpdateOnDevice(**graphed, lr, spec.grad_clip, torch::zeros({}, fp32));
    torch::NoGradGuard no_grad;
    loss.copy_(l);
  });
  for (int step = 0; step < 7; ++step) {
    const torch::Tensor input = torch::randn({8, 16}, fp32);
    const double rate = 1e-2 / (1 + step);
    (*eager)->ZeroGradients();
    torch::Tensor l = eager_model->forward(input).pow(2).mean();
    l.backward();
    const double norm = (*eager)->GradNorm();
    if (norm > spec.grad_clip) (*eager)->ScaleGradients(spec.grad_clip / (norm + 1e-6));
    (*eager)->Step(rate);
    ASSERT_TRUE(graph.Run({input, torch::full({}, rate, fp32)}).ok());
    EXPECT_EQ(graph.captured(), step >= 3) << "step " << step;
    EXPECT_NEAR(loss.item<double>(), l.item<double>(), 1e-6 * (1 + l.item<double>())) << "step " << step;
    for (size_t i = 0; i < eager_named.size(); ++i) {
      EXPECT_TRUE(torch::allclose(graphed_named[i].second, eager_named[i].second, 1e-5, 1e-7))
          << "step " << step << " " << eager_named[i].first;
    }
  }
  EXPECT_EQ((*graphed)->State().at("step").item<int64_t>(), 7);
}

// CUDA: the tiny UNet's whole training step captured and replayed, against
// today's eager step (within rounding: CUDA's convolution backward need not
// add in one order).
TEST(StepGraphCudaTest, ReplayedUNetStepEqualsTodaysStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  TinyTraining eager(cuda), graphed(cuda);
  std::unique_ptr<StepGraph> graph = graphed.MakeGraph();
  ExpectSameTraining(eager, graphed, *graph, /*steps=*/7, /*poisoned_step=*/5, /*rtol=*/1e-4);
  EXPECT_TRUE(graph->captured());
}

}  // namespace
}  // namespace align::engine
