// The inference samplers against diffusers 0.40: every reference case in
// tests/data/golden/samplers replayed step by step, timesteps diffusers would
// pick for other step counts and spacings (worked out by hand from its
// formulas), v-prediction against the closed form, rejection of unsupported
// options by name, and the keyed sampler noise.

#include <cmath>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "nlohmann/json.hpp"
#include "worker/models/weights_io.h"
#include "worker/sampling/make_sampler.h"
#include "worker/sampling/sampler_config.h"
#include "worker/sampling/sampler_noise.h"
#include "worker/sampling/verify_sampler.h"
#include "worker/tools/max_relative_error.h"

namespace align::sampling {
namespace {

const std::string kCases = std::string(ALIGN_GOLDEN_DIR) + "/samplers";

std::unique_ptr<Sampler> Build(const std::string& json, int64_t steps, const std::string& name = "") {
  auto config = ParseSamplerConfig(json, name);
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return nullptr;
  std::unique_ptr<Sampler> sampler = MakeSampler(*config);
  const absl::Status set = sampler->SetTimesteps(steps);
  EXPECT_TRUE(set.ok()) << set;
  return sampler;
}

std::vector<double> Timesteps(const std::string& json, int64_t steps, const std::string& name = "") {
  std::unique_ptr<Sampler> sampler = Build(json, steps, name);
  return sampler ? sampler->timesteps() : std::vector<double>{};
}

std::vector<std::string> CaseNames() {
  std::ifstream in(kCases + "/cases.json");
  const nlohmann::json cases = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> names;
  if (cases.is_array()) {
    for (const auto& c : cases) names.push_back(c.value("case", ""));
  }
  return names;
}

TEST(SamplerGoldenTest, EveryCaseMatchesDiffusers) {
  const std::vector<std::string> names = CaseNames();
  ASSERT_EQ(names.size(), 5u);
  for (const std::string& name : names) {
    std::ostringstream out, err;
    const int rc = RunVerifySampler({kCases + "/" + name, 0}, out, err);
    EXPECT_EQ(rc, 0) << name << ": " << out.str() << err.str();
    const nlohmann::json line = nlohmann::json::parse(out.str(), nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(line.is_object()) << name << ": " << out.str() << err.str();
    for (const auto& [key, error] : line["max_rel_err"].items()) {
      EXPECT_LE(error.get<double>(), 1e-5) << name << " " << key;
    }
    EXPECT_EQ(line["max_rel_err"]["timesteps"].get<double>(), 0.0) << name;
    EXPECT_TRUE(line["max_rel_err"].contains("sample")) << name;
  }
}

TEST(SamplerGoldenTest, StochasticStepsUseTheGivenNoise) {
  // Replaying the ancestral case with other noise must move the result.
  auto config = LoadSamplerConfig(kCases + "/euler-ancestral/scheduler_config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  auto io = models::ReadTensors(kCases + "/euler-ancestral/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  std::unique_ptr<Sampler> sampler = MakeSampler(*config);
  ASSERT_TRUE(sampler->SetTimesteps(5).ok());
  ASSERT_TRUE(sampler->StepNeedsNoise(0));
  EXPECT_FALSE(sampler->Step(io->at("model_output_0"), 0, io->at("sample_0"), nullptr).ok());
  const torch::Tensor other = -io->at("noise_0");
  auto step = sampler->Step(io->at("model_output_0"), 0, io->at("sample_0"), &other);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_GT(tools::MaxRelativeError(step->prev_sample, io->at("sample_1")), 1e-2);
}

// Timesteps for other step counts and spacings, by hand from diffusers' formulas.
TEST(SamplerTimestepsTest, EulerSpacings) {
  // leading: step_ratio = 1000 // 10 = 100; arange(10) * 100 reversed, + steps_offset 1.
  EXPECT_EQ(Timesteps(R"({"timestep_spacing": "leading", "steps_offset": 1})", 10, "euler"),
            (std::vector<double>{901, 801, 701, 601, 501, 401, 301, 201, 101, 1}));
  // trailing: round(arange(1000, 0, -250)) - 1.
  EXPECT_EQ(Timesteps(R"({"timestep_spacing": "trailing"})", 4, "euler"), (std::vector<double>{999, 749, 499, 249}));
  // linspace (Euler's default): linspace(0, 999, 4) = 0, 333, 666, 999, unrounded float32, reversed.
  EXPECT_EQ(Timesteps("{}", 4, "euler"), (std::vector<double>{999, 666, 333, 0}));
  // linspace(0, 999, 3) = 0, 499.5, 999: Euler keeps the half (float32), DDIM rounds it to even (500).
  EXPECT_EQ(Timesteps("{}", 3, "euler"), (std::vector<double>{999, 499.5, 0}));
  EXPECT_EQ(Timesteps(R"({"timestep_spacing": "linspace"})", 3, "ddim"), (std::vector<double>{999, 500, 0}));
}

TEST(SamplerTimestepsTest, DdimRoundsHalvesToEven) {
  // linspace(0, 999, 7) steps by 166.5: 166.5 -> 166, 499.5 -> 500, 832.5 -> 832 (numpy rounds halves to even).
  EXPECT_EQ(Timesteps(R"({"timestep_spacing": "linspace"})", 7, "ddim"),
            (std::vector<double>{999, 832, 666, 500, 333, 166, 0}));
  // trailing, 16 steps: arange(1000, 0, -62.5) holds 937.5 -> 938 and 812.5 -> 812, minus 1.
  const std::vector<double> trailing = Timesteps(R"({"timestep_spacing": "trailing"})", 16, "ddim");
  ASSERT_EQ(trailing.size(), 16u);
  EXPECT_EQ(trailing[0], 999);
  EXPECT_EQ(trailing[1], 937);
  EXPECT_EQ(trailing[2], 874);
  EXPECT_EQ(trailing[3], 811);
  EXPECT_EQ(trailing[15], 61);
  // DDIM's default is leading: 1000 // 4 = 250.
  EXPECT_EQ(Timesteps("{}", 4, "ddim"), (std::vector<double>{750, 500, 250, 0}));
}

TEST(SamplerTimestepsTest, DpmSolverTakesOneMorePointAndDropsZero) {
  // leading: 1000 // (5 + 1) = 166; arange(6) * 166 reversed without the 0, + 1.
  EXPECT_EQ(Timesteps(R"({"timestep_spacing": "leading", "steps_offset": 1})", 5, "dpmpp-2m"),
            (std::vector<double>{831, 665, 499, 333, 167}));
  // linspace(0, 999, 6) = 0, 199.8, 399.6, 599.4, 799.2, 999 rounded, reversed, without the 0.
  EXPECT_EQ(Timesteps("{}", 5, "dpmpp-2m"), (std::vector<double>{999, 799, 599, 400, 200}));
}

TEST(SamplerTimestepsTest, LcmPicksFromTheDistillationSchedule) {
  // k = 1000 // 50 = 20; schedule 20 j - 1 for j = 50..1; indices floor(linspace(0, 50, n, endpoint=False)).
  EXPECT_EQ(Timesteps("{}", 4, "lcm"), (std::vector<double>{999, 759, 499, 259}));  // indices 0, 12, 25, 37
  EXPECT_EQ(Timesteps("{}", 2, "lcm"), (std::vector<double>{999, 499}));             // indices 0, 25
  EXPECT_EQ(Timesteps(R"({"original_inference_steps": 10})", 3, "lcm"),
            (std::vector<double>{999, 699, 399}));  // k = 100; indices 0, 3, 6
  auto config = ParseSamplerConfig("{}", "lcm");
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(MakeSampler(*config)->SetTimesteps(51).ok());  // more than original_inference_steps
}

TEST(SamplerTimestepsTest, KarrasSigmasSpanTheTrainingRange) {
  std::unique_ptr<Sampler> dpm = Build(
      R"({"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "use_karras_sigmas": true})", 10,
      "dpmpp-2m");
  ASSERT_TRUE(dpm);
  ASSERT_EQ(dpm->sigmas().size(), 11u);
  EXPECT_EQ(dpm->sigmas().back(), 0.0f);
  // The ramp runs from the training schedule's largest sigma (t = 999) to its smallest (t = 0).
  EXPECT_NEAR(dpm->sigmas().front(), 14.6146, 1e-3);
  EXPECT_NEAR(dpm->sigmas()[9], 0.0292, 1e-3);
  EXPECT_EQ(dpm->timesteps().front(), 999);
  EXPECT_EQ(dpm->timesteps().back(), 0);
  for (size_t i = 1; i < dpm->sigmas().size(); ++i) EXPECT_LT(dpm->sigmas()[i], dpm->sigmas()[i - 1]);
}

TEST(SamplerTimestepsTest, ZeroTerminalSnrKeepsTheFirstSigmaFinite) {
  // alphas_cumprod[-1] is rescaled to 0, then clamped to 2^-24: sigma = sqrt((1 - 2^-24) / 2^-24) ~ 4096.
  std::unique_ptr<Sampler> euler =
      Build(R"({"rescale_betas_zero_snr": true, "timestep_spacing": "trailing"})", 4, "euler");
  ASSERT_TRUE(euler);
  EXPECT_NEAR(euler->sigmas().front(), 4096.0, 0.5);
  EXPECT_NEAR(euler->init_noise_sigma(), 4096.0, 0.5);  // trailing: sigma_max itself
}

// v-prediction: x0 = alpha_t x - sigma_t v in the variance-preserving
// parametrisation; checked against that closed form in float64.
TEST(SamplerPredictionTest, DdimVPredictionMatchesTheFormula) {
  const std::string json = R"({"num_train_timesteps": 10, "beta_schedule": "linear", "beta_start": 0.0001,
      "beta_end": 0.02, "prediction_type": "v_prediction", "clip_sample": false, "set_alpha_to_one": false})";
  std::unique_ptr<Sampler> ddim = Build(json, 2, "ddim");
  ASSERT_TRUE(ddim);
  ASSERT_EQ(ddim->timesteps(), (std::vector<double>{5, 0}));  // leading, 10 // 2 = 5
  // alphas_cumprod[k] = prod_{i <= k} (1 - beta_i), beta_i = 1e-4 + (0.02 - 1e-4) i / 9.
  std::vector<double> alpha_bar;
  double product = 1;
  for (int i = 0; i < 10; ++i) alpha_bar.push_back(product *= 1 - (0.0001 + (0.02 - 0.0001) * i / 9.0));
  torch::manual_seed(3);
  const torch::Tensor x = torch::randn({2, 4, 3, 3}), v = torch::randn({2, 4, 3, 3});
  const double a = alpha_bar[5], a_prev = alpha_bar[0];  // prev timestep 5 - 10 // 2 = 0
  const torch::Tensor xd = x.to(torch::kDouble), vd = v.to(torch::kDouble);
  const torch::Tensor x0 = std::sqrt(a) * xd - std::sqrt(1 - a) * vd;
  const torch::Tensor eps = std::sqrt(a) * vd + std::sqrt(1 - a) * xd;
  const torch::Tensor expected = std::sqrt(a_prev) * x0 + std::sqrt(1 - a_prev) * eps;
  auto step = ddim->Step(v, 0, x, nullptr);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_LT(tools::MaxRelativeError(step->prev_sample, expected), 1e-5);
}

