#include "worker/engine/preference_step.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/diffusers/scheduler_config.h"
#include "common/loss_spec.h"
#include "worker/engine/losses.h"
#include "worker/models/lora.h"
#include "worker/models/noise_schedule.h"
#include "worker/models/unet_io.h"
#include "worker/models/weights_io.h"

namespace align::engine {
namespace {

const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

models::UNet2DConditionModel TinyUNet() {
  auto unet = models::LoadUNet(kTiny + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_TRUE(unet.ok()) << unet.status();
  return *unet;
}

// `reference: base`: the LoRA policy with its adapters off is the reference,
// and gives what a separate frozen copy of the base model gives.
TEST(PreferenceStepTest, BaseReferenceEqualsASeparateBaseModel) {
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
