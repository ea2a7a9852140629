#include "common/diffusers/unet_config.h"

#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "nlohmann/json.hpp"

namespace align::diffusers {
namespace {

nlohmann::json TinyConfig() {
  auto text = ReadFileToString(std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl/unet/config.json");
  EXPECT_TRUE(text.ok()) << text.status();
  return nlohmann::json::parse(*text);
}

absl::Status ParseWith(const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = TinyConfig();
  j[key] = value;
  return ParseUNetConfig(j.dump()).status();
}

TEST(UNetConfigTest, ReadsTheTinyFixture) {
  auto config = LoadUNetConfig(std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl/unet/config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->block_out_channels, (std::vector<int64_t>{32, 64, 64}));
  // attention_head_dim is the number of heads when num_attention_heads is null.
  EXPECT_EQ(config->num_attention_heads, (std::vector<int64_t>{2, 2, 4}));
  EXPECT_EQ(config->transformer_layers_per_block, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(config->layers_per_block, (std::vector<int64_t>{2, 2, 2}));
  EXPECT_TRUE(config->text_time_embedding);
  EXPECT_EQ(config->pooled_text_dim(), 32);
  EXPECT_EQ(config->time_embed_dim(), 128);
  EXPECT_TRUE(config->use_linear_projection);
}

TEST(UNetConfigTest, ReadsSdxlBase) {
  auto config = LoadUNetConfig(std::string(ALIGN_TESTS_DIR) + "/data/sdxl-base/unet/config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_attention_heads, (std::vector<int64_t>{5, 10, 20}));
  EXPECT_EQ(config->pooled_text_dim(), 1280);
  EXPECT_EQ(config->cross_attention_dim, 2048);
}

TEST(UNetConfigTest, ReadsTheLcmUNetsGuidanceConditioning) {
  auto lcm = LoadUNetConfig(std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl-lcm/unet/config.json");
  ASSERT_TRUE(lcm.ok()) << lcm.status();
  EXPECT_EQ(lcm->time_cond_proj_dim, 16);
  auto plain = ParseUNetConfig(TinyConfig().dump());
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->time_cond_proj_dim, 0);  // null: no timestep_cond input
  EXPECT_FALSE(ParseWith("time_cond_proj_dim", -1).ok());
}

TEST(UNetConfigTest, NumAttentionHeadsWinsOverAttentionHeadDim) {
  nlohmann::json j = TinyConfig();
  j["num_attention_heads"] = {4, 4, 8};
  auto config = ParseUNetConfig(j.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->num_attention_heads, (std::vector<int64_t>{4, 4, 8}));
}

TEST(UNetConfigTest, ScalarsExpandPerBlock) {
  nlohmann::json j = TinyConfig();
  j["transformer_layers_per_block"] = 3;
  j["attention_head_dim"] = 4;
  auto config = ParseUNetConfig(j.dump());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->transformer_layers_per_block, (std::vector<int64_t>{3, 3, 3}));
  EXPECT_EQ(config->num_attention_heads, (std::vector<int64_t>{4, 4, 4}));
}

struct Rejected {
  std::string key;
  nlohmann::json value;
  std::string named;  // what the message must mention
};

class UNetConfigRejectsTest : public testing::TestWithParam<Rejected> {};

TEST_P(UNetConfigRejectsTest, NamesTheOption) {
  const Rejected& r = GetParam();
  absl::Status status = ParseWith(r.key, r.value);
  ASSERT_FALSE(status.ok()) << r.key;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(status.message()).find(r.named), std::string::npos) << status.message();
}

INSTANTIATE_TEST_SUITE_P(
    Options, UNetConfigRejectsTest,
    testing::Values(
        Rejected{"class_embed_type", "timestep", "class_embed_type"},
        Rejected{"act_fn", "gelu", "act_fn"},
        Rejected{"addition_embed_type", "text", "addition_embed_type"},
        Rejected{"resnet_time_scale_shift", "scale_shift", "resnet_time_scale_shift"},
        Rejected{"timestep_post_act", "silu", "timestep_post_act"},
        Rejected{"only_cross_attention", true, "only_cross_attention"},
        Rejected{"dual_cross_attention", true, "dual_cross_attention"},
        Rejected{"mid_block_type", "UNetMidBlock2DSimpleCrossAttn", "mid_block_type"},
        Rejected{"down_block_types",
                 {"DownBlock2D", "SimpleCrossAttnDownBlock2D", "CrossAttnDownBlock2D"},
                 "SimpleCrossAttnDownBlock2D"},
        Rejected{"up_block_types", {"UpBlock2D", "UpBlock2D"}, "up_block_types"},
        Rejected{"cross_attention_dim", {64, 64, 64}, "cross_attention_dim"},
        Rejected{"dropout", 0.1, "dropout"},
        Rejected{"in_channels", "four", "in_channels"},
        Rejected{"transformer_layers_per_block", {1, 2}, "transformer_layers_per_block"},
        Rejected{"attention_head_dim", {3, 2, 4}, "attention head count 3"},
        Rejected{"some_future_option", 1, "some_future_option"}));

TEST(UNetConfigTest, RejectsNonJson) {
  EXPECT_FALSE(ParseUNetConfig("{not json").ok());
  EXPECT_FALSE(ParseUNetConfig("[1, 2]").ok());
}

TEST(UNetConfigTest, MissingFileNamesThePath) {
  auto config = LoadUNetConfig("/nonexistent/unet/config.json");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(std::string(config.status().message()).find("/nonexistent/unet/config.json"), std::string::npos);
}

}  // namespace
}  // namespace align::diffusers