TEST(SamplerPredictionTest, EulerVPredictionMatchesTheFormula) {
  std::unique_ptr<Sampler> euler = Build(R"({"prediction_type": "v_prediction"})", 5, "euler");
  ASSERT_TRUE(euler);
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({1, 4, 4, 4}), v = torch::randn({1, 4, 4, 4});
  const double s = euler->sigmas()[1], s_next = euler->sigmas()[2];
  // In sigma units x = x0 + s eps and v = (eps - s x0) / sqrt(s^2 + 1) (Salimans & Ho), so
  // x0 = x / (s^2 + 1) - s v / sqrt(s^2 + 1); the Euler step follows (x - x0) / s to s_next.
  const torch::Tensor xd = x.to(torch::kDouble), vd = v.to(torch::kDouble);
  const torch::Tensor x0 = xd / (s * s + 1) - s * vd / std::sqrt(s * s + 1);
  const torch::Tensor expected = xd + (xd - x0) / s * (s_next - s);
  auto step = euler->Step(v, 1, x, nullptr);
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_LT(tools::MaxRelativeError(step->prev_sample, expected), 1e-5);
  EXPECT_LT(tools::MaxRelativeError(euler->ScaleModelInput(x, 1), xd / std::sqrt(s * s + 1)), 1e-6);
}

