#include "worker/models/lora_io.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/diffusers/lora_files.h"
#include "common/diffusers/model_folder.h"
#include "common/file_util.h"
#include "common/safetensors/reader.h"
#include "common/safetensors/sharded_weights.h"
#include "common/safetensors/writer.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/models/weights_io.h"

namespace align::models {
namespace {

namespace fs = std::filesystem;

constexpr char kAdapterMetadataKey[] = "lora_adapter_metadata";

std::string StripPrefix(std::string key, absl::string_view prefix) {
  if (absl::StartsWith(key, prefix)) key.erase(0, prefix.size());
  return key;
}

// "<layer>" and which matrix a key holds, in either key style.
struct ParsedKey {
  std::string layer;
  enum { kDown, kUp, kAlpha, kOther } kind = kOther;
};

ParsedKey ParseKey(const std::string& raw) {
  std::string key = StripPrefix(StripPrefix(raw, "base_model.model."), "unet.");
  struct Suffix {
    const char* text;
    decltype(ParsedKey::kind) kind;
  };
  static const Suffix kSuffixes[] = {
      {".lora.down.weight", ParsedKey::kDown},      {".lora.up.weight", ParsedKey::kUp},
      {".lora_A.default.weight", ParsedKey::kDown}, {".lora_B.default.weight", ParsedKey::kUp},
      {".lora_A.weight", ParsedKey::kDown},         {".lora_B.weight", ParsedKey::kUp},
      {".alpha", ParsedKey::kAlpha}};
  for (const Suffix& s : kSuffixes) {
    if (absl::EndsWith(key, s.text)) return {key.substr(0, key.size() - std::string(s.text).size()), s.kind};
  }
  return {key, ParsedKey::kOther};
}

// The alpha a metadata JSON or a peft config states, if any.
std::optional<double> AlphaFromJson(const nlohmann::json& j) {
  for (const char* key : {"unet.lora_alpha", "lora_alpha"}) {
    if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> LoraWeights::layers() const {
  std::vector<std::string> names;
  for (const auto& [layer, t] : down) names.push_back(layer);
  return names;
}

absl::StatusOr<LoraWeights> ReadLoraWeights(const std::string& path) {
  ASSIGN_OR_RETURN(const diffusers::LoraFiles files, diffusers::FindLoraFiles(path));
  const std::string& file = files.weights;
  std::optional<double> config_alpha;
  if (!files.peft_config.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(files.peft_config));
    const nlohmann::json config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(files.peft_config, " is not valid JSON"));
    config_alpha = AlphaFromJson(config);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<safetensors::File> reader, safetensors::File::Open(file));
  LoraWeights weights;
  std::set<double> alphas;
  std::vector<std::string> unknown;
  for (const safetensors::TensorInfo& info : reader->tensors()) {
    ASSIGN_OR_RETURN(safetensors::TensorView view, reader->Get(info.name));
    const ParsedKey key = ParseKey(info.name);
    torch::Tensor value = ToTorch(view).to(torch::kFloat);
    switch (key.kind) {
      case ParsedKey::kDown: weights.down[key.layer] = value; break;
      case ParsedKey::kUp: weights.up[key.layer] = value; break;
      case ParsedKey::kAlpha: alphas.insert(value.item<double>()); break;
      case ParsedKey::kOther: unknown.push_back(info.name); break;
    }
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": keys that are not LoRA weights of the UNet: ",
                                                   absl::StrJoin(unknown.begin(), unknown.begin() + std::min<size_t>(5, unknown.size()), ", ")));
  }
  if (weights.down.empty()) return absl::InvalidArgumentError(absl::StrCat(file, " holds no LoRA weights"));
  for (const auto& [layer, down] : weights.down) {
    auto up = weights.up.find(layer);
    if (up == weights.up.end()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", layer, " has a down (A) matrix but no up (B)"));
    }
    const int64_t rank = down.size(0);
    if (up->second.size(1) != rank || (weights.rank != 0 && rank != weights.rank)) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", layer, " has rank ", rank, " (up: ",
                                                     up->second.size(1), "); every layer must have one rank"));
    }
    weights.rank = rank;
  }
  if (weights.up.size() != weights.down.size()) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": some layers have an up (B) matrix but no down (A)"));
  }
  if (alphas.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": layers have different alphas; one is supported"));
  }
  if (!alphas.empty()) {
    weights.alpha = *alphas.begin();
  } else if (auto meta = reader->metadata().find(kAdapterMetadataKey); meta != reader->metadata().end()) {
    const nlohmann::json j = nlohmann::json::parse(meta->second, nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) weights.alpha = AlphaFromJson(j);
  }
  if (!weights.alpha) weights.alpha = config_alpha;
  return weights;
}

