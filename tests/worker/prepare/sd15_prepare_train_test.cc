// An SD 1.5-family model folder (one text encoder, a UNet without added
// conditioning) through the command lines users run: `align-worker prepare`
// stores the encoder's hidden states and no pooled embedding, plus the empty
// prompt's conditioning; `align-worker train` then trains on it, with prompt
// dropout (Diffusion-DPO) and with SFT.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/dataset/empty_prompt.h"
#include "common/dataset/reader.h"
#include "common/safetensors/reader.h"
#include "nlohmann/json.hpp"
#include "tests/support/shell.h"
#include "tests/support/test_pairs.h"
#include "tests/support/tiny_models.h"

namespace align {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = ALIGN_GOLDEN_DIR;

using ::align::testing::Shell;
using ::align::testing::Slurp;

std::string Worker(int ranks) {
  return absl::StrCat("mpirun --allow-run-as-root --oversubscribe --bind-to none -np ", ranks, " ", ALIGN_WORKER_BIN);
}

class Sd15PrepareTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / absl::StrCat("align_sd15_it_", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    const absl::Status model = testing::WriteTinySd15Model(kGolden, (root_ / "sd15").string());
    ASSERT_TRUE(model.ok()) << model;
    testing::TestPairsOptions options;
    options.items = 16;
    options.seed = 8;
    options.faults = false;
    const testing::TestPairsCounts pairs = testing::WriteTestPairs((root_ / "in").string(), options);
    input_ = pairs.input;
    prepared_ = Prepare("prepare", Data(), "");
  }
  // Prepares the test pairs into `dataset` with `extra` lines in the prepare section.
  static int Prepare(const std::string& name, const std::string& dataset, const std::string& extra) {
    const fs::path spec = root_ / (name + ".yaml");
    std::ofstream(spec) << "name: " << name << "\ntype: prepare\n"
                        << "model: " << (root_ / "sd15").string() << "\n"
                        << "dataset: " << dataset << "\n"
                        << "output: " << (root_ / (name + "-out")).string() << "\n"
                        << "seed: 2\ndevice: cpu\n"
                        << "prepare:\n  input: " << input_ << "\n  resolution: 64\n  pairs_per_shard: 8\n"
                        << "  heldout: 4\n  batch_size: 4\n"
                        << extra;
    return Shell(absl::StrCat(Worker(1), " prepare --spec ", spec.string(), " > ", (root_ / (name + ".log")).string(),
                              " 2>&1"));
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }
  static std::string Data() { return (root_ / "data").string(); }

  // Trains `steps` steps of `loss` with `extra` spec lines on 2 ranks; the
  // metrics lines with a loss.
  static int Train(const std::string& name, const std::string& loss, const std::string& extra, int* steps,
                   const std::string& dataset = Data()) {
    const fs::path spec = root_ / (name + ".yaml");
    std::ofstream(spec) << "name: " << name << "\ntype: train\n"
                        << "model: " << (root_ / "sd15").string() << "\n"
                        << "dataset: " << dataset << "\n"
                        << "output: " << (root_ / name).string() << "\n"
                        << "loss: " << loss << "\nsteps: 3\nseed: 4\ndevice: cpu\n"
                        << "batch: {pairs_per_rank: 2, grad_accum: 1}\n"
                        << extra;
    const int rc = Shell(absl::StrCat(Worker(2), " train --spec ", spec.string(), " > ",
                                      (root_ / (name + ".log")).string(), " 2>&1"));
    std::ifstream metrics(root_ / name / "metrics.jsonl");
    std::string line;
    *steps = 0;
    while (std::getline(metrics, line)) {
      const nlohmann::json j = nlohmann::json::parse(line);
      if (j.contains("loss")) {
        ++*steps;
        EXPECT_TRUE(std::isfinite(j["loss"].get<double>())) << line;
      }
    }
    return rc;
  }
  static std::string Log(const std::string& name) { return Slurp(root_ / name); }

