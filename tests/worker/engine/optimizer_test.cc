#include "worker/engine/optimizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "worker/engine/lr_schedule.h"

namespace align::engine {
namespace {

TEST(AdamWTest, TwoStepsMatchTheFormula) {
  OptimSpec spec;
  spec.beta1 = 0.9;
  spec.beta2 = 0.99;
  spec.eps = 1e-8;
  spec.weight_decay = 0.1;
  torch::Tensor p = torch::tensor({1.0, -2.0}, torch::kFloat).set_requires_grad(true);
  auto opt = MakeAdamW({{"p", p}}, spec);
  const double lr = 0.01;
  double x[2] = {1.0, -2.0}, m[2] = {0, 0}, v[2] = {0, 0};
  const double g[2][2] = {{0.5, -1.0}, {0.25, 2.0}};
  for (int t = 1; t <= 2; ++t) {
    p.mutable_grad() = torch::tensor({g[t - 1][0], g[t - 1][1]}, torch::kFloat);
    opt->Step(lr);
    for (int i = 0; i < 2; ++i) {
      x[i] *= 1 - lr * 0.1;
      m[i] = 0.9 * m[i] + 0.1 * g[t - 1][i];
      v[i] = 0.99 * v[i] + 0.01 * g[t - 1][i] * g[t - 1][i];
      const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.99, t));
      x[i] -= lr * mh / (std::sqrt(vh) + 1e-8);
      EXPECT_NEAR(p[i].item<double>(), x[i], 1e-6) << "step " << t << " i " << i;
    }
  }
}

// optim.fused: ATen's multi-tensor kernel gives the plain update up to float
// rounding, over parameters of several shapes and steps, with weight decay.
TEST(AdamWTest, FusedUpdateMatchesThePlainOne) {
  OptimSpec spec;
  spec.weight_decay = 0.01;
  spec.beta2 = 0.99;
  torch::manual_seed(5);
  const std::vector<std::vector<int64_t>> shapes = {{4, 3, 3, 3}, {17}, {8, 5}, {1}};
  NamedParameters plain_params, fused_params;
  for (size_t i = 0; i < shapes.size(); ++i) {
    torch::Tensor init = torch::randn(shapes[i]);
    plain_params.emplace_back("p" + std::to_string(i), init.clone().set_requires_grad(true));
    fused_params.emplace_back("p" + std::to_string(i), init.clone().set_requires_grad(true));
  }
  auto plain = MakeAdamW(plain_params, spec);
  spec.fused = true;
  auto fused = MakeAdamW(fused_params, spec);
  for (int step = 1; step <= 6; ++step) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      torch::Tensor g = torch::randn(shapes[i]) * (step % 2 == 0 ? 10.0 : 0.01);
      plain_params[i].second.mutable_grad() = g.clone();
      // A parameter without a gradient this step is left alone by both.
      fused_params[i].second.mutable_grad() = (i == 3 && step == 2) ? torch::Tensor() : g.clone();
      if (i == 3 && step == 2) plain_params[i].second.mutable_grad() = torch::Tensor();
    }
    plain->Step(1e-3 * step);
    fused->Step(1e-3 * step);
    for (size_t i = 0; i < shapes.size(); ++i) {
      const torch::Tensor& a = plain_params[i].second;
      const torch::Tensor& b = fused_params[i].second;
      EXPECT_LE((a - b).abs().max().item<double>(), 1e-6 * std::max(1.0, a.abs().max().item<double>()))
          << "step " << step << " param " << i;
    }
  }
  const auto plain_state = plain->State();
  const auto fused_state = fused->State();
  ASSERT_EQ(plain_state.size(), fused_state.size());
  for (const auto& [key, tensor] : plain_state) {
    ASSERT_TRUE(fused_state.count(key)) << key;
    EXPECT_TRUE(torch::allclose(tensor.to(torch::kDouble), fused_state.at(key).to(torch::kDouble), 1e-5, 1e-9))
        << key;
  }
}

TEST(AdafactorTest, FactoredUpdateMatchesTheFormula) {
  OptimSpec spec;
  spec.weight_decay = 0;
  torch::Tensor p = torch::tensor({{1.0, 2.0}, {3.0, 4.0}}, torch::kDouble).set_requires_grad(true);
  torch::Tensor g = torch::tensor({{0.1, -0.2}, {0.3, 0.4}}, torch::kDouble);
  auto opt = MakeAdafactor({{"p", p}}, spec);
  p.mutable_grad() = g.clone();
  opt->Step(0.5);
  // step 1: beta2t = 1 - 1^-0.8 = 0, so the moments are this step's means.
  torch::Tensor sq = g * g + 1e-30;
  torch::Tensor row = sq.mean(-1), col = sq.mean(-2);
  torch::Tensor update = (row / row.mean()).rsqrt().unsqueeze(-1) * col.unsqueeze(-2).rsqrt() * g;
  const double rms = update.pow(2).mean().sqrt().item<double>();
  update = update / std::max(1.0, rms) * 0.5;
  torch::Tensor expected = torch::tensor({{1.0, 2.0}, {3.0, 4.0}}, torch::kDouble) - update;
  EXPECT_TRUE(torch::allclose(p.detach(), expected, 1e-6, 1e-9)) << p << expected;
}

