#include "worker/models/noise_schedule.h"

#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "worker/models/weights_io.h"
#include "worker/tools/max_relative_error.h"

namespace align::models {
namespace {

NoiseSchedule SdxlSchedule() {
  auto config = diffusers::LoadSchedulerConfig(std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl/scheduler/scheduler_config.json");
  EXPECT_TRUE(config.ok()) << config.status();
  return NoiseSchedule(*config);
}

TEST(NoiseScheduleTest, MatchesDiffusersScaledLinear) {
  auto io = ReadTensors(std::string(ALIGN_GOLDEN_DIR) + "/scheduler/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  NoiseSchedule schedule = SdxlSchedule();
  EXPECT_EQ(schedule.num_train_timesteps(), 1000);
  EXPECT_LT(tools::MaxRelativeError(schedule.alphas_cumprod(), io->at("alphas_cumprod")), 1e-6);
  const auto& x0 = io->at("x0");
  const auto& noise = io->at("noise");
  const auto& t = io->at("timesteps");
  EXPECT_LT(tools::MaxRelativeError(schedule.AddNoise(x0, noise, t), io->at("noisy")), 1e-6);
  EXPECT_LT(tools::MaxRelativeError(schedule.Velocity(x0, noise, t), io->at("velocity")), 1e-6);
  EXPECT_TRUE(torch::equal(schedule.Target(x0, noise, t), noise));
}

TEST(NoiseScheduleTest, LinearBetasAndVPrediction) {
  auto config = diffusers::ParseSchedulerConfig(
      R"({"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
          "num_train_timesteps": 10, "prediction_type": "v_prediction"})");
  ASSERT_TRUE(config.ok()) << config.status();
  NoiseSchedule schedule(*config);
  // alphas_cumprod[k] = prod_{i<=k} (1 - beta_i), beta linear in [1e-4, 2e-2].
  double expected = 1.0;
  for (int k = 0; k < 10; ++k) {
    expected *= 1.0 - (0.0001 + (0.02 - 0.0001) * k / 9.0);
    EXPECT_NEAR(schedule.alphas_cumprod()[k].item<double>(), expected, 1e-6) << k;
  }
  torch::Tensor x0 = torch::randn({2, 4, 3, 3}), noise = torch::randn({2, 4, 3, 3});
  torch::Tensor t = torch::tensor({0, 9});
  EXPECT_TRUE(torch::allclose(schedule.Target(x0, noise, t), schedule.Velocity(x0, noise, t)));
  EXPECT_THROW(schedule.AddNoise(x0, noise, torch::tensor({0, 10})), c10::Error);
}

TEST(NoiseScheduleTest, RejectsUnsupportedSchedulesByName) {
  auto cosine = diffusers::ParseSchedulerConfig(R"({"beta_schedule": "squaredcos_cap_v2"})");
  ASSERT_FALSE(cosine.ok());
  EXPECT_NE(std::string(cosine.status().message()).find("squaredcos_cap_v2"), std::string::npos);
  auto sample = diffusers::ParseSchedulerConfig(R"({"prediction_type": "sample"})");
  ASSERT_FALSE(sample.ok());
  EXPECT_NE(std::string(sample.status().message()).find("prediction_type"), std::string::npos);
  EXPECT_FALSE(diffusers::ParseSchedulerConfig(R"({"num_train_timesteps": "many"})").ok());
  EXPECT_FALSE(diffusers::ParseSchedulerConfig(R"({"rescale_betas_zero_snr": true})").ok());
  EXPECT_FALSE(diffusers::ParseSchedulerConfig("not json").ok());
}

}  // namespace
}  // namespace align::models
