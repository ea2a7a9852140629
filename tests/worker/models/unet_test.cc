#include "worker/models/unet_2d_condition.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/file_util.h"
#include "nlohmann/json.hpp"
#include "worker/models/embeddings.h"
#include "worker/models/layers.h"
#include "worker/models/unet_io.h"
#include "worker/models/weights_io.h"
#include "worker/tools/verify_model.h"
#include "worker/tools/max_relative_error.h"

namespace align::models {
namespace {

namespace fs = std::filesystem;
const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

std::map<std::string, torch::Tensor> Io() {
  auto io = ReadTensors(kTiny + "/io.safetensors");
  EXPECT_TRUE(io.ok()) << io.status();
  return *io;
}

UNetInputs InputsFrom(const std::map<std::string, torch::Tensor>& io) {
  return UNetInputs{io.at("sample"), io.at("timestep"), io.at("encoder_hidden_states"),
                    io.at("text_embeds"), io.at("time_ids")};
}

UNet2DConditionModel LoadTiny() {
  auto unet = LoadUNet(kTiny + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_TRUE(unet.ok()) << unet.status();
  return *unet;
}

fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("align_unet_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Forward + MSE + backward; returns {loss, grads by name}.
std::pair<torch::Tensor, std::map<std::string, torch::Tensor>> LossAndGrads(UNet2DConditionModel& unet,
                                                                            const UNetInputs& in,
                                                                            const torch::Tensor& target) {
  unet->zero_grad();
  torch::Tensor loss = torch::mse_loss(unet->forward(in), target);
  loss.backward();
  std::map<std::string, torch::Tensor> grads;
  for (const auto& p : unet->named_parameters()) grads[p.key()] = p.value().grad().clone();
  return {loss.detach(), grads};
}

TEST(UNetTest, MatchesDiffusersOnTheGoldenFixture) {
  auto io = Io();
  UNet2DConditionModel unet = LoadTiny();
  unet->train();
  auto [loss, grads] = LossAndGrads(unet, InputsFrom(io), io.at("target"));
  torch::Tensor out = unet->forward(InputsFrom(io));
  EXPECT_LT(tools::MaxRelativeError(out, io.at("out")), 1e-4);
  EXPECT_LT(tools::MaxRelativeError(loss.reshape({1}), io.at("loss")), 1e-4);
  int compared = 0;
  for (const auto& [key, expected] : io) {
    if (key.rfind("grad.", 0) != 0) continue;
    ASSERT_TRUE(grads.count(key.substr(5))) << key;
    EXPECT_LT(tools::MaxRelativeError(grads.at(key.substr(5)), expected), 1e-3) << key;
    ++compared;
  }
  EXPECT_EQ(compared, 9);
}

TEST(UNetTest, GradientCheckpointingGivesTheSameGradients) {
  auto io = Io();
  UNet2DConditionModel unet = LoadTiny();
  unet->train();
  auto [loss_plain, grads_plain] = LossAndGrads(unet, InputsFrom(io), io.at("target"));
  unet->set_gradient_checkpointing(true);
  auto [loss_ckpt, grads_ckpt] = LossAndGrads(unet, InputsFrom(io), io.at("target"));
  EXPECT_EQ(loss_plain.item<float>(), loss_ckpt.item<float>());
  // Compared against each gradient's own scale; some are mathematically zero
  // (a per-channel bias right before a GroupNorm with one channel per group)
  // and hold only float noise.
  double largest = 0;
  for (const auto& [name, g] : grads_plain) largest = std::max(largest, g.abs().max().item<double>());
  for (const auto& [name, g] : grads_plain) {
    const double scale = g.abs().max().item<double>();
    EXPECT_LE((grads_ckpt.at(name) - g).abs().max().item<double>(), 1e-5 * scale + 1e-6 * largest) << name;
  }
}

// Recomputing an arbitrary subset of the blocks changes what backward keeps,
// not the math: loss and every gradient match the run that recomputes nothing.
void ExpectRecomputedSubsetMatches(UNet2DConditionModel& unet, const UNetInputs& in, const torch::Tensor& target) {
  unet->train();
  auto [loss_plain, grads_plain] = LossAndGrads(unet, in, target);
  std::set<std::string> subset;
  const std::vector<std::string>& names = unet->recompute_block_names();
  for (size_t i = 0; i < names.size(); i += 2) subset.insert(names[i]);
  subset.insert("mid");
  ASSERT_LT(subset.size(), names.size());
  ASSERT_TRUE(unet->set_recomputed_blocks(subset).ok());
  EXPECT_EQ(unet->recomputed_blocks(), subset);
  EXPECT_TRUE(unet->gradient_checkpointing());
  auto [loss_subset, grads_subset] = LossAndGrads(unet, in, target);
  EXPECT_EQ(loss_plain.item<float>(), loss_subset.item<float>());
  double largest = 0;
  for (const auto& [name, g] : grads_plain) largest = std::max(largest, g.abs().max().item<double>());
  for (const auto& [name, g] : grads_plain) {
    const double scale = g.abs().max().item<double>();
    EXPECT_LE((grads_subset.at(name) - g).abs().max().item<double>(), 1e-5 * scale + 1e-6 * largest) << name;
  }
}

TEST(UNetTest, RecomputeBlocksAreNamedInForwardOrder) {
  UNet2DConditionModel unet = LoadTiny();
  const diffusers::UNetConfig& c = unet->config();
  std::vector<std::string> expected;
  for (size_t i = 0; i < c.num_blocks(); ++i) {
    for (int64_t j = 0; j < c.layers_per_block[i]; ++j) {
      expected.push_back("down." + std::to_string(i) + "." + std::to_string(j));
    }
  }
  expected.push_back("mid");
  for (size_t i = 0; i < c.num_blocks(); ++i) {
    for (int64_t j = 0; j <= c.layers_per_block[c.num_blocks() - 1 - i]; ++j) {
      expected.push_back("up." + std::to_string(i) + "." + std::to_string(j));
    }
  }
  EXPECT_EQ(unet->recompute_block_names(), expected);
  EXPECT_FALSE(unet->gradient_checkpointing());
  unet->set_gradient_checkpointing(true);
  EXPECT_EQ(unet->recomputed_blocks().size(), expected.size());
  unet->set_gradient_checkpointing(false);
  EXPECT_TRUE(unet->recomputed_blocks().empty());
}

TEST(UNetTest, AnUnknownRecomputeBlockIsAnErrorNamingItAndTheValidOnes) {
  UNet2DConditionModel unet = LoadTiny();
  ASSERT_TRUE(unet->set_recomputed_blocks({"mid"}).ok());
  const absl::Status status = unet->set_recomputed_blocks({"down.0.0", "down.9.0"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(status.message()).find("\"down.9.0\""), std::string::npos) << status;
  EXPECT_NE(std::string(status.message()).find("down.0.0, down.0.1"), std::string::npos) << status;
  EXPECT_NE(std::string(status.message()).find("mid"), std::string::npos) << status;
  EXPECT_EQ(unet->recomputed_blocks(), std::set<std::string>{"mid"}) << "a failed call changes nothing";
}

TEST(UNetTest, RecomputingSomeBlocksGivesTheSameGradients) {
  auto io = Io();
  UNet2DConditionModel unet = LoadTiny();
  ExpectRecomputedSubsetMatches(unet, InputsFrom(io), io.at("target"));
}

TEST(UNetTest, RecomputingSomeBlocksGivesTheSameGradientsOnSd15) {
  const std::string dir = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sd15";
  auto io = ReadTensors(dir + "/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  auto unet = LoadUNet(dir + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(unet.ok()) << unet.status();
  UNetInputs in;
  in.sample = io->at("sample");
  in.timestep = io->at("timestep");
  in.encoder_hidden_states = io->at("encoder_hidden_states");
  torch::manual_seed(3);
  ExpectRecomputedSubsetMatches(*unet, in, torch::randn_like(in.sample));
}

// Channels-last runs the same math in another memory order: the output and
// every gradient agree with the NCHW run to fp32 rounding, the convolution
// weights (and so their gradients and optimizer state) are NHWC, and the caller
// gets the sample's layout back.
void ExpectChannelsLastMatches(UNet2DConditionModel& unet, const UNetInputs& in, const torch::Tensor& target) {
  unet->train();
  auto [loss_nchw, grads_nchw] = LossAndGrads(unet, in, target);
  unet->set_channels_last(true);
  int converted = 0;
  for (const auto& p : unet->parameters()) {
    if (p.dim() != 4) continue;
    EXPECT_TRUE(p.is_contiguous(torch::MemoryFormat::ChannelsLast));
    ++converted;
  }
  EXPECT_GT(converted, 0);
  auto [loss_nhwc, grads_nhwc] = LossAndGrads(unet, in, target);
  EXPECT_NEAR(loss_nhwc.item<double>(), loss_nchw.item<double>(), 1e-6 * std::abs(loss_nchw.item<double>()));
  double largest = 0;
  for (const auto& [name, g] : grads_nchw) largest = std::max(largest, g.abs().max().item<double>());
  for (const auto& [name, g] : grads_nchw) {
    const double scale = g.abs().max().item<double>();
    EXPECT_LE((grads_nhwc.at(name) - g).abs().max().item<double>(), 1e-5 * scale + 1e-6 * largest) << name;
    if (g.dim() == 4) EXPECT_TRUE(grads_nhwc.at(name).is_contiguous(torch::MemoryFormat::ChannelsLast)) << name;
  }
  torch::NoGradGuard no_grad;
  torch::Tensor out = unet->forward(in);
  EXPECT_TRUE(out.is_contiguous());
  unet->set_channels_last(false);
  EXPECT_LT(tools::MaxRelativeError(out, unet->forward(in)), 1e-5);
}

TEST(UNetTest, ChannelsLastGivesTheSameOutputAndGradients) {
  auto io = Io();
  UNet2DConditionModel unet = LoadTiny();
  ExpectChannelsLastMatches(unet, InputsFrom(io), io.at("target"));
}

TEST(UNetTest, ChannelsLastWithConvolutionProjectionsAndCheckpointing) {
  // SD 1.5 UNets project into and out of their transformers with 1x1 convolutions.
  const std::string dir = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sd15";
  auto io = ReadTensors(dir + "/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  auto unet = LoadUNet(dir + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(unet.ok()) << unet.status();
  (*unet)->set_gradient_checkpointing(true);
  UNetInputs in;
  in.sample = io->at("sample");
  in.timestep = io->at("timestep");
  in.encoder_hidden_states = io->at("encoder_hidden_states");
  torch::manual_seed(3);
  ExpectChannelsLastMatches(*unet, in, torch::randn_like(in.sample));
}

TEST(GroupNormChannelsLastTest, MatchesGroupNormAndKeepsTheLayout) {
  torch::manual_seed(11);
  // Odd spatial sizes, 4 groups of 6 channels, a mean far from zero.
  torch::Tensor x = (torch::randn({2, 24, 5, 7}) * 3 + 10).contiguous(torch::MemoryFormat::ChannelsLast);
  x.set_requires_grad(true);
  torch::Tensor weight = torch::randn({24}, torch::requires_grad());
  torch::Tensor bias = torch::randn({24}, torch::requires_grad());
  torch::Tensor upstream = torch::randn({2, 24, 5, 7});

  torch::Tensor y = GroupNormChannelsLast(x, 4, weight, bias, 1e-5);
  EXPECT_TRUE(y.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(IsChannelsLast(y));
  auto grads = torch::autograd::grad({(y * upstream).sum()}, {x, weight, bias});

  torch::Tensor x_ref = x.detach().contiguous().requires_grad_(true);
  torch::Tensor w_ref = weight.detach().clone().requires_grad_(true);
  torch::Tensor b_ref = bias.detach().clone().requires_grad_(true);
  torch::Tensor y_ref = torch::group_norm(x_ref, 4, w_ref, b_ref, 1e-5);
  auto grads_ref = torch::autograd::grad({(y_ref * upstream).sum()}, {x_ref, w_ref, b_ref});

  EXPECT_LT(tools::MaxRelativeError(y, y_ref), 1e-5);
  for (int i = 0; i < 3; ++i) EXPECT_LT(tools::MaxRelativeError(grads[i], grads_ref[i]), 1e-4) << i;
}

TEST(GroupNormChannelsLastTest, RejectsChannelsThatDoNotSplitIntoGroups) {
  torch::Tensor x = torch::randn({1, 6, 2, 2}).contiguous(torch::MemoryFormat::ChannelsLast);
  EXPECT_THROW(GroupNormChannelsLast(x, 4, torch::ones({6}), torch::zeros({6}), 1e-5), c10::Error);
}

// Shapes the fixture does not cover: odd, non-square latents (the upsample
// follows the skip sizes), other batch sizes and token counts. Each sample of
// a batch must not depend on the others.
TEST(UNetTest, NonSquareOddLatentsBatchAndTokenCounts) {
  UNet2DConditionModel unet = LoadTiny();
  unet->eval();
  torch::NoGradGuard no_grad;
  torch::manual_seed(7);
  const int64_t batch = 3, tokens = 5;
  UNetInputs in{torch::randn({batch, 4, 13, 10}), torch::tensor({999, 0, 500}),
                torch::randn({batch, tokens, 64}), torch::randn({batch, 32}),
                torch::tensor({{1024., 1024., 0., 0., 1024., 1024.},
                               {768., 1344., 12., 4., 1024., 1024.},
                               {512., 512., 0., 0., 512., 512.}})};
  torch::Tensor out = unet->forward(in);
  ASSERT_EQ(out.sizes(), in.sample.sizes());
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  for (int64_t i = 0; i < batch; ++i) {
    auto slice = [&](const torch::Tensor& t) { return t.narrow(0, i, 1); };
    UNetInputs one{slice(in.sample), slice(in.timestep), slice(in.encoder_hidden_states),
                   slice(in.text_embeds), slice(in.time_ids)};
    EXPECT_LT(tools::MaxRelativeError(unet->forward(one), slice(out)), 1e-5) << "sample " << i;
  }
}

TEST(UNetTest, ScalarTimestepBroadcasts) {
  auto io = Io();
  UNet2DConditionModel unet = LoadTiny();
  torch::NoGradGuard no_grad;
  UNetInputs in = InputsFrom(io);
  in.timestep = torch::tensor(321);
  UNetInputs expanded = in;
  expanded.timestep = torch::tensor({321, 321});
  EXPECT_TRUE(torch::equal(unet->forward(in), unet->forward(expanded)));
}

TEST(UNetTest, RejectsMissingConditioning) {
  auto io = Io();
  UNet2DConditionModel unet = LoadTiny();
  torch::NoGradGuard no_grad;
  UNetInputs in = InputsFrom(io);
  in.time_ids = torch::Tensor();
  EXPECT_THROW(unet->forward(in), c10::Error);
  in = InputsFrom(io);
  in.encoder_hidden_states = torch::randn({2, 7, 32});
  EXPECT_THROW(unet->forward(in), c10::Error);
}

TEST(UNetTest, SaveAndLoadRoundTripsInDiffusersLayout) {
  auto io = Io();
  UNet2DConditionModel unet = LoadTiny();
  for (const bool sharded : {false, true}) {
    fs::path dir = TempDir(sharded ? "sharded" : "single") / "unet";
    // The fixture's weights are F16 values, so an F16 copy is exact.
    ASSERT_TRUE(SaveUNet(unet, dir.string(), torch::kHalf, sharded ? 1 << 20 : 10ull << 30).ok());
    EXPECT_TRUE(fs::exists(dir / "config.json"));
    EXPECT_EQ(fs::exists(dir / "diffusion_pytorch_model.safetensors.index.json"), sharded);
    EXPECT_EQ(fs::exists(dir / "diffusion_pytorch_model.safetensors"), !sharded);
    auto reloaded = LoadUNet(dir.string(), torch::TensorOptions().dtype(torch::kFloat));
    ASSERT_TRUE(reloaded.ok()) << reloaded.status();
    auto original = unet->named_parameters();
    for (const auto& p : (*reloaded)->named_parameters()) {
      EXPECT_TRUE(torch::equal(p.value(), original[p.key()])) << p.key();
    }
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal((*reloaded)->forward(InputsFrom(io)), unet->forward(InputsFrom(io))));
    fs::remove_all(dir.parent_path());
  }
}

// Writes the tiny checkpoint with `edit` applied to its tensor map.
absl::Status LoadEdited(const std::function<void(std::map<std::string, torch::Tensor>&)>& edit) {
  auto weights = ReadTensors(kTiny + "/unet/diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(weights.ok());
  edit(*weights);
  fs::path dir = TempDir("edited") / "unet";
  fs::create_directories(dir);
  fs::copy_file(kTiny + "/unet/config.json", dir / "config.json");
  EXPECT_TRUE(WriteTensors((dir / "diffusion_pytorch_model.safetensors").string(), *weights).ok());
  absl::Status status = LoadUNet(dir.string(), torch::TensorOptions()).status();
  fs::remove_all(dir.parent_path());
  return status;
}

TEST(UNetTest, LoadingNamesMissingExtraAndMisshapenKeys) {
  absl::Status missing = LoadEdited([](auto& w) { w.erase("mid_block.attentions.0.norm.weight"); });
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.message()).find("missing from the checkpoint: mid_block.attentions.0.norm.weight"),
            std::string::npos) << missing.message();

  absl::Status extra = LoadEdited([](auto& w) { w["mid_block.extra.weight"] = torch::zeros({2}); });
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(std::string(extra.message()).find("not used by the model: mid_block.extra.weight"), std::string::npos)
      << extra.message();

  absl::Status shape = LoadEdited([](auto& w) { w["conv_in.weight"] = torch::zeros({32, 4, 1, 1}); });
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(std::string(shape.message()).find("conv_in.weight (file [32,4,1,1], model [32,4,3,3])"),
            std::string::npos) << shape.message();
}

// SDXL base's real config, built on the meta device: shapes without memory.
TEST(UNetTest, SdxlBaseHasExactlyTheReferenceParameterCount) {
  auto config = diffusers::LoadUNetConfig(std::string(ALIGN_TESTS_DIR) + "/data/sdxl-base/unet/config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  UNet2DConditionModel unet(*config, torch::TensorOptions().dtype(torch::kFloat).device(torch::kMeta));
  EXPECT_EQ(unet->num_parameters(), 2567463684);
  auto params = unet->named_parameters();
  EXPECT_EQ(params.size(), 1680u);
  ASSERT_TRUE(params.contains("add_embedding.linear_1.weight"));
  EXPECT_EQ(params["add_embedding.linear_1.weight"].sizes(), (std::vector<int64_t>{1280, 2816}));
  ASSERT_TRUE(params.contains("down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2.weight"));
  EXPECT_EQ(params["down_blocks.2.attentions.1.transformer_blocks.9.ff.net.2.weight"].sizes(),
            (std::vector<int64_t>{1280, 5120}));
  ASSERT_TRUE(params.contains("up_blocks.0.attentions.2.transformer_blocks.9.attn2.to_k.weight"));
  EXPECT_EQ(params["up_blocks.0.attentions.2.transformer_blocks.9.attn2.to_k.weight"].sizes(),
            (std::vector<int64_t>{1280, 2048}));
  EXPECT_TRUE(params.contains("up_blocks.2.resnets.2.conv_shortcut.weight"));
  EXPECT_FALSE(params.contains("up_blocks.2.upsamplers.0.conv.weight"));
  EXPECT_TRUE(params["conv_in.weight"].is_meta());
}

// The SD 1.5 family: one text encoder's states, no added conditioning, 1x1
// conv projections, the cross-attention blocks first.
TEST(UNetTest, MatchesDiffusersOnTheSd15Fixture) {
  const std::string dir = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sd15";
  auto io = ReadTensors(dir + "/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  auto unet = LoadUNet(dir + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(unet.ok()) << unet.status();
  EXPECT_FALSE((*unet)->config().text_time_embedding);
  torch::NoGradGuard no_grad;
  UNetInputs in;
  in.sample = io->at("sample");
  in.timestep = io->at("timestep");
  in.encoder_hidden_states = io->at("encoder_hidden_states");
  EXPECT_LT(tools::MaxRelativeError((*unet)->forward(in), io->at("out")), 1e-4);
}

// Latent consistency UNets: timestep_cond enters the timestep embedding through cond_proj.
TEST(UNetTest, MatchesDiffusersOnTheLcmFixture) {
  const std::string dir = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl-lcm";
  auto io = ReadTensors(dir + "/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  auto unet = LoadUNet(dir + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(unet.ok()) << unet.status();
  ASSERT_EQ((*unet)->config().time_cond_proj_dim, 16);
  torch::NoGradGuard no_grad;
  UNetInputs in = InputsFrom(*io);
  in.timestep_cond = io->at("timestep_cond");
  const torch::Tensor out = (*unet)->forward(in);
  EXPECT_LT(tools::MaxRelativeError(out, io->at("out")), 1e-4);
  // The condition matters, and is required.
  UNetInputs zero_cond = in;
  zero_cond.timestep_cond = torch::zeros_like(in.timestep_cond);
  EXPECT_GT(tools::MaxRelativeError((*unet)->forward(zero_cond), io->at("out")), 1e-3);
  in.timestep_cond = torch::Tensor();
  EXPECT_THROW((*unet)->forward(in), c10::Error);
  // A UNet without cond_proj refuses one.
  UNetInputs plain = InputsFrom(Io());
  plain.timestep_cond = io->at("timestep_cond");
  EXPECT_THROW(LoadTiny()->forward(plain), c10::Error);
}

TEST(GuidanceScaleEmbeddingTest, MatchesTheLcmPipeline) {
  auto io = ReadTensors(std::string(ALIGN_GOLDEN_DIR) + "/guidance-embedding/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  // The angles reach 1000 * w radians (7000 here), where one float32 ulp of
  // the angle (from a one-ulp difference in exp between vector libraries)
  // moves sin/cos by ~5e-4: the bound is two ulps of each row's largest angle.
  const torch::Tensor w = io->at("w");
  const torch::Tensor bound = (w.abs() * 1000.0 * 2.0 * std::ldexp(1.0, -23)).unsqueeze(1) + 1e-6;
  for (const int64_t dim : {16, 256}) {
    const torch::Tensor expected = io->at("embedding_" + std::to_string(dim));
    const torch::Tensor got = GuidanceScaleEmbedding(w, dim);
    ASSERT_EQ(got.sizes(), expected.sizes());
    EXPECT_TRUE(((got - expected).abs() <= bound).all().item<bool>())
        << dim << ": " << ((got - expected).abs() - bound).max().item<double>();
  }
  EXPECT_EQ(GuidanceScaleEmbedding(io->at("w"), 17).sizes(), (std::vector<int64_t>{4, 17}));
}

TEST(VerifyModelTest, PassesOnTheFixtureAndFailsOnAPerturbedWeight) {
  tools::VerifyModelOptions opts{kTiny, kTiny + "/io.safetensors"};
  std::ostringstream out, err;
  EXPECT_EQ(tools::RunVerifyModel(opts, out, err), 0) << err.str();
  nlohmann::json line = nlohmann::json::parse(out.str());
  EXPECT_TRUE(line["ok"].get<bool>());
  EXPECT_LT(line["max_rel_err"]["out"].get<double>(), 1e-4);
  EXPECT_EQ(line["max_rel_err"].size(), 11u);  // out, loss and nine gradients

  fs::path root = TempDir("perturbed");
  fs::create_directories(root / "unet");
  fs::copy_file(kTiny + "/unet/config.json", root / "unet" / "config.json");
  auto weights = ReadTensors(kTiny + "/unet/diffusion_pytorch_model.safetensors");
  ASSERT_TRUE(weights.ok());
  (*weights)["mid_block.resnets.1.conv2.bias"] += 0.01;
  ASSERT_TRUE(WriteTensors((root / "unet" / "diffusion_pytorch_model.safetensors").string(), *weights).ok());
  opts.model_dir = root.string();
  std::ostringstream out2, err2;
  EXPECT_EQ(tools::RunVerifyModel(opts, out2, err2), 1);
  EXPECT_FALSE(nlohmann::json::parse(out2.str())["ok"].get<bool>());

  opts.io_path = kTiny + "/unet/config.json";  // not a safetensors file
  std::ostringstream out3, err3;
  EXPECT_EQ(tools::RunVerifyModel(opts, out3, err3), 2);
  EXPECT_FALSE(err3.str().empty());
  fs::remove_all(root);
}

}  // namespace
}  // namespace align::models