TEST(OptimizerTest, StateRoundTripsAndIsChecked) {
  OptimSpec spec;
  torch::Tensor p = torch::ones({3}).set_requires_grad(true);
  auto opt = MakeAdamW({{"w", p}}, spec);
  p.mutable_grad() = torch::full({3}, 0.5);
  opt->Step(0.1);
  auto state = opt->State();
  EXPECT_EQ(state.at("step").item<int64_t>(), 1);
  ASSERT_TRUE(state.count("w.exp_avg") && state.count("w.exp_avg_sq"));
  torch::Tensor q = torch::ones({3}).set_requires_grad(true);
  auto other = MakeAdamW({{"w", q}}, spec);
  ASSERT_TRUE(other->LoadState(state).ok());
  EXPECT_TRUE(torch::equal(other->State().at("w.exp_avg"), state.at("w.exp_avg")));
  state.erase("w.exp_avg");
  EXPECT_FALSE(other->LoadState(state).ok());
}

// The step a captured CUDA graph replays: the fused update with the learning
// rate and the step count in tensors, a skip flag instead of the caller's
// branch. Against the fused Step over steps with a changing learning rate
// and one skipped step (the caller does not call Step).
TEST(AdamWOnDeviceTest, MatchesTheFusedStepWithAChangingLrAndASkippedStep) {
  OptimSpec spec;
  spec.weight_decay = 0.01;
  spec.beta2 = 0.99;
  spec.fused = true;
  torch::manual_seed(7);
  const std::vector<std::vector<int64_t>> shapes = {{4, 3, 3, 3}, {17}, {8, 5}, {1}};
  NamedParameters host_params, device_params;
  for (size_t i = 0; i < shapes.size(); ++i) {
    torch::Tensor init = torch::randn(shapes[i]);
    host_params.emplace_back("p" + std::to_string(i), init.clone().set_requires_grad(true));
    device_params.emplace_back("p" + std::to_string(i), init.clone().set_requires_grad(true));
  }
  auto host = MakeAdamW(host_params, spec);
  auto device = MakeAdamW(device_params, spec);
  ASSERT_TRUE(device->CanStepOnDevice().ok());
  const torch::Tensor lr = torch::zeros({}, torch::kFloat), skip = torch::zeros({}, torch::kFloat);
  const std::vector<double> lrs = {1e-3, 2e-3, 5e-4, 3e-3, 1e-4, 7e-4};
  const int skipped_step = 3;
  for (size_t step = 0; step < lrs.size(); ++step) {
    for (size_t i = 0; i < shapes.size(); ++i) {
      const torch::Tensor g = torch::randn(shapes[i]);
      host_params[i].second.mutable_grad() = g.clone();
      device_params[i].second.mutable_grad() = g.clone();
    }
    const bool skipped = step == skipped_step;
    if (!skipped) host->Step(lrs[step]);
    // What a step copies into the graph's static inputs before it replays.
    lr.copy_(torch::full({}, lrs[step], torch::kFloat));
    skip.fill_(skipped ? 1.0 : 0.0);
    device->StepOnDevice(lr, skip);
    for (size_t i = 0; i < shapes.size(); ++i) {
      EXPECT_TRUE(torch::allclose(device_params[i].second, host_params[i].second, /*rtol=*/1e-6, /*atol=*/1e-7))
          << "step " << step << " param " << i;
    }
    const auto host_state = host->State(), device_state = device->State();
    EXPECT_EQ(device_state.at("step").item<int64_t>(), host_state.at("step").item<int64_t>()) << "step " << step;
    for (const auto& [key, value] : host_state) {
      if (key == "step") continue;
      EXPECT_TRUE(torch::allclose(device_state.at(key), value, 1e-6, 1e-9)) << key << " after step " << step;
    }
  }
  EXPECT_EQ(device->State().at("step").item<int64_t>(), static_cast<int64_t>(lrs.size()) - 1);
}

