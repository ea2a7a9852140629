#include "worker/engine/grad_norm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
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

std::vector<torch::Tensor> ParamsWithGradients(double magnitude) {
  torch::manual_seed(11);
  std::vector<torch::Tensor> params;
  for (const std::vector<int64_t>& shape : std::vector<std::vector<int64_t>>{{4, 3, 3, 3}, {17}, {8, 5}}) {
    params.push_back(torch::zeros(shape).set_requires_grad(true));
    params.back().mutable_grad() = torch::randn(shape) * magnitude;
  }
  params.push_back(torch::zeros({2}).set_requires_grad(true));  // no gradient
  return params;
}

std::vector<torch::Tensor> Gradients(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) grads.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
  return grads;
}

void ExpectSameBits(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].defined(), b[i].defined()) << i;
    if (a[i].defined()) EXPECT_TRUE(torch::equal(a[i], b[i])) << "gradient " << i;
  }
}

// The device norm is the host one before its read: the same fp64 value.
TEST(GradNormOnDeviceTest, NormIsTheHostNormWithoutTheRead) {
  std::vector<torch::Tensor> params = ParamsWithGradients(3.0);
  const torch::Tensor norm = GlobalGradNormOnDevice(params);
  EXPECT_EQ(norm.dim(), 0);
  EXPECT_EQ(norm.scalar_type(), torch::kDouble);
  EXPECT_EQ(norm.item<double>(), GlobalGradNorm(params));
  std::vector<torch::Tensor> none = {torch::zeros({3}).set_requires_grad(true)};
  EXPECT_EQ(GlobalGradNormOnDevice(none).item<double>(), 0.0);
}

// Above the clip: the same bits as the host path's ScaleGradients(clip / (norm + 1e-6)).
TEST(GradNormOnDeviceTest, ClippingAboveTheClipScalesAsTheHostPath) {
  std::vector<torch::Tensor> device = ParamsWithGradients(3.0), host = ParamsWithGradients(3.0);
  const double clip = 1.0;
  const double norm = GlobalGradNorm(host);
  ASSERT_GT(norm, clip);
  ScaleGradients(host, clip / (norm + 1e-6));
  ClipGradientsOnDevice(device, GlobalGradNormOnDevice(device), clip);
  ExpectSameBits(Gradients(device), Gradients(host));
  EXPECT_NEAR(GlobalGradNorm(device), clip, 1e-5);
}

// At or below the clip the host path does not scale; the device path
// multiplies by exactly 1: bit-identical gradients.
TEST(GradNormOnDeviceTest, ClippingAtOrBelowTheClipLeavesTheBits) {
  std::vector<torch::Tensor> params = ParamsWithGradients(1e-3);
  const std::vector<torch::Tensor> before = Gradients(params);
  ClipGradientsOnDevice(params, GlobalGradNormOnDevice(params), 1.0);
  ExpectSameBits(Gradients(params), before);
  // Exactly at the clip: norm > clip is false, as on the host.
  const torch::Tensor norm = GlobalGradNormOnDevice(params);
  ClipGradientsOnDevice(params, norm, norm.item<double>());
  ExpectSameBits(Gradients(params), before);
}

// A NaN norm leaves the gradients alone (the step is skipped anyway).
TEST(GradNormOnDeviceTest, NanNormLeavesTheGradients) {
  std::vector<torch::Tensor> params = ParamsWithGradients(3.0);
  params[1].mutable_grad()[0] = std::nan("");
  const std::vector<torch::Tensor> before = Gradients(params);
  const torch::Tensor norm = GlobalGradNormOnDevice(params);
  EXPECT_TRUE(std::isnan(norm.item<double>()));
  ClipGradientsOnDevice(params, norm, 1.0);
  EXPECT_TRUE(torch::equal(params[0].grad(), before[0]));
  EXPECT_TRUE(torch::equal(params[2].grad(), before[2]));
}

}  // namespace
}  // namespace align::engine
