// The activation figures `gradient_checkpointing: auto` plans with, measured
// on the tiny SDXL UNet on the CPU, against further measurements: the
// planner's estimate of what a forward keeps with a set of blocks recomputed,
// and the extrapolation from 1 and 2 samples to a micro-batch.

#include "worker/engine/activation_measurement.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "worker/engine/recompute_plan.h"
#include "worker/models/unet_io.h"

namespace align::engine {
namespace {

const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

models::UNet2DConditionModel LoadTiny() {
  auto unet = models::LoadUNet(kTiny + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_TRUE(unet.ok()) << unet.status();
  return *unet;
}

data::PairShape Shape(const models::UNet2DConditionModel& unet) {
  data::PairShape shape;
  shape.latent_channels = unet->config().in_channels;
  shape.latent_height = 16;
  shape.latent_width = 16;
  shape.tokens = 8;
  shape.context_dim = unet->config().cross_attention_dim;
  return shape;
}

models::UNetInputs Inputs(const models::UNet2DConditionModel& unet, const data::PairShape& shape, int64_t n) {
  torch::manual_seed(5);
  models::UNetInputs in;
  in.sample = torch::randn({n, shape.latent_channels, shape.latent_height, shape.latent_width});
  in.timestep = torch::randint(0, 1000, {n}, torch::kLong);
  in.encoder_hidden_states = torch::randn({n, shape.tokens, shape.context_dim});
  in.text_embeds = torch::randn({n, unet->config().pooled_text_dim()});
  in.time_ids = torch::full({n, 6}, 128.0);
  return in;
}

// |a - b| within `fraction` of b.
void ExpectClose(int64_t a, int64_t b, double fraction, const std::string& what) {
  EXPECT_LE(std::llabs(a - b), fraction * static_cast<double>(b)) << what << ": " << a << " vs " << b;
}

TEST(ActivationMeasurementTest, EveryBlockKeepsActivationsAndCostsFlops) {
  models::UNet2DConditionModel unet = LoadTiny();
  const ActivationFigures f = MeasureActivations(*unet, Inputs(unet, Shape(unet), 2), torch::kCPU, false);
  ASSERT_EQ(f.blocks.size(), unet->recompute_block_names().size());
  int64_t saved = 0;
  for (size_t i = 0; i < f.blocks.size(); ++i) {
    EXPECT_EQ(f.blocks[i].name, unet->recompute_block_names()[i]);
    EXPECT_GT(f.blocks[i].saved_bytes, 0) << f.blocks[i].name;
    EXPECT_GT(f.blocks[i].recompute_flops, 0) << f.blocks[i].name;
    saved += f.blocks[i].saved_bytes;
  }
  EXPECT_GT(f.activation_bytes, saved) << "the blocks' outputs and the stem's activations are kept too";
  // Left as found: nothing recomputed, still in the mode it was.
  EXPECT_FALSE(unet->gradient_checkpointing());
  EXPECT_TRUE(unet->is_training());
}

TEST(ActivationMeasurementTest, TheEstimateForAnySubsetMatchesAForwardWithThatSubsetRecomputed) {
  models::UNet2DConditionModel unet = LoadTiny();
  const models::UNetInputs in = Inputs(unet, Shape(unet), 2);
  const ActivationFigures f = MeasureActivations(*unet, in, torch::kCPU, false);
  const std::vector<std::string>& names = unet->recompute_block_names();
  for (const std::set<std::string>& subset : std::vector<std::set<std::string>>{
           {}, {"mid"}, {names[0], names[3], "mid", names.back()}, std::set<std::string>(names.begin(), names.end())}) {
    ASSERT_TRUE(unet->set_recomputed_blocks(subset).ok());
    int64_t estimate = f.activation_bytes;
    for (const RecomputeBlockCost& b : f.blocks) {
      if (subset.count(b.name)) estimate -= b.saved_bytes;
    }
    ExpectClose(MeasureKeptBytes(*unet, in, torch::kCPU, false), estimate, 0.01,
                std::to_string(subset.size()) + " blocks recomputed");
  }
  // Recomputing every block keeps well under half of what recomputing none does.
  ASSERT_TRUE(unet->set_recomputed_blocks({}).ok());
  const int64_t none = MeasureKeptBytes(*unet, in, torch::kCPU, false);
  unet->set_gradient_checkpointing(true);
  EXPECT_LT(MeasureKeptBytes(*unet, in, torch::kCPU, false), none / 2);
}

TEST(ActivationMeasurementTest, TheExtrapolationToAMicroBatchMatchesAMeasurementAtIt) {
  models::UNet2DConditionModel unet = LoadTiny();
  const data::PairShape shape = Shape(unet);
  absl::StatusOr<ActivationFigures> extrapolated = MeasureActivationsAt(*unet, shape, 5, torch::kCPU, false);
  ASSERT_TRUE(extrapolated.ok()) << extrapolated.status();
  const ActivationFigures measured = MeasureActivations(*unet, Inputs(unet, shape, 5), torch::kCPU, false);
  ExpectClose(extrapolated->activation_bytes, measured.activation_bytes, 0.01, "activations");
  ASSERT_EQ(extrapolated->blocks.size(), measured.blocks.size());
  for (size_t i = 0; i < measured.blocks.size(); ++i) {
    ExpectClose(extrapolated->blocks[i].saved_bytes, measured.blocks[i].saved_bytes, 0.01, measured.blocks[i].name);
    EXPECT_NEAR(extrapolated->blocks[i].recompute_flops, measured.blocks[i].recompute_flops,
                1e-9 * measured.blocks[i].recompute_flops)
        << measured.blocks[i].name;
  }
}

}  // namespace
}  // namespace align::engine
