// Submit-time checks of a job spec: the parser's field errors, then the paths
// (model layout, dataset manifest, output location), each naming its field.

#include "coordinator/core/spec_check.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "common/dataset/manifest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::coordinator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class SpecCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "spec_check_test_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    fs::create_directories(dir_ + "/model/unet");
    // A one-block UNet that the test datasets (context_dim 32, no pooled) fit.
    std::ofstream(dir_ + "/model/unet/config.json")
        << R"({"block_out_channels": [32], "down_block_types": ["DownBlock2D"], "up_block_types": ["UpBlock2D"],)"
        << R"( "cross_attention_dim": 32})";
    WriteDataset(dir_ + "/data", /*has_difficulty=*/false);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void WriteDataset(const std::string& dir, bool has_difficulty, bool has_scores = false) {
    fs::create_directories(dir);
    data::Manifest manifest;
    manifest.shape = {4, 8, 8, 8, 32, 0};
    manifest.splits["train"] = {2, {{"train-00000.safetensors", 2}}};
    manifest.splits["heldout"] = {0, {}};
    manifest.has_difficulty = has_difficulty;
    manifest.has_scores = has_scores;
    std::ofstream(dir + "/manifest.json") << data::SerializeManifest(manifest);
  }

  std::string Spec(const std::string& extra = "", const std::string& model = "model",
                   const std::string& dataset = "data", const std::string& output = "runs/a") {
    return "name: a\ntype: train\nmodel: " + model + "\ndataset: " + dataset + "\noutput: " + output +
           "\nloss: {type: dpo}\nsteps: 10\n" + extra;
  }

  absl::Status Check(const std::string& spec) { return CheckSubmittedSpec(spec, dir_).status(); }

  std::string dir_;
};

TEST_F(SpecCheckTest, AcceptsAGoodSpecWithRelativePaths) {
  auto spec = CheckSubmittedSpec(Spec(), dir_);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->steps, 10);
  EXPECT_EQ(ResolveSpecPath("runs/a", dir_), dir_ + "/runs/a");
  EXPECT_EQ(ResolveSpecPath("/abs", dir_), "/abs");
  EXPECT_EQ(ResolveSpecPath("x", ""), "x");
}

TEST_F(SpecCheckTest, ParserErrorsNameTheField) {
  absl::Status unknown = Check(Spec("lossx: 1\n"));
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("lossx"));
  absl::Status beta = Check(Spec("", "model") + "optim: {lr: -1}\n");
  EXPECT_THAT(std::string(beta.message()), HasSubstr("optim.lr"));
  absl::Status malformed = Check("name: [unclosed\n");
  EXPECT_EQ(malformed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(malformed.message()), HasSubstr("line"));
}

TEST_F(SpecCheckTest, ModelNeedsADiffusersLayout) {
  absl::Status missing = Check(Spec("", "nowhere"));
  EXPECT_EQ(missing.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.message()), StartsWith("model: "));
  fs::create_directories(dir_ + "/empty-model");
  absl::Status no_unet = Check(Spec("", "empty-model"));
  EXPECT_THAT(std::string(no_unet.message()), StartsWith("model: "));
  EXPECT_THAT(std::string(no_unet.message()), HasSubstr("unet/config.json"));
}

TEST_F(SpecCheckTest, TrainingNeedsAPreparedDataset) {
  fs::create_directories(dir_ + "/half-written");
  absl::Status no_manifest = Check(Spec("", "model", "half-written"));
  EXPECT_THAT(std::string(no_manifest.message()), StartsWith("dataset: "));
  EXPECT_THAT(std::string(no_manifest.message()), HasSubstr("manifest.json"));
  std::ofstream(dir_ + "/half-written/manifest.json") << "{\"format\": \"align-pairs/9\"}";
  EXPECT_THAT(std::string(Check(Spec("", "model", "half-written")).message()), StartsWith("dataset: "));
  // Curriculum stages need per-pair difficulty.
  absl::Status curriculum = Check(Spec("curriculum: {stages: 2, steps_per_stage: 5}\n"));
  EXPECT_THAT(std::string(curriculum.message()), StartsWith("curriculum: "));
  WriteDataset(dir_ + "/ranked", /*has_difficulty=*/true);
  EXPECT_TRUE(Check(Spec("curriculum: {stages: 2, steps_per_stage: 5}\n", "model", "ranked")).ok());
  // score_gap orders by scores and needs no difficulty vector.
  WriteDataset(dir_ + "/scored", /*has_difficulty=*/false, /*has_scores=*/true);
  EXPECT_TRUE(Check(Spec("curriculum: {stages: 2, steps_per_stage: 5, difficulty: score_gap}\n", "model", "scored"))
                  .ok());
  absl::Status no_scores = Check(Spec("curriculum: {stages: 2, steps_per_stage: 5, difficulty: score_gap}\n",
                                      "model", "ranked"));
  EXPECT_THAT(std::string(no_scores.message()), HasSubstr("has_scores is false"));
}

