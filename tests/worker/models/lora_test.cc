#include "worker/models/lora.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/diffusers/lora_files.h"
#include "common/safetensors/reader.h"
#include "nlohmann/json.hpp"
#include "worker/models/layers.h"
#include "worker/models/lora_io.h"
#include "worker/models/unet_io.h"
#include "worker/models/weights_io.h"
#include "worker/tools/max_relative_error.h"

namespace align::models {
namespace {

namespace fs = std::filesystem;
using tools::MaxRelativeError;
const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";
const std::string kTinyLora = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl-lora";
const std::vector<std::string> kAttention = {"to_q", "to_k", "to_v", "to_out.0"};

UNet2DConditionModel TinyUNet() {
  auto unet = LoadUNet(kTiny + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_TRUE(unet.ok()) << unet.status();
  return *unet;
}

UNetInputs TinyInputs() {
  auto io = ReadTensors(kTiny + "/io.safetensors");
  EXPECT_TRUE(io.ok()) << io.status();
  return UNetInputs{io->at("sample"), io->at("timestep"), io->at("encoder_hidden_states"), io->at("text_embeds"),
                    io->at("time_ids")};
}

fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / absl::StrCat("align_lora_test_", ::getpid(), "_", name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Random B as well (B starts at zero), so that outputs differ from the base.
void RandomizeAdapters(torch::nn::Module& model, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, p] : LoraParameters(model)) p.copy_(torch::randn(p.sizes(), gen) * 0.1);
}

TEST(LoraLayerTest, LinearAddsScaledLowRankUpdate) {
  Linear linear(3, 2, /*with_bias=*/true, torch::TensorOptions().dtype(torch::kFloat));
  torch::NoGradGuard no_grad;
  linear->weight.copy_(torch::tensor({{1.0, 0.0, 2.0}, {0.0, -1.0, 1.0}}));
  linear->bias.copy_(torch::tensor({0.5, -0.5}));
  Lora lora(3, 2, LoraConfig{/*rank=*/1, /*alpha=*/2, /*dropout=*/0}, /*conv=*/false, torch::TensorOptions());
  lora->down->weight.copy_(torch::tensor({{1.0, 1.0, 1.0}}));  // A x = sum(x)
  lora->up->weight.copy_(torch::tensor({{1.0}, {-2.0}}));
  linear->register_module("lora", lora);
  linear->adapter = lora.ptr();
  // x = (1, 2, 3): W x + b = (7.5, 0.5); A x = 6; scale 2: + (12, -24).
  torch::Tensor y = linear(torch::tensor({{1.0, 2.0, 3.0}}));
  EXPECT_TRUE(torch::allclose(y, torch::tensor({{19.5, -23.5}})));
  lora->set_enabled(false);
  EXPECT_TRUE(torch::allclose(linear(torch::tensor({{1.0, 2.0, 3.0}})), torch::tensor({{7.5, 0.5}})));
  // Named as diffusers' keys without the "unet." prefix.
  std::set<std::string> names;
  for (const auto& item : linear->named_parameters()) names.insert(item.key());
  EXPECT_EQ(names, (std::set<std::string>{"weight", "bias", "lora.down.weight", "lora.up.weight"}));
}

TEST(LoraLayerTest, OneByOneConvAddsTheSameUpdatePerPixel) {
  Conv2d conv(2, 2, 1, 1, 0, torch::TensorOptions().dtype(torch::kFloat));
  torch::NoGradGuard no_grad;
  conv->weight.zero_();
  conv->bias.zero_();
  Lora lora(2, 2, LoraConfig{1, 0.5, 0}, /*conv=*/true, torch::TensorOptions());
  EXPECT_EQ(lora->down->weight.sizes(), (std::vector<int64_t>{1, 2, 1, 1}));
  lora->down->weight.copy_(torch::tensor({1.0, -1.0}).view({1, 2, 1, 1}));
  lora->up->weight.copy_(torch::tensor({2.0, 4.0}).view({2, 1, 1, 1}));
  conv->register_module("lora", lora);
  conv->adapter = lora.ptr();
  torch::Tensor x = torch::tensor({3.0, 1.0}).view({1, 2, 1, 1}).expand({1, 2, 2, 2}).contiguous();
  // A x = 2, scale 0.5 -> (2, 4).
  torch::Tensor expected = torch::tensor({2.0, 4.0}).view({1, 2, 1, 1}).expand({1, 2, 2, 2});
  EXPECT_TRUE(torch::allclose(conv(x), expected));
  EXPECT_TRUE(torch::allclose(lora->Delta().flatten(), torch::tensor({1.0, -1.0, 2.0, -2.0})));
}

TEST(LoraLayerTest, DropoutActsOnTheAdapterInputInTrainingOnly) {
  Lora lora(64, 1, LoraConfig{1, 1, 0.5}, false, torch::TensorOptions());
  torch::NoGradGuard no_grad;
  lora->down->weight.fill_(1.0);
  lora->up->weight.fill_(1.0);
  torch::Tensor x = torch::ones({1, 64});
  lora->eval();
  EXPECT_FLOAT_EQ(lora->forward(x).item<float>(), 64.0f);
  lora->train();
  torch::manual_seed(1);
  const float dropped = lora->forward(x).item<float>();
  EXPECT_NE(dropped, 64.0f);                   // some inputs dropped,
  EXPECT_EQ(static_cast<int>(dropped) % 2, 0);  // the kept ones scaled by 1 / (1 - p)
}

TEST(LoraInjectionTest, PicksTheNamedModulesOnlyWithPeftInit) {
  UNet2DConditionModel unet = TinyUNet();
  auto adapted = InjectLora(*unet, kAttention, LoraConfig{4, 8, 0}, /*seed=*/3);
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  ASSERT_FALSE(adapted->empty());
  for (const std::string& name : *adapted) {
    EXPECT_TRUE(absl::EndsWith(name, ".to_q") || absl::EndsWith(name, ".to_k") || absl::EndsWith(name, ".to_v") ||
                absl::EndsWith(name, ".to_out.0"))
        << name;
  }
  // Exactly the layers of the fixture's adapter (peft with the same targets).
  auto fixture = ReadLoraWeights(kTinyLora + "/lora");
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  const std::vector<std::string> fixture_layers = fixture->layers();
  EXPECT_EQ(std::set<std::string>(adapted->begin(), adapted->end()),
            std::set<std::string>(fixture_layers.begin(), fixture_layers.end()));
  for (auto& [layer, lora] : FindLora(*unet)) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(lora->down->weight.size(1)));
    EXPECT_LE(lora->down->weight.abs().max().item<double>(), bound) << layer;
    EXPECT_GT(lora->down->weight.abs().max().item<double>(), 0.5 * bound) << layer;
    EXPECT_EQ(lora->up->weight.abs().max().item<double>(), 0.0) << layer;
  }
  // B = 0: the adapted model starts as the base model.
  UNet2DConditionModel base = TinyUNet();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(unet->forward(TinyInputs()), base->forward(TinyInputs())));
}

