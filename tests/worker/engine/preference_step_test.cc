// The shared forward of training and evaluation on the tiny SD 1.5 UNet: which
// images the policy runs on for each loss.

#include "worker/engine/preference_step.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/diffusers/scheduler_config.h"
#include "common/loss_spec.h"
#include "common/random.h"
#include "worker/models/unet_io.h"

namespace align::engine {
namespace {

const std::string kGolden = ALIGN_GOLDEN_DIR;

class PreferenceStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto fp32 = torch::TensorOptions().dtype(torch::kFloat);
    auto unet = models::LoadUNet(kGolden + "/tiny-sd15/unet", fp32);
    ASSERT_TRUE(unet.ok()) << unet.status();
    policy_ = *unet;
    auto config = diffusers::LoadSchedulerConfig(kGolden + "/tiny-sdxl/scheduler/scheduler_config.json");
    ASSERT_TRUE(config.ok()) << config.status();
    schedule_ = std::make_unique<models::NoiseSchedule>(*config);
  }

  // Two pairs of 8x8 latents and SD 1.5-style conditioning (no pooled, no time ids read).
  PairTensors Batch() const {
    torch::manual_seed(3);
    PairTensors t;
    t.pairs = 2;
    t.latents = torch::randn({4, 4, 8, 8});
    const torch::Tensor prompt = torch::randn({2, 77, policy_->config().cross_attention_dim});
    t.prompt_embeds = torch::cat({prompt, prompt});
    t.time_ids = torch::zeros({4, 6});
    return t;
  }

  // The images the policy UNet ran on in one training forward.
  int64_t CountedPolicySamples(LossType type, StepResult* result) {
    LossSpec spec;
    spec.type = type;
    auto loss = MakeLoss(spec, schedule_->num_train_timesteps());
    EXPECT_TRUE(loss.ok()) << loss.status();
    models::UNet2DConditionModel reference{nullptr};
    if ((*loss)->needs_reference()) {
      auto ref = models::LoadUNet(kGolden + "/tiny-sd15/unet", torch::TensorOptions().dtype(torch::kFloat));
      EXPECT_TRUE(ref.ok());
      reference = *ref;
    }
    PreferenceStep step(policy_, reference, *schedule_, **loss, torch::kCPU, /*bf16=*/false);
    const PairTensors batch = Batch();
    NoiseDraws draws = DrawNoise(7, RandomStream::kNoise, 0, {0, 1}, batch.latents.sizes().slice(1),
                                 schedule_->num_train_timesteps(), torch::kCPU);
    *result = step.Forward(batch, draws, /*train=*/true);
    EXPECT_TRUE(std::isfinite(result->out.loss.item<double>()));
    return result->policy_samples;
  }

  models::UNet2DConditionModel policy_{nullptr};
  std::unique_ptr<models::NoiseSchedule> schedule_;
};

TEST_F(PreferenceStepTest, SftRunsThePolicyOnThePreferredHalfOnly) {
  StepResult dpo, sft, mapo;
  EXPECT_EQ(CountedPolicySamples(LossType::kDpo, &dpo), 4);
  EXPECT_EQ(CountedPolicySamples(LossType::kMapo, &mapo), 4);
  EXPECT_EQ(CountedPolicySamples(LossType::kSft, &sft), 2);
  // The preferred half's error is the same whichever half-batch computed it.
  EXPECT_NEAR(sft.policy_w, dpo.policy_w, 1e-5 * (1 + std::abs(dpo.policy_w)));
  EXPECT_NEAR(sft.out.loss.item<double>(), dpo.policy_w, 1e-5 * (1 + std::abs(dpo.policy_w)));
  sft.out.loss.backward();
  bool has_gradient = false;
  for (const auto& p : policy_->parameters()) has_gradient = has_gradient || p.grad().defined();
  EXPECT_TRUE(has_gradient);
}

TEST_F(PreferenceStepTest, SftEvaluationStillRunsBothHalves) {
  LossSpec spec;
  spec.type = LossType::kSft;
  auto loss = MakeLoss(spec, schedule_->num_train_timesteps());
  ASSERT_TRUE(loss.ok());
  PreferenceStep step(policy_, models::UNet2DConditionModel{nullptr}, *schedule_, **loss, torch::kCPU, false);
  const PairTensors batch = Batch();
  NoiseDraws draws = DrawNoise(7, RandomStream::kEval, 0, {0, 1}, batch.latents.sizes().slice(1),
                               schedule_->num_train_timesteps(), torch::kCPU);
  torch::NoGradGuard no_grad;
  StepResult r = step.Forward(batch, draws, /*train=*/false);
  EXPECT_EQ(r.policy_samples, 4);
  EXPECT_GT(r.policy_l, 0.0);
}

}  // namespace
}  // namespace align::engine
