// TextConditioner against the golden text encoders: SDXL's two-encoder
// conditioning (penultimate states side by side, pooled = encoder 2's
// projection), the one-encoder conditioning (last hidden state after
// final_layer_norm), and the negative prompt's zeros.

#include "worker/models/text_conditioner.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"
#include "worker/models/weights_io.h"
#include "worker/tools/max_relative_error.h"

namespace align::models {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = ALIGN_GOLDEN_DIR;
const auto kFp32 = torch::TensorOptions().dtype(torch::kFloat);

// tokenizer/ + text_encoder/ (+ tokenizer_2/ + text_encoder_2/ when `dual`).
void LinkEncoders(const std::string& dir, bool dual) {
  fs::create_directory_symlink(kGolden + "/tokenizer/tokenizer", fs::path(dir) / "tokenizer");
  fs::create_directory_symlink(kGolden + "/tiny-clip/text_encoder", fs::path(dir) / "text_encoder");
  if (!dual) return;
  fs::create_directory_symlink(kGolden + "/tokenizer/tokenizer", fs::path(dir) / "tokenizer_2");
  fs::create_directory_symlink(kGolden + "/tiny-clip/text_encoder_2", fs::path(dir) / "text_encoder_2");
}

std::vector<std::string> GoldenPrompts() {
  const nlohmann::json expected = nlohmann::json::parse(*ReadFileToString(kGolden + "/tokenizer/expected.json"));
  std::vector<std::string> prompts;
  for (int i = 0; i < 4; ++i) prompts.push_back(expected["prompts"][i].get<std::string>());
  return prompts;
}

std::map<std::string, torch::Tensor> ClipIo() {
  auto io = ReadTensors(kGolden + "/tiny-clip/io.safetensors");
  EXPECT_TRUE(io.ok()) << io.status();
  return *io;
}

TEST(TextConditionerTest, SdxlConcatenatesPenultimateStatesAndPoolsTheSecondEncoder) {
  testing::TempDir dir("text_conditioner_sdxl");
  LinkEncoders(dir.path(), /*dual=*/true);
  auto text = TextConditioner::Load(dir.path(), kFp32);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_TRUE(text->has_pooled());
  EXPECT_EQ(text->context_dim(), 64);
  EXPECT_EQ(text->pooled_dim(), 24);
  EXPECT_TRUE(text->force_zeros_for_empty_prompt());  // SDXL's default without model_index.json

  const TextConditioning out = text->Encode(GoldenPrompts());
  ASSERT_EQ(out.prompt_embeds.sizes(), (std::vector<int64_t>{4, 77, 64}));
  ASSERT_EQ(out.pooled.sizes(), (std::vector<int64_t>{4, 24}));
  auto io = ClipIo();
  EXPECT_LT(tools::MaxRelativeError(out.prompt_embeds.slice(2, 0, 32), io.at("text_encoder.penultimate")), 1e-4);
  // Encoder 2 reads ids padded with "!": up to the first <|endoftext|> (and the
  // pooled output there) it sees the golden ids in rows 0, 2, 3 (row 1 ends in
  // "!!", which tokenizer 2 splits; see pair_encoder_test).
  const torch::Tensor ids = io.at("input_ids");
  for (int64_t b : {0, 2, 3}) {
    const int64_t eos = (ids[b] == 707).nonzero()[0].item<int64_t>();
    EXPECT_LT(tools::MaxRelativeError(out.prompt_embeds[b].slice(0, 0, eos + 1).slice(1, 32, 64),
                                      io.at("text_encoder_2.penultimate")[b].slice(0, 0, eos + 1)),
              1e-4);
    EXPECT_LT(tools::MaxRelativeError(out.pooled[b], io.at("text_encoder_2.pooled")[b]), 1e-4);
  }
}

TEST(TextConditionerTest, SdxlEmptyNegativePromptIsZerosUnlessTheModelIndexSaysOtherwise) {
  testing::TempDir dir("text_conditioner_negative");
  LinkEncoders(dir.path(), /*dual=*/true);
  auto text = TextConditioner::Load(dir.path(), kFp32);
  ASSERT_TRUE(text.ok()) << text.status();
  const TextConditioning zeros = text->EncodeNegative("", 3);
  ASSERT_EQ(zeros.prompt_embeds.sizes(), (std::vector<int64_t>{3, 77, 64}));
  ASSERT_EQ(zeros.pooled.sizes(), (std::vector<int64_t>{3, 24}));
  EXPECT_EQ(zeros.prompt_embeds.abs().max().item<float>(), 0.0f);
  EXPECT_EQ(zeros.pooled.abs().max().item<float>(), 0.0f);

  // A non-empty negative prompt is encoded, one row per sample (a batch of
  // two may round differently from a batch of one in the matrix products).
  const TextConditioning blurry = text->EncodeNegative("blurry", 2);
  const TextConditioning once = text->Encode({"blurry"});
  EXPECT_LT(tools::MaxRelativeError(blurry.prompt_embeds[1], once.prompt_embeds[0]), 1e-6);
  EXPECT_LT(tools::MaxRelativeError(blurry.pooled[1], once.pooled[0]), 1e-6);

  std::ofstream(dir.File("model_index.json"))
      << R"({"_class_name": "StableDiffusionXLPipeline", "force_zeros_for_empty_prompt": false})";
  auto encoding = TextConditioner::Load(dir.path(), kFp32);
  ASSERT_TRUE(encoding.ok()) << encoding.status();
  EXPECT_FALSE(encoding->force_zeros_for_empty_prompt());
  const TextConditioning empty = encoding->EncodeNegative("", 1);
  EXPECT_TRUE(torch::equal(empty.prompt_embeds, encoding->Encode({""}).prompt_embeds));
  EXPECT_GT(empty.prompt_embeds.abs().max().item<float>(), 0.0f);

  std::ofstream(dir.File("model_index.json")) << R"({"force_zeros_for_empty_prompt": "yes"})";
  EXPECT_FALSE(TextConditioner::Load(dir.path(), kFp32).ok());
}

TEST(TextConditionerTest, OneEncoderConditionsOnTheLastHiddenStateWithoutPooled) {
  testing::TempDir dir("text_conditioner_sd15");
  LinkEncoders(dir.path(), /*dual=*/false);
  auto text = TextConditioner::Load(dir.path(), kFp32);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_FALSE(text->has_pooled());
  EXPECT_EQ(text->context_dim(), 32);
  EXPECT_EQ(text->pooled_dim(), 0);
  EXPECT_FALSE(text->force_zeros_for_empty_prompt());  // StableDiffusionPipeline always encodes ""

  const TextConditioning out = text->Encode(GoldenPrompts());
  EXPECT_FALSE(out.pooled.defined());
  EXPECT_LT(tools::MaxRelativeError(out.prompt_embeds, ClipIo().at("text_encoder.last")), 1e-4);
  const TextConditioning negative = text->EncodeNegative("", 2);
  EXPECT_FALSE(negative.pooled.defined());
  EXPECT_LT(tools::MaxRelativeError(negative.prompt_embeds[0], text->Encode({""}).prompt_embeds[0]), 1e-6);
}

TEST(TextConditionerTest, NamesWhatIsMissing) {
  testing::TempDir dir("text_conditioner_missing");
  auto missing = TextConditioner::Load(dir.path(), kFp32);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("tokenizer"), std::string::npos) << missing.status();
}

}  // namespace
}  // namespace align::models