absl::Status LoadLoraWeights(torch::nn::Module& model, const LoraWeights& weights) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  for (auto& [layer, lora] : FindLora(model)) {
    auto down = weights.down.find(layer);
    auto up = weights.up.find(layer);
    if (down == weights.down.end() || up == weights.up.end()) {
      missing.push_back(layer);
      continue;
    }
    used.insert(layer);
    if (down->second.sizes() != lora->down->weight.sizes() || up->second.sizes() != lora->up->weight.sizes()) {
      mismatched.push_back(layer);
      continue;
    }
    lora->down->weight.copy_(down->second);
    lora->up->weight.copy_(up->second);
  }
  std::vector<std::string> unexpected;
  for (const auto& [layer, t] : weights.down) {
    if (used.count(layer) == 0) unexpected.push_back(layer);
  }
  if (missing.empty() && mismatched.empty() && unexpected.empty()) return absl::OkStatus();
  auto some = [](const std::vector<std::string>& v) {
    return absl::StrCat(absl::StrJoin(v.begin(), v.begin() + std::min<size_t>(3, v.size()), ", "),
                        v.size() > 3 ? absl::StrCat(" and ", v.size() - 3, " more") : "");
  };
  std::vector<std::string> problems;
  if (!missing.empty()) problems.push_back(absl::StrCat("adapted layers the file lacks: ", some(missing)));
  if (!mismatched.empty()) problems.push_back(absl::StrCat("shape (rank) differs: ", some(mismatched)));
  if (!unexpected.empty()) problems.push_back(absl::StrCat("layers in the file the model does not adapt: ", some(unexpected)));
  return absl::InvalidArgumentError(absl::StrCat("LoRA weights do not match the model's adapters; ",
                                                 absl::StrJoin(problems, "; ")));
}

absl::Status AttachLoraWeights(UNet2DConditionModel& unet, const LoraWeights& weights,
                               std::optional<double> alpha_override) {
  for (auto& p : unet->parameters()) p.set_requires_grad(false);
  LoraConfig config;
  config.rank = weights.rank;
  config.alpha = alpha_override.value_or(weights.alpha.value_or(static_cast<double>(weights.rank)));
  RETURN_IF_ERROR(InjectLora(*unet, weights.layers(), config, /*seed=*/0).status());
  return LoadLoraWeights(*unet, weights);
}

absl::Status SaveLoraWeights(torch::nn::Module& model, const std::vector<std::string>& targets,
                             const std::string& dir) {
  const std::vector<std::pair<std::string, Lora>> adapters = FindLora(model);
  if (adapters.empty()) return absl::FailedPreconditionError("the model has no LoRA adapters to save");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  safetensors::Writer writer;
  auto add = [&](const std::string& key, const torch::Tensor& t) -> absl::Status {
    torch::Tensor cpu = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    return writer.Add(key, safetensors::DType::kF32, cpu.sizes().vec(), cpu.data_ptr(), cpu.nbytes());
  };
  const LoraConfig& config = adapters.front().second->config();
  for (const auto& [layer, lora] : adapters) {
    RETURN_IF_ERROR(add(absl::StrCat("unet.", layer, ".lora.down.weight"), lora->down->weight));
    RETURN_IF_ERROR(add(absl::StrCat("unet.", layer, ".lora.up.weight"), lora->up->weight));
  }
  // The scale travels only as diffusers' adapter metadata: the LoraConfig
  // fields load_lora_weights builds its config from (it refuses a file with
  // any key that does not name a lora weight, so no `.alpha` tensors).
  const nlohmann::json metadata = {{"unet.r", config.rank},
                                   {"unet.lora_alpha", config.alpha},
                                   {"unet.lora_dropout", config.dropout},
                                   {"unet.target_modules", ExpandLoraTargets(targets)},
                                   {"unet.rank_pattern", nlohmann::json::object()},
                                   {"unet.alpha_pattern", nlohmann::json::object()},
                                   {"unet.bias", "none"},
                                   {"unet.use_dora", false},
                                   {"unet.lora_bias", false},
                                   {"unet.fan_in_fan_out", false},
                                   {"unet.init_lora_weights", true}};
  writer.SetMetadata("format", "pt");
  writer.SetMetadata(kAdapterMetadataKey, metadata.dump());
  return writer.WriteFile((fs::path(dir) / diffusers::kLoraWeightsFile).string());
}

absl::Status SaveMergedUNet(UNet2DConditionModel& unet, const std::string& unet_dir) {
  std::map<std::string, Lora> by_weight;
  for (auto& [layer, lora] : FindLora(*unet)) by_weight.emplace(layer + ".weight", lora);
  std::error_code ec;
  fs::create_directories(unet_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", unet_dir, ": ", ec.message()));
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> keep_alive;
  std::vector<safetensors::NamedTensor> tensors;
  for (const auto& item : unet->named_parameters(/*recurse=*/true)) {
    if (item.key().find(".lora.") != std::string::npos) continue;
    torch::Tensor value = item.value().detach().to(torch::kFloat);
    if (auto it = by_weight.find(item.key()); it != by_weight.end()) {
      value = value + it->second->Delta().to(value.device());
    }
    torch::Tensor cpu = value.to(torch::kCPU).contiguous();
    keep_alive.push_back(cpu);
    tensors.push_back({item.key(), safetensors::DType::kF32, cpu.sizes().vec(), cpu.data_ptr(), cpu.nbytes()});
  }
  RETURN_IF_ERROR(safetensors::WriteShardedWeights(unet_dir, diffusers::kDiffusersWeightsBase, tensors));
  return WriteFileAtomically(diffusers::ConfigPath(unet_dir), unet->config().source_json);
}

}  // namespace align::models