// A skipped device step changes nothing, bit for bit.
TEST(AdamWOnDeviceTest, SkipLeavesParametersAndMomentsAsTheyWere) {
  OptimSpec spec;
  spec.fused = true;
  torch::Tensor p = torch::randn({5}).set_requires_grad(true);
  auto opt = MakeAdamW({{"p", p}}, spec);
  p.mutable_grad() = torch::randn({5});
  opt->StepOnDevice(torch::full({}, 1e-2, torch::kFloat), torch::zeros({}, torch::kFloat));
  const torch::Tensor p_before = p.detach().clone();
  const auto state_before = opt->State();
  p.mutable_grad() = torch::full({5}, std::nan(""));
  opt->StepOnDevice(torch::full({}, 1e-2, torch::kFloat), torch::ones({}, torch::kFloat));
  EXPECT_TRUE(torch::equal(p.detach(), p_before));
  for (const auto& [key, value] : opt->State()) EXPECT_TRUE(torch::equal(value, state_before.at(key))) << key;
}

// As Step does, the device step leaves a parameter without a gradient alone
// (weight decay included) and updates the others.
TEST(AdamWOnDeviceTest, AParameterWithoutAGradientIsLeftAlone) {
  OptimSpec spec;
  spec.fused = true;
  spec.weight_decay = 0.1;
  torch::Tensor used = torch::randn({4}).set_requires_grad(true), idle = torch::randn({2}).set_requires_grad(true);
  const torch::Tensor used_before = used.detach().clone(), idle_before = idle.detach().clone();
  auto opt = MakeAdamW({{"used", used}, {"idle", idle}}, spec);
  used.mutable_grad() = torch::randn({4});
  opt->StepOnDevice(torch::full({}, 1e-2, torch::kFloat), torch::zeros({}, torch::kFloat));
  EXPECT_FALSE(torch::equal(used.detach(), used_before));
  EXPECT_TRUE(torch::equal(idle.detach(), idle_before));
  EXPECT_FALSE(idle.grad().defined());
  EXPECT_EQ(opt->State().at("step").item<int64_t>(), 1);
}

// Eager steps after device ones, and a loaded state, continue one count.
TEST(AdamWOnDeviceTest, EagerStepsAndLoadStateKeepOneStepCount) {
  OptimSpec spec;
  spec.fused = true;
  torch::Tensor p = torch::randn({3}).set_requires_grad(true);
  auto opt = MakeAdamW({{"p", p}}, spec);
  const torch::Tensor lr = torch::full({}, 1e-3, torch::kFloat), go = torch::zeros({}, torch::kFloat);
  p.mutable_grad() = torch::randn({3});
  opt->Step(1e-3);
  opt->StepOnDevice(lr, go);
  opt->StepOnDevice(lr, go);
  EXPECT_EQ(opt->State().at("step").item<int64_t>(), 3);
  opt->Step(1e-3);  // a last partial batch, eagerly
  EXPECT_EQ(opt->State().at("step").item<int64_t>(), 4);
  opt->StepOnDevice(lr, go);
  EXPECT_EQ(opt->State().at("step").item<int64_t>(), 5);
  auto state = opt->State();
  state["step"] = torch::tensor({int64_t{40}});
  ASSERT_TRUE(opt->LoadState(state).ok());
  opt->StepOnDevice(lr, go);
  EXPECT_EQ(opt->State().at("step").item<int64_t>(), 41);
}

TEST(AdamWOnDeviceTest, OnlyTheFusedAdamWStepsOnTheDevice) {
  OptimSpec spec;
  torch::Tensor p = torch::randn({3}).set_requires_grad(true);
  EXPECT_FALSE(MakeAdamW({{"p", p}}, spec)->CanStepOnDevice().ok());
  spec.name = OptimizerName::kAdafactor;
  spec.fused = true;
  EXPECT_FALSE(MakeOptimizer({{"p", p}}, spec)->CanStepOnDevice().ok());
  spec.name = OptimizerName::kAdamW;
  EXPECT_TRUE(MakeOptimizer({{"p", p}}, spec)->CanStepOnDevice().ok());
}

TEST(LrScheduleTest, WarmupThenConstantOrCosine) {
  OptimSpec spec;
  spec.lr = 1.0;
  spec.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(LearningRate(spec, 0, 100), 0.0);
  EXPECT_DOUBLE_EQ(LearningRate(spec, 2, 100), 0.5);
  EXPECT_DOUBLE_EQ(LearningRate(spec, 4, 100), 1.0);
  EXPECT_DOUBLE_EQ(LearningRate(spec, 99, 100), 1.0);
  spec.schedule = LrSchedule::kCosine;
  EXPECT_DOUBLE_EQ(LearningRate(spec, 4, 104), 1.0);
  EXPECT_NEAR(LearningRate(spec, 54, 104), 0.5, 1e-12);
  EXPECT_NEAR(LearningRate(spec, 104, 104), 0.0, 1e-12);
}

}  // namespace
}  // namespace align::engine
