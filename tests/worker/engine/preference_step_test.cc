// The shared forward of training and evaluation: which images the policy runs
// on for each loss (the tiny SD 1.5 UNet), and the LoRA policy with its
// adapters off as the reference (the tiny SDXL UNet).

#include "worker/engine/preference_step.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/diffusers/scheduler_config.h"
#include "common/loss_spec.h"
#include "common/random.h"
#include "worker/engine/losses.h"
#include "worker/models/lora.h"
#include "worker/models/noise_schedule.h"
#include "worker/models/unet_io.h"
#include "worker/models/weights_io.h"

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

const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

models::UNet2DConditionModel TinyUNet() {
  auto unet = models::LoadUNet(kTiny + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_TRUE(unet.ok()) << unet.status();
  return *unet;
}

// `reference: base`: the LoRA policy with its adapters off is the reference,
// and gives what a separate frozen copy of the base model gives.
TEST(PreferenceStepBaseReferenceTest, BaseReferenceEqualsASeparateBaseModel) {
  auto io = models::ReadTensors(kTiny + "/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  PairTensors batch;
  batch.pairs = 1;  // the io's two samples as (preferred, rejected)
  batch.latents = io->at("sample");
  batch.prompt_embeds = io->at("encoder_hidden_states");
  batch.pooled = io->at("text_embeds");
  batch.time_ids = io->at("time_ids");
  auto sched = diffusers::LoadSchedulerConfig(kTiny + "/scheduler/scheduler_config.json");
  ASSERT_TRUE(sched.ok()) << sched.status();
  models::NoiseSchedule schedule(*sched);
  auto loss = MakeLoss(LossSpec{}, schedule.num_train_timesteps());
  ASSERT_TRUE(loss.ok()) << loss.status();
  NoiseDraws draws = DrawNoise(7, RandomStream::kNoise, 0, {0}, batch.latents.sizes().slice(1),
                               schedule.num_train_timesteps(), torch::kCPU);

  models::UNet2DConditionModel policy = TinyUNet();
  for (auto& p : policy->parameters()) p.set_requires_grad(false);
  ASSERT_TRUE(models::InjectLora(*policy, {"to_q", "to_k", "to_v", "to_out.0"}, models::LoraConfig{4, 8, 0}, 1).ok());
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : models::LoraParameters(*policy)) p.normal_(0, 0.1);
  }
  PreferenceStep one_unet(policy, models::UNet2DConditionModel(nullptr), schedule, **loss, torch::kCPU, false,
                          /*reference_is_base=*/true);
  StepResult a = one_unet.Forward(batch, draws, /*train=*/false);

  models::UNet2DConditionModel base = TinyUNet();
  base->eval();
  PreferenceStep two_unets(policy, base, schedule, **loss, torch::kCPU, false);
  StepResult b = two_unets.Forward(batch, draws, /*train=*/false);

  EXPECT_EQ(a.reference_w, b.reference_w);
  EXPECT_EQ(a.reference_l, b.reference_l);
  EXPECT_EQ(a.policy_w, b.policy_w);
  EXPECT_NE(a.policy_w, a.reference_w) << "the adapters change the policy";
  // The adapters are on again after the reference's forward.
  for (auto& [layer, lora] : models::FindLora(*policy)) EXPECT_TRUE(lora->active()) << layer;
}

}  // namespace
}  // namespace align::engine
