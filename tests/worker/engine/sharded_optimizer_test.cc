// The sharded updater in one process (a world of one rank: one shard holds
// everything) against the replicated one; tests/worker/engine/communicator_test.cc
// runs both over two MPI ranks.

#include "worker/engine/sharded_optimizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "worker/engine/communicator.h"
#include "worker/engine/parameter_updater.h"

namespace align::engine {
namespace {

const std::vector<std::vector<int64_t>> kShapes = {{4, 3, 3, 3}, {17}, {8, 5}, {1}};

NamedParameters MakeParams(uint64_t seed) {
  torch::manual_seed(seed);
  NamedParameters params;
  for (size_t i = 0; i < kShapes.size(); ++i) {
    params.emplace_back("p" + std::to_string(i), torch::randn(kShapes[i]).set_requires_grad(true));
  }
  return params;
}

// Gradients as backward leaves them: sum(p * c) gives dp = c.
void Backward(const NamedParameters& params, int step) {
  torch::manual_seed(100 + step);
  torch::Tensor loss = torch::zeros({});
  for (const auto& [name, p] : params) loss = loss + (p * torch::randn(p.sizes()) * (step % 2 ? 10.0 : 0.01)).sum();
  loss.backward();
}

double MaxRelativeDifference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1.0, a.abs().max().item<double>());
}

class ShardedOptimizerTest : public testing::TestWithParam<bool> {};

// Five steps with clipping: the same norms, weights and state as replicated
// AdamW, up to fp32 rounding (the shard's kernels round like the per-parameter
// ones, except where a vectorised body and a scalar tail meet differently).
TEST_P(ShardedOptimizerTest, OneShardStepsAsTheReplicatedOptimizer) {
  std::unique_ptr<Communicator> comm = MakeSingleProcessCommunicator();
  OptimSpec spec;
  spec.weight_decay = 0.01;
  spec.fused = GetParam();
  NamedParameters replicated_params = MakeParams(7), sharded_params = MakeParams(7);
  auto replicated = MakeParameterUpdater(replicated_params, spec, *comm);
  ASSERT_TRUE(replicated.ok()) << replicated.status();
  spec.shard = true;
  auto sharded = MakeParameterUpdater(sharded_params, spec, *comm);
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  for (int step = 1; step <= 5; ++step) {
    for (auto* updater : {replicated->get(), sharded->get()}) updater->ZeroGradients();
    Backward(replicated_params, step);
    Backward(sharded_params, step);
    double norms[2];
    int k = 0;
    for (auto* updater : {replicated->get(), sharded->get()}) {
      updater->AverageGradients();
      norms[k] = updater->GradNorm();
      updater->ScaleGradients(0.5);
      updater->Step(1e-2);
      ++k;
    }
    EXPECT_NEAR(norms[1], norms[0], 1e-12 * norms[0]) << "step " << step;
    for (size_t i = 0; i < kShapes.size(); ++i) {
      EXPECT_LE(MaxRelativeDifference(replicated_params[i].second, sharded_params[i].second), 1e-6)
          << "step " << step << " param " << i;
    }
  }
  const auto a = (*replicated)->State();
  const auto b = (*sharded)->State();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, tensor] : a) {
    ASSERT_TRUE(b.count(key)) << key;
    ASSERT_EQ(b.at(key).sizes(), tensor.sizes()) << key;
    if (key == "step") {
      EXPECT_EQ(b.at(key).item<int64_t>(), 5);
    } else {
      EXPECT_LE(MaxRelativeDifference(tensor, b.at(key)), 1e-6) << key;
    }
  }
  // One shard of 3 * 4 * 3 * 3 + 17 + 40 + 1 = 166 elements, padded to 192, two moments.
  EXPECT_EQ((*sharded)->StateBytes(), 2 * 192 * 4);
  EXPECT_EQ((*replicated)->StateBytes(), 2 * 166 * 4);
}

INSTANTIATE_TEST_SUITE_P(PlainAndFused, ShardedOptimizerTest, testing::Bool());