// The dataset must fit the model's UNet (common/diffusers/dataset_fit.h), and
// that UNet's config must parse.
TEST_F(SpecCheckTest, TrainingDatasetMustFitTheUNet) {
  fs::create_directories(dir_ + "/wide/unet");
  std::ofstream(dir_ + "/wide/unet/config.json")
      << R"({"block_out_channels": [32], "down_block_types": ["DownBlock2D"], "up_block_types": ["UpBlock2D"],)"
      << R"( "cross_attention_dim": 64})";
  absl::Status wide = Check(Spec("", "wide"));
  EXPECT_EQ(wide.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wide.message()), StartsWith("dataset: "));
  EXPECT_THAT(std::string(wide.message()), HasSubstr("context_dim 32"));
  EXPECT_THAT(std::string(wide.message()), HasSubstr("cross_attention_dim 64"));

  fs::create_directories(dir_ + "/broken/unet");
  std::ofstream(dir_ + "/broken/unet/config.json") << "{}";
  absl::Status broken = Check(Spec("", "broken"));
  EXPECT_THAT(std::string(broken.message()), StartsWith("model: "));
  EXPECT_THAT(std::string(broken.message()), HasSubstr("unet/config.json"));
}

// A prepare job writes its dataset (it need not exist yet) from an input that
// must, with the model's VAE, text encoders and tokenizers.
TEST_F(SpecCheckTest, PrepareNeedsItsInputAndTheEncodersButNoDataset) {
  const std::string spec = "name: p\ntype: prepare\nmodel: encoders\ndataset: new-data\noutput: out\n"
                           "prepare: {input: in.jsonl}\n";
  for (const char* file : {"vae/config.json", "text_encoder/config.json", "text_encoder_2/config.json",
                           "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer_2/vocab.json",
                           "tokenizer_2/merges.txt"}) {
    fs::create_directories(fs::path(dir_ + "/encoders/" + file).parent_path());
    std::ofstream(dir_ + "/encoders/" + file) << "{}";
  }
  absl::Status no_input = Check(spec);
  EXPECT_THAT(std::string(no_input.message()), StartsWith("prepare.input: "));
  EXPECT_THAT(std::string(no_input.message()), HasSubstr("in.jsonl"));
  std::ofstream(dir_ + "/in.jsonl") << "";
  EXPECT_TRUE(Check(spec).ok()) << Check(spec);
  // WebDataset: a directory without tar shards is refused too.
  fs::create_directories(dir_ + "/shards");
  absl::Status no_shards = Check("name: p\ntype: prepare\nmodel: encoders\ndataset: d\noutput: out\n"
                                 "prepare: {input: shards, format: webdataset}\n");
  EXPECT_THAT(std::string(no_shards.message()), StartsWith("prepare.input: "));
  fs::remove(dir_ + "/encoders/text_encoder_2/config.json");
  absl::Status no_encoder = Check(spec);
  EXPECT_THAT(std::string(no_encoder.message()), StartsWith("model: "));
  EXPECT_THAT(std::string(no_encoder.message()), HasSubstr("text_encoder_2/config.json"));
}

TEST_F(SpecCheckTest, OutputMustBeCreatable) {
  EXPECT_TRUE(Check(Spec("", "model", "data", "deep/new/dirs/run")).ok());
  std::ofstream(dir_ + "/a-file") << "x";
  absl::Status under_file = Check(Spec("", "model", "data", "a-file/run"));
  EXPECT_THAT(std::string(under_file.message()), StartsWith("output: "));
  EXPECT_THAT(std::string(under_file.message()), HasSubstr("not a directory"));
  absl::Status is_file = Check(Spec("", "model", "data", "a-file"));
  EXPECT_THAT(std::string(is_file.message()), StartsWith("output: "));
}

TEST_F(SpecCheckTest, BaseDirAndSizeAreChecked) {
  auto relative = CheckSubmittedSpec(Spec(), "relative/dir");
  EXPECT_THAT(std::string(relative.status().message()), StartsWith("base_dir: "));
  SpecCheckOptions small;
  small.max_spec_bytes = 16;
  auto big = CheckSubmittedSpec(Spec(), dir_, small);
  EXPECT_THAT(std::string(big.status().message()), StartsWith("spec_yaml: "));
  SpecCheckOptions no_paths;
  no_paths.check_paths = false;
  EXPECT_TRUE(CheckSubmittedSpec(Spec("", "/nowhere", "/nothing"), dir_, no_paths).ok());
}

}  // namespace
}  // namespace align::coordinator
