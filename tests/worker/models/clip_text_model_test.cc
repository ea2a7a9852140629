#include "worker/models/clip_text_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "nlohmann/json.hpp"
#include "common/diffusers/clip_config.h"
#include "worker/models/clip_tokenizer.h"
#include "worker/models/weights_io.h"
#include "worker/tools/verify_clip.h"
#include "worker/tools/max_relative_error.h"

namespace align::models {
namespace {

namespace fs = std::filesystem;
using TensorMap = std::map<std::string, torch::Tensor>;

const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-clip";
const char* const kEncoders[] = {"text_encoder", "text_encoder_2"};

TensorMap Io() {
  auto io = ReadTensors(kTiny + "/io.safetensors");
  EXPECT_TRUE(io.ok()) << io.status();
  return *io;
}

fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("align_clip_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string ReadText(const std::string& path) {
  auto text = ReadFileToString(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return *text;
}

// Copies an encoder folder with its config edited by `edit_config` and its
// tensors by `edit_tensors`.
std::string CopyEncoder(const std::string& name, const std::string& tag,
                        const std::function<void(nlohmann::json&)>& edit_config,
                        const std::function<void(TensorMap&)>& edit_tensors) {
  fs::path dir = TempDir(name + "_" + tag);
  nlohmann::json config = nlohmann::json::parse(ReadText(kTiny + "/" + name + "/config.json"));
  edit_config(config);
  std::ofstream(dir / "config.json") << config.dump(2);
  auto tensors = ReadTensors(kTiny + "/" + name + "/model.safetensors");
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  edit_tensors(*tensors);
  EXPECT_TRUE(WriteTensors((dir / "model.safetensors").string(), *tensors).ok());
  return dir.string();
}

void NoConfigEdit(nlohmann::json&) {}

// Rewrites every key with (or without) transformers 4's "text_model." prefix.
void SetPrefix(TensorMap& tensors, bool prefixed) {
  TensorMap out;
  for (auto& [key, value] : tensors) {
    std::string bare = key.rfind("text_model.", 0) == 0 ? key.substr(11) : key;
    out[prefixed && bare != "text_projection.weight" ? "text_model." + bare : bare] = value;
  }
  tensors = out;
}

ClipTextModel Load(const std::string& dir) {
  auto model = LoadClipTextModel(dir, torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_TRUE(model.ok()) << model.status();
  return *model;
}

void ExpectMatchesGolden(const std::string& name, const std::string& dir, const TensorMap& io,
                         bool print = false) {
  ClipTextModel model = Load(dir);
  torch::NoGradGuard no_grad;
  ClipTextOutput out = model->forward(io.at("input_ids"));
  ASSERT_EQ(out.hidden_states.size(), static_cast<size_t>(model->config().num_hidden_layers + 1));
  const double penultimate = tools::MaxRelativeError(out.penultimate(), io.at(name + ".penultimate"));
  const double last = tools::MaxRelativeError(out.last_hidden_state, io.at(name + ".last"));
  const double pooled = tools::MaxRelativeError(out.pooled(), io.at(name + ".pooled"));
  EXPECT_LT(penultimate, 1e-4) << name;
  EXPECT_LT(last, 1e-4) << name;
  EXPECT_LT(pooled, 1e-4) << name;
  if (print) {
    std::cout << name << ": max rel err penultimate " << penultimate << ", last " << last << ", pooled "
              << pooled << std::endl;
  }
}

TEST(ClipTextModelTest, BothEncodersMatchTransformers) {
  const TensorMap io = Io();
  for (const std::string name : kEncoders) ExpectMatchesGolden(name, kTiny + "/" + name, io, /*print=*/true);
  EXPECT_FALSE(Load(kTiny + "/text_encoder")->with_projection());
  EXPECT_TRUE(Load(kTiny + "/text_encoder_2")->with_projection());
}

TEST(ClipTextModelTest, FixtureIdsAreTheTokenizersIds) {
  auto tok = ClipTokenizer::Load(std::string(ALIGN_GOLDEN_DIR) + "/tokenizer/tokenizer");
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::ifstream in(std::string(ALIGN_GOLDEN_DIR) + "/tokenizer/expected.json");
  const nlohmann::json expected = nlohmann::json::parse(in);
  const torch::Tensor ids = Io().at("input_ids");
  ASSERT_EQ(ids.size(0), 4);
  for (int64_t i = 0; i < 4; ++i) {
    std::vector<int64_t> row(ids[i].data_ptr<int64_t>(), ids[i].data_ptr<int64_t>() + ids.size(1));
    EXPECT_EQ(tok->Encode(expected.at("prompts")[i].get<std::string>()), row) << i;
  }
}

TEST(ClipTextModelTest, AcceptsBothKeyLayoutsAndTheLegacyPositionIds) {
  const TensorMap io = Io();
  for (const std::string name : kEncoders) {
    for (bool prefixed : {true, false}) {
      const std::string dir = CopyEncoder(name, prefixed ? "prefixed" : "bare", NoConfigEdit, [&](TensorMap& t) {
        SetPrefix(t, prefixed);
        // transformers < 4.31 stored this buffer; it is ignored on load.
        t[prefixed ? "text_model.embeddings.position_ids" : "embeddings.position_ids"] =
            torch::arange(77, torch::kLong).unsqueeze(0);
      });
      SCOPED_TRACE(dir);
      ExpectMatchesGolden(name, dir, io);
    }
  }
}

TEST(ClipTextModelTest, ProjectionFromCheckpointWithoutArchitectures) {
  const TensorMap io = Io();
  for (const std::string name : kEncoders) {
    const std::string dir =
        CopyEncoder(name, "no_arch", [](nlohmann::json& c) { c.erase("architectures"); }, [](TensorMap&) {});
    ExpectMatchesGolden(name, dir, io);
  }
}

TEST(ClipTextModelTest, LegacyEosTokenIdPoolsAtTheLargestId) {
  // eos_token_id 2 (OpenAI's and SDXL's configs): pooled at argmax(ids), which
  // is the end-of-text position here too.
  const TensorMap io = Io();
  for (const std::string name : kEncoders) {
    const std::string dir =
        CopyEncoder(name, "eos2", [](nlohmann::json& c) { c["eos_token_id"] = 2; }, [](TensorMap&) {});
    ExpectMatchesGolden(name, dir, io);
  }
  // Pooling positions on hand-made ids: first eos (707); none -> 0; legacy -> first max.
  auto config = diffusers::LoadClipTextConfig(kTiny + "/text_encoder/config.json");
  ASSERT_TRUE(config.ok());
  ClipTextModel model(*config, false, torch::TensorOptions().dtype(torch::kFloat));
  InitializeRandomWeights(*model, 1);
  torch::NoGradGuard no_grad;
  torch::Tensor ids = torch::tensor({706, 5, 707, 9, 707, 706, 5, 6, 7, 8}, torch::kLong).view({2, 5});
  ClipTextOutput out = model->forward(ids);
  EXPECT_TRUE(torch::equal(out.pooler_output[0], out.last_hidden_state[0][2]));
  EXPECT_TRUE(torch::equal(out.pooler_output[1], out.last_hidden_state[1][0]));
  config->eos_token_id = 2;
  ClipTextModel legacy(*config, false, torch::TensorOptions().dtype(torch::kFloat));
  InitializeRandomWeights(*legacy, 1);
  out = legacy->forward(ids);
  EXPECT_TRUE(torch::equal(out.pooler_output[0], out.last_hidden_state[0][2]));
  EXPECT_TRUE(torch::equal(out.pooler_output[1], out.last_hidden_state[1][0]));  // 706 is row 1's max
}

TEST(ClipTextModelTest, MissingAndExtraKeysAreErrorsNamingThem) {
  const std::string missing = CopyEncoder("text_encoder_2", "missing", NoConfigEdit, [](TensorMap& t) {
    t.erase("text_model.encoder.layers.1.mlp.fc2.bias");
  });
  auto a = LoadClipTextModel(missing, torch::TensorOptions());
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("encoder.layers.1.mlp.fc2.bias"), std::string::npos) << a.status();

  const std::string extra = CopyEncoder("text_encoder", "extra", NoConfigEdit, [](TensorMap& t) {
    t["encoder.layers.3.mlp.fc1.weight"] = torch::zeros({64, 32});
  });
  auto b = LoadClipTextModel(extra, torch::TensorOptions());
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("encoder.layers.3.mlp.fc1.weight"), std::string::npos) << b.status();

  // CLIPTextModel's config with a projection in the file: the projection is unused.
  const std::string projection = CopyEncoder("text_encoder", "projection", NoConfigEdit, [](TensorMap& t) {
    t["text_projection.weight"] = torch::zeros({24, 32});
  });
  auto c = LoadClipTextModel(projection, torch::TensorOptions());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("text_projection.weight"), std::string::npos) << c.status();

