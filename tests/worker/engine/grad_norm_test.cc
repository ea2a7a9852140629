#include "worker/engine/grad_norm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace align::engine {
namespace {

TEST(GradNormTest, GlobalNormOverEveryGradientAndOneScale) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> params = {torch::zeros({3, 4}).set_requires_grad(true),
                                       torch::zeros({5}).set_requires_grad(true),
                                       torch::zeros({2}).set_requires_grad(true)};
  EXPECT_EQ(GlobalGradNorm(params), 0.0);  // no gradients yet
  params[0].mutable_grad() = torch::randn({3, 4}) * 1e3;
  params[1].mutable_grad() = torch::randn({5}) * 1e-3;
  double sq = 0;
  for (const auto& p : params) {
    if (p.grad().defined()) sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
  }
  EXPECT_NEAR(GlobalGradNorm(params), std::sqrt(sq), 1e-12 * std::sqrt(sq));

  const torch::Tensor before = params[0].grad().clone();
  ScaleGradients(params, 0.25);
  EXPECT_TRUE(torch::equal(params[0].grad(), before * 0.25));
  EXPECT_FALSE(params[2].grad().defined());
  EXPECT_NEAR(GlobalGradNorm(params), 0.25 * std::sqrt(sq), 1e-12 * std::sqrt(sq));
}

}  // namespace
}  // namespace align::engine