void ExpectRejected(const std::string& json, const std::string& sampler, const std::string& option,
                    const std::string& value) {
  auto config = ParseSamplerConfig(json, sampler);
  ASSERT_FALSE(config.ok()) << json;
  const std::string message(config.status().message());
  EXPECT_NE(message.find(option), std::string::npos) << message;
  EXPECT_NE(message.find(value), std::string::npos) << message;
}

TEST(SamplerConfigTest, RejectsUnsupportedOptionsByName) {
  ExpectRejected(R"({"thresholding": true})", "ddim", "thresholding", "true");
  ExpectRejected(R"({"thresholding": true})", "lcm", "thresholding", "true");
  ExpectRejected(R"({"use_exponential_sigmas": true})", "euler", "use_exponential_sigmas", "true");
  ExpectRejected(R"({"use_beta_sigmas": true})", "dpmpp-2m", "use_beta_sigmas", "true");
  ExpectRejected(R"({"algorithm_type": "sde-dpmsolver++"})", "dpmpp-2m", "algorithm_type", "sde-dpmsolver++");
  ExpectRejected(R"({"solver_order": 3})", "dpmpp-2m", "solver_order", "3");
  ExpectRejected(R"({"lambda_min_clipped": -5.1})", "dpmpp-2m", "lambda_min_clipped", "-5.1");
  ExpectRejected(R"({"interpolation_type": "log_linear"})", "euler", "interpolation_type", "log_linear");
  ExpectRejected(R"({"timestep_type": "continuous"})", "euler", "timestep_type", "continuous");
  ExpectRejected(R"({"final_sigmas_type": "sigma_max"})", "euler", "final_sigmas_type", "sigma_max");
  ExpectRejected(R"({"prediction_type": "sample"})", "euler-ancestral", "prediction_type", "sample");
  ExpectRejected(R"({"prediction_type": "flow_prediction"})", "dpmpp-2m", "prediction_type", "flow_prediction");
  ExpectRejected(R"({"timestep_spacing": "karras"})", "euler", "timestep_spacing", "karras");
  ExpectRejected(R"({"beta_schedule": "squaredcos_cap_v2"})", "ddim", "beta_schedule", "squaredcos_cap_v2");
  ExpectRejected(R"({"_class_name": "HeunDiscreteScheduler"})", "", "sampler", "HeunDiscreteScheduler");
  EXPECT_FALSE(ParseSamplerConfig("{}", "").ok());  // no _class_name and no name given
}