TEST(LoraInjectionTest, FeedForwardAndProjectionTargets) {
  UNet2DConditionModel unet = TinyUNet();
  auto adapted = InjectLora(*unet, {"ff", "proj_in"}, LoraConfig{2, 2, 0}, 1);
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  int ff = 0, proj = 0;
  for (const std::string& name : *adapted) {
    if (absl::EndsWith(name, ".ff.net.0.proj") || absl::EndsWith(name, ".ff.net.2")) ++ff;
    else if (absl::EndsWith(name, ".proj_in")) ++proj;
    else ADD_FAILURE() << "unexpected " << name;
  }
  EXPECT_GT(ff, 0);
  EXPECT_GT(proj, 0);
  EXPECT_FALSE(InjectLora(*unet, {"ff"}, LoraConfig{}, 1).ok()) << "adapting twice";
  EXPECT_FALSE(InjectLora(*TinyUNet(), {"conv_in"}, LoraConfig{}, 1).ok()) << "a 3x3 convolution";
}

TEST(LoraInjectionTest, TheSeedDecidesTheInitialAdapters) {
  UNet2DConditionModel a = TinyUNet(), b = TinyUNet(), c = TinyUNet();
  ASSERT_TRUE(InjectLora(*a, kAttention, LoraConfig{}, 5).ok());
  ASSERT_TRUE(InjectLora(*b, kAttention, LoraConfig{}, 5).ok());
  ASSERT_TRUE(InjectLora(*c, kAttention, LoraConfig{}, 6).ok());
  auto pa = LoraParameters(*a), pb = LoraParameters(*b), pc = LoraParameters(*c);
  EXPECT_TRUE(torch::equal(pa[0].second, pb[0].second));
  EXPECT_FALSE(torch::equal(pa[0].second, pc[0].second));
}

