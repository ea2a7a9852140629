// An SD 1.5-family model folder (one text encoder, a UNet without added
// conditioning) through the command lines users run: `align-worker prepare`
// stores the encoder's hidden states and no pooled embedding, plus the empty
// prompt's conditioning; `align-worker train` then trains on it, with prompt
// dropout (Diffusion-DPO) and with SFT.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/empty_prompt.h"
#include "common/dataset/reader.h"
#include "common/safetensors/reader.h"
#include "common/safetensors/writer.h"
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
    return PrepareWith("sd15", input_, name, dataset, "  heldout: 4\n" + extra);
  }
  // Prepares `input` with the model folder `model` (under the test's root).
  static int PrepareWith(const std::string& model, const std::string& input, const std::string& name,
                         const std::string& dataset, const std::string& extra) {
    const fs::path spec = root_ / (name + ".yaml");
    std::ofstream(spec) << "name: " << name << "\ntype: prepare\n"
                        << "model: " << (root_ / model).string() << "\n"
                        << "dataset: " << dataset << "\n"
                        << "output: " << (root_ / (name + "-out")).string() << "\n"
                        << "seed: 2\ndevice: cpu\n"
                        << "prepare:\n  input: " << input << "\n  resolution: 64\n  pairs_per_shard: 8\n"
                        << "  batch_size: 4\n"
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

TEST_F(Sd15PrepareTrainTest, CropVariantsAndPerImageFlipsArePreparedThenDrawnInTraining) {
  const std::string dataset = (root_ / "crops-data").string();
  ASSERT_EQ(Prepare("crops", dataset,
                    "  center_crop: false\n  crop_variants: 3\n  random_flip: per_step\n  flip_images: each\n"),
            0)
      << Log("crops.log");
  const std::string manifest = Slurp(fs::path(dataset) / "manifest.json");
  EXPECT_NE(manifest.find("\"format\": \"align-pairs/2\""), std::string::npos) << manifest;
  auto reader = data::PairReader::Open(dataset, "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->manifest().crop_variants, 3);
  EXPECT_EQ((*reader)->manifest().flip_images, data::FlipImages::kEach);
  std::vector<int64_t> all;
  for (int64_t i = 0; i < (*reader)->num_pairs(); ++i) all.push_back(i);
  auto batch = (*reader)->Read(all);
  ASSERT_TRUE(batch.ok()) << batch.status();
  const int64_t n = batch->shape.latent_numel();
  // A pair's crops: the same offsets (time ids) give the same latents, other
  // offsets other latents; every offset lies inside the resized image.
  int differing = 0;
  for (int64_t i = 0; i < batch->size; ++i) {
    std::vector<std::vector<float>> time_ids = {
        std::vector<float>(batch->time_ids.begin() + 6 * i, batch->time_ids.begin() + 6 * (i + 1))};
    std::vector<std::vector<float>> latents = {
        std::vector<float>(batch->latents_w.begin() + n * i, batch->latents_w.begin() + n * (i + 1))};
    for (int c = 0; c < 2; ++c) {
      const auto t = batch->crop_time_ids.begin() + 6 * (2 * i + c);
      time_ids.emplace_back(t, t + 6);
      const auto z = batch->crop_latents_w.begin() + n * (2 * i + c);
      latents.emplace_back(z, z + n);
    }
    for (int a = 0; a < 3; ++a) {
      const float orig_h = time_ids[a][0], orig_w = time_ids[a][1];
      const float short_side = std::min(orig_h, orig_w);
      EXPECT_LE(time_ids[a][2], std::floor(64 * orig_h / short_side) - 64);
      EXPECT_LE(time_ids[a][3], std::floor(64 * orig_w / short_side) - 64);
      for (int b = a + 1; b < 3; ++b) {
        const bool same_crop = time_ids[a] == time_ids[b];
        EXPECT_EQ(latents[a] == latents[b], same_crop) << "pair " << batch->pair_ids[i] << " crops " << a << ", " << b;
        differing += same_crop ? 0 : 1;
      }
    }
  }
  EXPECT_GT(differing, 0);
  int steps = 0;
  ASSERT_EQ(Train("crops-train", "{type: dpo, beta: 5}", "", &steps, dataset), 0) << Log("crops-train.log");
  EXPECT_EQ(steps, 3);
}

// An SD 2.x-like folder: the tiny text encoder with its last layer dropped as
// diffusers' converters drop OpenCLIP-H's (num_hidden_layers one less, the
// layer's weights gone). Its "last" hidden state is then the 3-layer encoder's
// penultimate one after final_layer_norm: the golden penultimate states
// through that LayerNorm, not the golden last states.
TEST_F(Sd15PrepareTrainTest, AnSd2FolderConditionsOnThePenultimateLayerThroughItsConfig) {
  const fs::path sd2 = root_ / "sd2";
  fs::create_directories(sd2 / "text_encoder");
  for (const char* part : {"scheduler", "vae", "tokenizer", "unet"}) {
    fs::create_directory_symlink(fs::canonical(root_ / "sd15" / part), sd2 / part);
  }
  const fs::path encoder = fs::path(kGolden) / "tiny-clip" / "text_encoder";
  nlohmann::json config = nlohmann::json::parse(Slurp(encoder / "config.json"));
  ASSERT_EQ(config["num_hidden_layers"], 3);
  config["num_hidden_layers"] = 2;
  std::ofstream(sd2 / "text_encoder" / "config.json") << config.dump(2);
  auto weights = safetensors::File::Open((encoder / "model.safetensors").string());
  ASSERT_TRUE(weights.ok()) << weights.status();
  safetensors::Writer cut;
  std::vector<float> ln_weight, ln_bias;
  for (const safetensors::TensorInfo& info : (*weights)->tensors()) {
    if (info.name.find("layers.2.") != std::string::npos) continue;
    auto view = (*weights)->Get(info.name);
    ASSERT_TRUE(view.ok());
    ASSERT_TRUE(cut.Add(info.name, info.dtype, info.shape, view->data, info.nbytes()).ok());
    if (info.name.find("final_layer_norm.") != std::string::npos) {
      ASSERT_EQ(info.dtype, safetensors::DType::kF32);
      const float* values = reinterpret_cast<const float*>(view->data);
      (info.name.find("weight") != std::string::npos ? ln_weight : ln_bias).assign(values, values + info.shape[0]);
    }
  }
  ASSERT_TRUE(cut.WriteFile((sd2 / "text_encoder" / "model.safetensors").string()).ok());
  ASSERT_EQ(ln_weight.size(), 32u);
  ASSERT_EQ(ln_bias.size(), 32u);

  // The golden prompts as the captions of four pairs.
  const nlohmann::json prompts =
      nlohmann::json::parse(Slurp(fs::path(kGolden) / "tokenizer" / "expected.json"))["prompts"];
  std::ifstream lines(input_);
  const fs::path input = fs::path(input_).parent_path() / "sd2-pairs.jsonl";
  std::ofstream out(input);
  std::string line;
  for (int k = 0; k < 4 && std::getline(lines, line);) {
    if (line.empty()) continue;
    nlohmann::json item = nlohmann::json::parse(line);
    item["caption"] = prompts[k++];
    item["label_0"] = 1;
    out << item.dump() << "\n";
  }
  out.close();
  const std::string dataset = (root_ / "sd2-data").string();
  ASSERT_EQ(PrepareWith("sd2", input.string(), "sd2", dataset, ""), 0) << Log("sd2.log");

  auto golden = safetensors::File::Open((fs::path(kGolden) / "tiny-clip" / "io.safetensors").string());
  ASSERT_TRUE(golden.ok()) << golden.status();
  const auto golden_rows = [&](const std::string& name) {
    auto view = (*golden)->Get(name);
    EXPECT_TRUE(view.ok() && view->info->dtype == safetensors::DType::kF32) << name;
    const float* values = reinterpret_cast<const float*>(view->data);
    return std::vector<float>(values, values + 4 * 77 * 32);
  };
  const std::vector<float> penultimate = golden_rows("text_encoder.penultimate");
  const std::vector<float> last = golden_rows("text_encoder.last");
  auto reader = data::PairReader::Open(dataset, "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->num_pairs(), 4);
  auto batch = (*reader)->Read({0, 1, 2, 3});
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->shape.context_dim, 32);
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t k = batch->pair_ids[i];  // the item's line, i.e. the prompt
    double from_last = 0, worst = 0;
    for (int64_t t = 0; t < 77; ++t) {
      const float* h = penultimate.data() + (k * 77 + t) * 32;
      double mean = 0, var = 0;
      for (int d = 0; d < 32; ++d) mean += h[d] / 32.0;
      for (int d = 0; d < 32; ++d) var += (h[d] - mean) * (h[d] - mean) / 32.0;
      for (int d = 0; d < 32; ++d) {
        const double expected = (h[d] - mean) / std::sqrt(var + 1e-5) * ln_weight[d] + ln_bias[d];
        const double got = batch->prompt_embeds[(i * 77 + t) * 32 + d];
        worst = std::max(worst, std::abs(got - expected));
        from_last = std::max(from_last, std::abs(got - last[(k * 77 + t) * 32 + d]));
      }
    }
    EXPECT_LT(worst, 1e-4) << "prompt " << k;
    EXPECT_GT(from_last, 1e-2) << "prompt " << k << ": the 3-layer encoder's last layer";
  }
}

}  // namespace
}  // namespace align