  const std::string shape = CopyEncoder("text_encoder", "shape", [](nlohmann::json& cfg) { cfg["vocab_size"] = 700; },
                                        [](TensorMap&) {});
  auto d = LoadClipTextModel(shape, torch::TensorOptions());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("token_embedding.weight"), std::string::npos) << d.status();
}

TEST(ClipTextModelTest, ConfigRejectsUnsupportedOptionsByName) {
  const std::string base = ReadText(kTiny + "/text_encoder_2/config.json");
  auto parse_with = [&](const std::string& key, const nlohmann::json& value) {
    nlohmann::json c = nlohmann::json::parse(base);
    c[key] = value;
    return diffusers::ParseClipTextConfig(c.dump());
  };
  auto ok = diffusers::ParseClipTextConfig(base);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->hidden_act, diffusers::ClipActivation::kGelu);
  EXPECT_EQ(ok->projection_dim, 24);
  EXPECT_EQ(ok->eos_token_id, 707);
  EXPECT_EQ(ok->with_projection, true);

  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"hidden_act", "gelu_new"},
           {"some_new_option", 1},
           {"architectures", {"CLIPModel"}},
           {"attention_dropout", 0.1},
           {"model_type", "clip"},
           {"pruned_heads", {{"0", {1}}}},
           {"num_attention_heads", 5}}) {
    auto parsed = parse_with(key, value);
    ASSERT_FALSE(parsed.ok()) << key;
    EXPECT_NE(parsed.status().message().find(key == "num_attention_heads" ? "num_attention_heads" : key),
              std::string::npos)
        << parsed.status();
  }
  // Non-computational keys older transformers wrote are accepted.
  EXPECT_TRUE(parse_with("torch_dtype", "float16").ok());
  EXPECT_TRUE(parse_with("dropout", 0.0).ok());
  EXPECT_TRUE(parse_with("_name_or_path", "x").ok());
}