TEST(SamplerConfigTest, ReadsTheClassAndTheNameOverridesIt) {
  auto euler = LoadSamplerConfig(kCases + "/euler/scheduler_config.json");
  ASSERT_TRUE(euler.ok()) << euler.status();
  EXPECT_EQ(euler->kind, SamplerKind::kEuler);
  EXPECT_EQ(euler->timestep_spacing, diffusers::TimestepSpacing::kLeading);
  EXPECT_EQ(euler->schedule.steps_offset, 1);
  auto as_ddim = LoadSamplerConfig(kCases + "/euler/scheduler_config.json", "DDIMScheduler");
  ASSERT_TRUE(as_ddim.ok()) << as_ddim.status();
  EXPECT_EQ(as_ddim->kind, SamplerKind::kDdim);
  EXPECT_TRUE(as_ddim->clip_sample);  // DDIM's default when the file does not say
  // A model folder: <dir>/scheduler/scheduler_config.json.
  auto sdxl = LoadSamplerConfig(std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl");
  ASSERT_TRUE(sdxl.ok()) << sdxl.status();
  // DPM-Solver's file holds a bare -Infinity (Python's json); both parsers read it.
  auto dpm = LoadSamplerConfig(kCases + "/dpmpp-2m/scheduler_config.json");
  ASSERT_TRUE(dpm.ok()) << dpm.status();
  EXPECT_EQ(dpm->kind, SamplerKind::kDpmSolverMultistep);
  EXPECT_TRUE(diffusers::LoadSchedulerConfig(kCases + "/dpmpp-2m/scheduler_config.json").ok());
}

TEST(SamplerNoiseTest, KeyedBySeedStepAndSampleIndex) {
  const torch::Tensor batch = DrawSamplerNoise(7, 3, 0, {2, 4, 8, 8});
  EXPECT_TRUE(torch::equal(batch, DrawSamplerNoise(7, 3, 0, {2, 4, 8, 8})));
  // Sample 1 alone draws what it drew as the second of a batch of 2.
  EXPECT_TRUE(torch::equal(batch[1].unsqueeze(0), DrawSamplerNoise(7, 3, 1, {1, 4, 8, 8})));
  EXPECT_FALSE(torch::equal(batch, DrawSamplerNoise(7, 4, 0, {2, 4, 8, 8})));
  EXPECT_FALSE(torch::equal(batch, DrawSamplerNoise(8, 3, 0, {2, 4, 8, 8})));
  const torch::Tensor many = DrawSamplerNoise(1, 0, 0, {4, 4, 64, 64});
  EXPECT_NEAR(many.mean().item<double>(), 0.0, 0.02);
  EXPECT_NEAR(many.std().item<double>(), 1.0, 0.02);
}

TEST(SamplerStepTest, DpmSolverStepsRunInOrder) {
  std::unique_ptr<Sampler> dpm = Build("{}", 4, "dpmpp-2m");
  ASSERT_TRUE(dpm);
  const torch::Tensor x = torch::randn({1, 4, 2, 2});
  EXPECT_FALSE(dpm->Step(x, 1, x, nullptr).ok());  // step 1 without step 0's history
  EXPECT_TRUE(dpm->Step(x, 0, x, nullptr).ok());
  EXPECT_TRUE(dpm->Step(x, 1, x, nullptr).ok());
  EXPECT_FALSE(dpm->Step(x, 4, x, nullptr).ok());  // past the schedule
}

}  // namespace
}  // namespace align::sampling
