#include "worker/engine/flat_parameters.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace align::engine {
namespace {

// Does `view`'s memory lie inside `buffer`'s, at element `offset`?
bool AliasesAt(const torch::Tensor& view, const torch::Tensor& buffer, int64_t offset) {
  return view.data_ptr<float>() == buffer.data_ptr<float>() + offset;
}

TEST(FlatLayoutTest, ShardsCoverTheParametersWithPaddingAtTheEnd) {
  // 7 + 100 + 3 = 110 elements over 3 ranks: 37 each rounds up to the
  // 64-element alignment, so 192 in all, the last 82 padding.
  const FlatLayout layout = FlatLayout::Make({7, 100, 3}, 3);
  EXPECT_EQ(layout.offsets, (std::vector<int64_t>{0, 7, 107}));
  EXPECT_EQ(layout.numel, 110);
  EXPECT_EQ(layout.shard_numel, 64);
  EXPECT_EQ(layout.padded_numel, 192);
  EXPECT_EQ(layout.ShardBegin(2), 128);
  // Parameter 1 ([7, 107)) spans ranks 0 and 1; parameter 2 ([107, 110)) rank 1 only.
  EXPECT_EQ(layout.ShardPart(1, 0), std::make_pair(int64_t{7}, int64_t{64}));
  EXPECT_EQ(layout.ShardPart(1, 1), std::make_pair(int64_t{64}, int64_t{107}));
  EXPECT_EQ(layout.ShardPart(2, 1), std::make_pair(int64_t{107}, int64_t{110}));
  const auto none = layout.ShardPart(2, 2);
  EXPECT_EQ(none.first, none.second);
  const auto none0 = layout.ShardPart(2, 0);
  EXPECT_EQ(none0.first, none0.second);
}

TEST(FlatLayoutTest, EveryElementHasExactlyOneOwnerForSizesNotDivisibleByTheWorld) {
  for (int world : {1, 2, 3, 5, 8}) {
    for (const std::vector<int64_t>& numels :
         std::vector<std::vector<int64_t>>{{1}, {63, 2}, {1000, 1, 333}, {64 * 5 + 1}, {129, 129, 129}}) {
      const FlatLayout layout = FlatLayout::Make(numels, world);
      EXPECT_EQ(layout.padded_numel, layout.shard_numel * world);
      EXPECT_GE(layout.padded_numel, layout.numel);
      EXPECT_EQ(layout.shard_numel % FlatLayout::kShardAlignment, 0);
      // Padding is less than one aligned block per rank.
      EXPECT_LT(layout.padded_numel - layout.numel, world * FlatLayout::kShardAlignment + world);
      for (size_t i = 0; i < numels.size(); ++i) {
        int64_t owned = 0;
        for (int r = 0; r < world; ++r) {
          const auto [begin, end] = layout.ShardPart(i, r);
          owned += end - begin;
          if (begin < end) {
            EXPECT_GE(begin, layout.ShardBegin(r));
            EXPECT_LE(end, layout.ShardBegin(r) + layout.shard_numel);
          }
        }
        EXPECT_EQ(owned, numels[i]) << "world " << world << " parameter " << i;
      }
    }
  }
}

TEST(FlatParametersTest, ParametersAndGradientsAreViewsOfTheBuffers) {
  torch::manual_seed(1);
  torch::nn::Linear linear(5, 3);  // weight [3, 5], bias [3]: 18 elements
  NamedParameters params;
  for (auto& item : linear->named_parameters()) params.emplace_back(item.key(), item.value());
  const torch::Tensor weight_before = linear->weight.detach().clone();
  const torch::Tensor bias_before = linear->bias.detach().clone();

  absl::StatusOr<FlatParameters> flat = FlatParameters::Create(params, 2);
  ASSERT_TRUE(flat.ok()) << flat.status();
  const FlatLayout& layout = flat->layout();
  EXPECT_EQ(layout.numel, 18);
  EXPECT_EQ(layout.padded_numel, 128);
  // The module's own parameter objects now alias the buffer and kept their values.
  EXPECT_TRUE(AliasesAt(linear->weight, flat->values(), 0));
  EXPECT_TRUE(AliasesAt(linear->bias, flat->values(), 15));
  EXPECT_TRUE(torch::equal(linear->weight, weight_before));
  EXPECT_TRUE(torch::equal(linear->bias, bias_before));
  EXPECT_TRUE(linear->weight.requires_grad());
  EXPECT_TRUE(torch::equal(flat->values().narrow(0, 18, 110), torch::zeros({110})));
  // Writing the buffer writes the parameters.
  {
    torch::NoGradGuard no_grad;
    flat->values().narrow(0, 15, 3).fill_(7);
  }
  EXPECT_TRUE(torch::equal(linear->bias, torch::full({3}, 7.0)));
  EXPECT_TRUE(AliasesAt(flat->ValueShard(1), flat->values(), 64));

  // Backward accumulates into the gradient buffer, through the views.
  flat->ZeroGradients();
  torch::Tensor x = torch::randn({4, 5});
  linear(x).sum().backward();
  linear(x).sum().backward();
  EXPECT_TRUE(AliasesAt(linear->weight.grad(), flat->gradients(), 0));
  EXPECT_TRUE(AliasesAt(linear->bias.grad(), flat->gradients(), 15));
  EXPECT_TRUE(torch::allclose(flat->gradients().narrow(0, 15, 3), torch::full({3}, 8.0)));
  EXPECT_TRUE(torch::allclose(flat->gradients().narrow(0, 0, 15).view({3, 5}), 2 * x.sum(0).expand({3, 5})));
  EXPECT_TRUE(torch::equal(flat->gradients().narrow(0, 18, 110), torch::zeros({110})));

  // Zeroing restores views that were cleared.
  linear->bias.mutable_grad() = torch::Tensor();
  flat->ZeroGradients();
  EXPECT_TRUE(AliasesAt(linear->bias.grad(), flat->gradients(), 15));
  EXPECT_EQ(flat->gradients().abs().sum().item<float>(), 0.0f);

  // A gradient something replaced is copied into the buffer, and the view restored.
  linear->bias.mutable_grad() = torch::full({3}, 5.0);
  flat->AdoptReplacedGradients();
  EXPECT_TRUE(AliasesAt(linear->bias.grad(), flat->gradients(), 15));
  EXPECT_TRUE(torch::equal(flat->gradients().narrow(0, 15, 3), torch::full({3}, 5.0)));

  // Views() lays out any flat tensor as the parameters.
  const std::vector<torch::Tensor> views = flat->Views(torch::arange(128, torch::kFloat));
  EXPECT_EQ(views[0].sizes(), linear->weight.sizes());
  EXPECT_EQ(views[1][0].item<float>(), 15.0f);
}

TEST(FlatParametersTest, RefusesParametersOfAnotherDtype) {
  NamedParameters params = {{"a", torch::zeros({3})}, {"b", torch::zeros({2}, torch::kDouble)}};
  absl::StatusOr<FlatParameters> flat = FlatParameters::Create(params, 2);
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(std::string(flat.status().message()).find("b is Double"), std::string::npos) << flat.status();
}

}  // namespace
}  // namespace align::engine