TEST(ClipTextModelTest, VerifyClipComparesBothEncoders) {
  const TensorMap io = Io();
  std::map<std::string, double> errors;
  std::vector<std::string> components;
  absl::Status status = tools::VerifyClip(
      kTiny, io, torch::kCPU, torch::kFloat,
      [&](const std::string& key, double err, bool is_gradient) {
        EXPECT_FALSE(is_gradient);
        errors[key] = err;
      },
      components);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(components, (std::vector<std::string>{"text_encoder", "text_encoder_2"}));
  ASSERT_EQ(errors.size(), 6u);
  for (const auto& [key, err] : errors) EXPECT_LT(err, 1e-4) << key;

  // bf16 runs too (looser agreement).
  errors.clear();
  components.clear();
  ASSERT_TRUE(tools::VerifyClip(kTiny, io, torch::kCPU, torch::kBFloat16,
                                [&](const std::string& key, double err, bool) { errors[key] = err; }, components)
                  .ok());
  for (const auto& [key, err] : errors) EXPECT_LT(err, 5e-2) << key;

  // No keys for the encoders: nothing compared. Keys without input_ids: an error.
  components.clear();
  TensorMap none = {{"input_ids", io.at("input_ids")}};
  ASSERT_TRUE(tools::VerifyClip(kTiny, none, torch::kCPU, torch::kFloat, [](const std::string&, double, bool) {},
                                components)
                  .ok());
  EXPECT_TRUE(components.empty());
  TensorMap no_ids = io;
  no_ids.erase("input_ids");
  EXPECT_FALSE(tools::VerifyClip(kTiny, no_ids, torch::kCPU, torch::kFloat,
                                 [](const std::string&, double, bool) {}, components)
                   .ok());
}

}  // namespace
}  // namespace align::models
