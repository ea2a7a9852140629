#include "common/diffusers/clip_model_config.h"

#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config_reader.h"
#include "common/diffusers/clip_config_fields.h"
#include "common/diffusers/model_folder.h"
#include "common/diffusers/pretrained_config_keys.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::diffusers {
namespace {

absl::Status Validate(const ClipVisionConfig& c) {
  RETURN_IF_ERROR(ValidateClipEncoderFields(c, {{"image_size", c.image_size}, {"patch_size", c.patch_size}}));
  if (c.image_size % c.patch_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("image_size ", c.image_size, " is not a multiple of patch_size ", c.patch_size));
  }
  return absl::OkStatus();
}

// `key` merged with `key`_dict (whose values win), or null when both are absent.
nlohmann::json SubConfig(const nlohmann::json& top, const std::string& key) {
  nlohmann::json merged = nlohmann::json::object();
  bool present = false;
  for (const std::string& name : {key, key + "_dict"}) {
    auto it = top.find(name);
    if (it == top.end() || it->is_null()) continue;
    if (!it->is_object()) return *it;  // the type error is reported by the caller
    merged.update(*it);
    present = true;
  }
  return present ? merged : nlohmann::json();
}

}  // namespace

absl::StatusOr<ClipVisionConfig> ParseClipVisionConfig(const std::string& json_text, const std::string& what) {
  ASSIGN_OR_RETURN(ConfigReader r, ConfigReader::Parse(json_text, what));
  ClipVisionConfig c;
  r.Expect("model_type", "clip_vision_model");
  ReadClipArchitecture(r, "CLIPVisionModel", &c.with_projection);
  ReadClipEncoderFields(r, &c);
  c.image_size = r.Int("image_size", c.image_size);
  c.patch_size = r.Int("patch_size", c.patch_size);
  // RGB input: the patch embedding's in_channels.
  r.ExpectOneOf("num_channels", {3});
  r.ExpectOneOf("pruned_heads", {nlohmann::json::object(), nullptr});
  IgnorePretrainedConfigKeys(r);
  RETURN_IF_ERROR(r.Finish());
  absl::Status valid = Validate(c);
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", valid.message()));
  return c;
}

absl::StatusOr<ClipVisionConfig> LoadClipVisionConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseClipVisionConfig(text, path);
}

absl::StatusOr<ClipModelConfig> ParseClipModelConfig(const std::string& json_text, const std::string& what) {
  ASSIGN_OR_RETURN(ConfigReader r, ConfigReader::Parse(json_text, what));
  const nlohmann::json top = nlohmann::json::parse(json_text);
  ClipModelConfig c;
  r.Expect("model_type", "clip");
  const std::vector<std::string> architectures = r.StringList("architectures");
  if (!architectures.empty() && !(architectures.size() == 1 && architectures[0] == "CLIPModel")) {
    r.Fail(absl::StrCat("architectures [", absl::StrJoin(architectures, ", "),
                        "] is not supported (supported: CLIPModel)"));
  }
  c.projection_dim = r.Int("projection_dim", c.projection_dim);
  // The initial value of logit_scale; the trained value is a weight.
  r.Ignore("logit_scale_init_value");
  for (const char* key : {"text_config", "text_config_dict", "vision_config", "vision_config_dict"}) r.Ignore(key);
  IgnorePretrainedConfigKeys(r);
  RETURN_IF_ERROR(r.Finish());
  if (c.projection_dim <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": projection_dim must be positive"));
  }
  const nlohmann::json text = SubConfig(top, "text_config");
  const nlohmann::json vision = SubConfig(top, "vision_config");
  // Absent sub-configs take transformers' defaults, as CLIPConfig does.
  ASSIGN_OR_RETURN(c.text, ParseClipTextConfig(text.is_null() ? "{}" : text.dump(), what + " text_config"));
  ASSIGN_OR_RETURN(c.vision,
                   ParseClipVisionConfig(vision.is_null() ? "{}" : vision.dump(), what + " vision_config"));
  return c;
}

absl::StatusOr<ClipModelConfig> LoadClipModelConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseClipModelConfig(text, path);
}

std::string ClipFolderKindName(ClipFolderKind kind) {
  switch (kind) {
    case ClipFolderKind::kClipModel:
      return "a CLIPModel folder (config.json with model_type 'clip')";
    case ClipFolderKind::kVisionModel:
      return "a CLIPVisionModel(WithProjection) folder (config.json with model_type 'clip_vision_model')";
    case ClipFolderKind::kTextModel:
      return "a CLIPTextModel(WithProjection) folder (config.json with model_type 'clip_text_model')";
  }
  return "a CLIP folder";
}

std::string DescribeModelFolder(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return "no such directory";
  const std::string config_path = ConfigPath(dir);
  if (!std::filesystem::exists(config_path, ec)) {
    if (std::filesystem::exists(std::filesystem::path(dir) / "model_index.json", ec)) {
      return "a diffusers pipeline folder (model_index.json, no config.json)";
    }
    return "a folder without config.json";
  }
  absl::StatusOr<std::string> text = ReadFileToString(config_path);
  if (!text.ok()) return absl::StrCat("an unreadable config.json (", text.status().message(), ")");
  const nlohmann::json json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return "a config.json that is not a JSON object";
  if (json.contains("_class_name") && json["_class_name"].is_string()) {
    return absl::StrCat("a diffusers ", json["_class_name"].get<std::string>(), " config");
  }
  std::string found = "a config.json";
  if (json.contains("model_type") && json["model_type"].is_string()) {
    absl::StrAppend(&found, " with model_type '", json["model_type"].get<std::string>(), "'");
  } else {
    absl::StrAppend(&found, " without model_type");
  }
  if (json.contains("architectures") && json["architectures"].is_array()) {
    std::vector<std::string> names;
    for (const auto& name : json["architectures"]) {
      if (name.is_string()) names.push_back(name.get<std::string>());
    }
    absl::StrAppend(&found, " (architectures ", absl::StrJoin(names, ", "), ")");
  }
  return found;
}

absl::StatusOr<ClipFolderKind> ReadClipFolderKind(const std::string& dir, const std::string& expected) {
  auto mismatch = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat(dir, ": expected ", expected, ", found ", DescribeModelFolder(dir)));
  };
  absl::StatusOr<std::string> text = ReadFileToString(ConfigPath(dir));
  if (!text.ok()) return mismatch();
  const nlohmann::json json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("model_type") || !json["model_type"].is_string()) return mismatch();
  const std::string model_type = json["model_type"].get<std::string>();
  if (model_type == "clip") return ClipFolderKind::kClipModel;
  if (model_type == "clip_vision_model") return ClipFolderKind::kVisionModel;
  if (model_type == "clip_text_model") return ClipFolderKind::kTextModel;
  return mismatch();
}

}  // namespace align::diffusers