// State in the replicated layout loads into a sharded optimizer (and what it
// gathers loads back): both continue with the same step.
TEST(ShardedOptimizerStateTest, LoadsReplicatedStateAndContinuesTheSame) {
  std::unique_ptr<Communicator> comm = MakeSingleProcessCommunicator();
  OptimSpec spec;
  NamedParameters first_params = MakeParams(3);
  auto first = MakeParameterUpdater(first_params, spec, *comm);
  ASSERT_TRUE(first.ok());
  for (int step = 1; step <= 2; ++step) {
    (*first)->ZeroGradients();
    Backward(first_params, step);
    (*first)->AverageGradients();
    (*first)->Step(1e-2);
  }
  NamedParameters resumed_params = MakeParams(0);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < kShapes.size(); ++i) resumed_params[i].second.copy_(first_params[i].second);
  }
  spec.shard = true;
  auto resumed = MakeParameterUpdater(resumed_params, spec, *comm);
  ASSERT_TRUE(resumed.ok());
  ASSERT_TRUE((*resumed)->LoadState((*first)->State()).ok());
  const auto gathered = (*resumed)->State();
  for (const auto& [key, tensor] : (*first)->State()) EXPECT_TRUE(torch::equal(gathered.at(key), tensor)) << key;
  for (auto* updater : {first->get(), resumed->get()}) updater->ZeroGradients();
  Backward(first_params, 3);
  Backward(resumed_params, 3);
  for (auto* updater : {first->get(), resumed->get()}) {
    updater->AverageGradients();
    updater->Step(1e-2);
  }
  for (size_t i = 0; i < kShapes.size(); ++i) {
    EXPECT_LE(MaxRelativeDifference(first_params[i].second, resumed_params[i].second), 1e-6) << i;
  }

  auto missing = (*first)->State();
  missing.erase("p2.exp_avg_sq");
  const absl::Status refused = (*resumed)->LoadState(missing);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.message()).find("p2.exp_avg_sq"), std::string::npos) << refused;
}

// A channels-last convolution weight (channels_last: true) stays NHWC inside
// the flat buffer, and its state crosses between the buffer's memory order and
// the checkpoint's logical order both ways.
TEST(ShardedOptimizerStateTest, ChannelsLastParametersKeepTheirLayoutAndState) {
  std::unique_ptr<Communicator> comm = MakeSingleProcessCommunicator();
  auto channels_last = [](NamedParameters params) {
    torch::NoGradGuard no_grad;
    params[0].second.set_data(params[0].second.contiguous(torch::MemoryFormat::ChannelsLast));
    return params;
  };
  OptimSpec spec;
  NamedParameters replicated_params = channels_last(MakeParams(5));
  NamedParameters sharded_params = channels_last(MakeParams(5));
  auto replicated = MakeParameterUpdater(replicated_params, spec, *comm);
  spec.shard = true;
  auto sharded = MakeParameterUpdater(sharded_params, spec, *comm);
  ASSERT_TRUE(replicated.ok() && sharded.ok());
  EXPECT_TRUE(sharded_params[0].second.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(sharded_params[0].second.is_contiguous());
  for (int step = 1; step <= 2; ++step) {
    for (auto* updater : {replicated->get(), sharded->get()}) updater->ZeroGradients();
    Backward(replicated_params, step);
    Backward(sharded_params, step);
    for (auto* updater : {replicated->get(), sharded->get()}) {
      updater->AverageGradients();
      updater->Step(1e-2);
    }
  }
  for (size_t i = 0; i < kShapes.size(); ++i) {
    EXPECT_LE(MaxRelativeDifference(replicated_params[i].second, sharded_params[i].second), 1e-6) << i;
  }
  const auto expected = (*replicated)->State();
  for (const auto& [key, tensor] : (*sharded)->State()) {
    EXPECT_LE(MaxRelativeDifference(expected.at(key).to(torch::kFloat), tensor.to(torch::kFloat)), 1e-6) << key;
  }

  NamedParameters loaded_params = channels_last(MakeParams(5));
  auto loaded = MakeParameterUpdater(loaded_params, spec, *comm);
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE((*loaded)->LoadState(expected).ok());
  for (const auto& [key, tensor] : (*loaded)->State()) EXPECT_TRUE(torch::equal(tensor, expected.at(key))) << key;
}

TEST(ShardedOptimizerStateTest, RefusesAdafactor) {
  std::unique_ptr<Communicator> comm = MakeSingleProcessCommunicator();
  OptimSpec spec;
  spec.name = OptimizerName::kAdafactor;
  spec.shard = true;
  auto sharded = MakeParameterUpdater(MakeParams(1), spec, *comm);
  ASSERT_FALSE(sharded.ok());
  EXPECT_NE(std::string(sharded.status().message()).find("adamw only"), std::string::npos) << sharded.status();
}

}  // namespace
}  // namespace align::engine