TEST(LoraFileTest, SaveThenLoadGivesIdenticalOutputsInDiffusersFormat) {
  UNet2DConditionModel unet = TinyUNet();
  ASSERT_TRUE(InjectLora(*unet, kAttention, LoraConfig{4, 8, 0}, 2).ok());
  RandomizeAdapters(*unet, 9);
  const fs::path dir = TempDir("roundtrip");
  ASSERT_TRUE(SaveLoraWeights(*unet, kAttention, dir.string()).ok());

  auto file = safetensors::File::Open((dir / diffusers::kLoraWeightsFile).string());
  ASSERT_TRUE(file.ok()) << file.status();
  // Every key names a lora weight: diffusers' load_lora_weights refuses a
  // file with any other key ("Invalid LoRA checkpoint").
  size_t down = 0, up = 0;
  for (const auto& info : (*file)->tensors()) {
    EXPECT_TRUE(absl::StartsWith(info.name, "unet.")) << info.name;
    if (absl::EndsWith(info.name, ".lora.down.weight")) ++down;
    else if (absl::EndsWith(info.name, ".lora.up.weight")) ++up;
    else ADD_FAILURE() << info.name;
  }
  EXPECT_EQ(down, FindLora(*unet).size());
  EXPECT_EQ(up, down);
  // The LoraConfig diffusers builds from the metadata (it needs the patterns).
  const nlohmann::json meta = nlohmann::json::parse((*file)->metadata().at("lora_adapter_metadata"));
  EXPECT_EQ(meta["unet.r"], 4);
  EXPECT_EQ(meta["unet.lora_alpha"], 8.0);
  EXPECT_TRUE(meta["unet.rank_pattern"].is_object());
  EXPECT_TRUE(meta["unet.alpha_pattern"].is_object());

  auto weights = ReadLoraWeights(dir.string());
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->rank, 4);
  EXPECT_EQ(weights->alpha, 8.0);
  UNet2DConditionModel loaded = TinyUNet();
  ASSERT_TRUE(InjectLora(*loaded, weights->layers(), LoraConfig{weights->rank, *weights->alpha, 0}, 0).ok());
  ASSERT_TRUE(LoadLoraWeights(*loaded, *weights).ok());
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(unet->forward(TinyInputs()), loaded->forward(TinyInputs())));
  fs::remove_all(dir);
}