  static fs::path root_;
  static std::string input_;
  static int prepared_;
};
fs::path Sd15PrepareTrainTest::root_;
std::string Sd15PrepareTrainTest::input_;
int Sd15PrepareTrainTest::prepared_ = -1;

TEST_F(Sd15PrepareTrainTest, PrepareStoresOneEncodersHiddenStatesAndNoPooledEmbedding) {
  ASSERT_EQ(prepared_, 0) << Log("prepare.log");
  for (const char* split : {"train", "heldout"}) {
    auto reader = data::PairReader::Open(Data(), split);
    ASSERT_TRUE(reader.ok()) << reader.status();
    const data::PairShape& shape = (*reader)->shape();
    EXPECT_EQ(shape.context_dim, 32);  // tiny-clip's text_encoder hidden_size: its last hidden state
    EXPECT_EQ(shape.pooled_dim, 0);
    EXPECT_EQ(shape.tokens, 77);
    EXPECT_EQ(shape.latent_height, 16);
  }
  // The empty prompt's conditioning, for prompt dropout: no pooled tensor either.
  auto file = safetensors::File::Open(Data() + "/" + std::string(data::kEmptyPromptFile));
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->Contains("prompt_embeds"));
  EXPECT_FALSE((*file)->Contains("pooled_prompt_embeds"));
}

TEST_F(Sd15PrepareTrainTest, DpoWithPromptDropoutTrainsTheSd15UNet) {
  ASSERT_EQ(prepared_, 0) << Log("prepare.log");
  int steps = 0;
  ASSERT_EQ(Train("dpo", "{type: dpo, beta: 5}", "data: {prompt_dropout: 0.25}\n", &steps), 0) << Log("dpo.log");
  EXPECT_EQ(steps, 3);
}

TEST_F(Sd15PrepareTrainTest, SftTrainsTheSd15UNet) {
  ASSERT_EQ(prepared_, 0) << Log("prepare.log");
  int steps = 0;
  ASSERT_EQ(Train("sft", "{type: sft}", "", &steps), 0) << Log("sft.log");
  EXPECT_EQ(steps, 3);
}

TEST_F(Sd15PrepareTrainTest, PerStepFlipsAndLatentSamplesAreStoredThenDrawnInTraining) {
  const std::string dataset = (root_ / "variants-data").string();
  ASSERT_EQ(Prepare("variants", dataset, "  random_flip: per_step\n  latent: sample_per_step\n"), 0)
      << Log("variants.log");
  auto reader = data::PairReader::Open(dataset, "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->manifest().has_flipped_latents);
  EXPECT_TRUE((*reader)->manifest().has_latent_logvar);
  auto batch = (*reader)->Read({0, 1});
  ASSERT_TRUE(batch.ok()) << batch.status();
  const int64_t n = batch->shape.latent_numel();
  ASSERT_EQ(static_cast<int64_t>(batch->latents_flipped_w.size()), 2 * n);
  ASSERT_EQ(static_cast<int64_t>(batch->latents_logvar_w.size()), 2 * n);
  ASSERT_EQ(static_cast<int64_t>(batch->latents_flipped_logvar_l.size()), 2 * n);
  EXPECT_NE(batch->latents_flipped_w, batch->latents_w);  // the flipped images' encoding
  // The means are the plain dataset's latents (same seed, no frozen flip).
  auto plain = data::PairReader::Open(Data(), "train");
  ASSERT_TRUE(plain.ok());
  auto plain_batch = (*plain)->Read({0, 1});
  ASSERT_TRUE(plain_batch.ok());
  ASSERT_EQ(plain_batch->pair_ids, batch->pair_ids);
  for (int64_t i = 0; i < 2 * n; ++i) EXPECT_NEAR(batch->latents_w[i], plain_batch->latents_w[i], 1e-6);
  int steps = 0;
  ASSERT_EQ(Train("variants-train", "{type: dpo, beta: 5}", "", &steps, dataset), 0) << Log("variants-train.log");
  EXPECT_EQ(steps, 3);
}

}  // namespace
}  // namespace align
