// StepGraph: inputs checked before anything runs, and (CUDA) a small step
// captured and replayed against the same step taken eagerly; the CUDA test
// skips where no GPU is. The trainer's step through it is captured_step_test.

#include "worker/engine/step_graph.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdint>

#include "common/job_spec.h"
#include "worker/engine/communicator.h"
#include "worker/engine/optimizer.h"
#include "worker/engine/parameter_updater.h"

namespace align::engine {
namespace {

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

}  // namespace
}  // namespace align::engine