TEST(LoraFileTest, PeftKeysWithPrefixesLoadLikeDiffusersKeys) {
  auto diffusers_style = ReadLoraWeights(kTinyLora + "/lora/pytorch_lora_weights.safetensors");
  ASSERT_TRUE(diffusers_style.ok()) << diffusers_style.status();
  EXPECT_EQ(diffusers_style->rank, 4);
  EXPECT_FALSE(diffusers_style->alpha.has_value()) << "the fixture's file states no alpha";
  // The same tensors under peft's names, as save_pretrained writes them.
  const fs::path dir = TempDir("peft");
  std::map<std::string, torch::Tensor> peft;
  for (const auto& [layer, t] : diffusers_style->down) peft["base_model.model." + layer + ".lora_A.weight"] = t;
  for (const auto& [layer, t] : diffusers_style->up) peft["base_model.model." + layer + ".lora_B.weight"] = t;
  ASSERT_TRUE(WriteTensors((dir / "adapter_model.safetensors").string(), peft).ok());
  std::ofstream(dir / "adapter_config.json") << R"({"r": 4, "lora_alpha": 8, "peft_type": "LORA"})";
  auto peft_style = ReadLoraWeights(dir.string());
  ASSERT_TRUE(peft_style.ok()) << peft_style.status();
  EXPECT_EQ(peft_style->alpha, 8.0);
  ASSERT_EQ(peft_style->layers(), diffusers_style->layers());
  for (const auto& [layer, t] : diffusers_style->down) EXPECT_TRUE(torch::equal(t, peft_style->down.at(layer)));
  // peft's in-memory names (".default") and no prefix at all.
  std::map<std::string, torch::Tensor> bare;
  for (const auto& [layer, t] : diffusers_style->down) bare[layer + ".lora_A.default.weight"] = t;
  for (const auto& [layer, t] : diffusers_style->up) bare[layer + ".lora_B.default.weight"] = t;
  ASSERT_TRUE(WriteTensors((dir / "bare.safetensors").string(), bare).ok());
  auto bare_style = ReadLoraWeights((dir / "bare.safetensors").string());
  ASSERT_TRUE(bare_style.ok()) << bare_style.status();
  EXPECT_EQ(bare_style->layers(), diffusers_style->layers());
  fs::remove_all(dir);
}

TEST(LoraFileTest, FixtureAdapterMatchesPeftOutputsAndMergesExactly) {
  auto io = ReadTensors(kTinyLora + "/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  auto weights = ReadLoraWeights(kTinyLora + "/lora");
  ASSERT_TRUE(weights.ok()) << weights.status();
  UNet2DConditionModel unet = TinyUNet();
  ASSERT_TRUE(InjectLora(*unet, weights->layers(), LoraConfig{4, 8, 0}, 0).ok());
  ASSERT_TRUE(LoadLoraWeights(*unet, *weights).ok());
  const UNetInputs in{io->at("sample"), io->at("timestep"), io->at("encoder_hidden_states"), io->at("text_embeds"),
                      io->at("time_ids")};
  torch::NoGradGuard no_grad;
  torch::Tensor out = unet->forward(in);
  EXPECT_LE(MaxRelativeError(out, io->at("out")), 1e-4);
  {
    LoraDisabledScope base_only(*unet);
    EXPECT_LE(MaxRelativeError(unet->forward(in), io->at("out_base")), 1e-4);
  }
  // The merged UNet (W + scale B A) computes what the adapted one does.
  const fs::path dir = TempDir("merged");
  ASSERT_TRUE(SaveMergedUNet(unet, (dir / "unet").string()).ok());
  auto merged = LoadUNet((dir / "unet").string(), torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_LE(MaxRelativeError((*merged)->forward(in), out), 1e-5);
  fs::remove_all(dir);
}

TEST(LoraFileTest, MismatchedLayersAreNamed) {
  auto weights = ReadLoraWeights(kTinyLora + "/lora");
  ASSERT_TRUE(weights.ok());
  UNet2DConditionModel unet = TinyUNet();
  ASSERT_TRUE(InjectLora(*unet, {"to_q"}, LoraConfig{4, 4, 0}, 0).ok());
  absl::Status status = LoadLoraWeights(*unet, *weights);
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(absl::StrContains(status.message(), "does not adapt")) << status;
}

}  // namespace
}  // namespace align::models
