#pragma once
// The configs of transformers' CLIP image tower (CLIPVisionConfig, written for
// CLIPVisionModel / CLIPVisionModelWithProjection) and of the whole CLIPModel
// (CLIPConfig: text_config + vision_config + projection_dim), the layout of
// openai/laion CLIP checkpoints and of PickScore_v1. As for the text config,
// every key is used, checked, or explicitly ignored; others are errors naming
// them. Also: what kind of folder a config.json describes, so that a loader
// given the wrong folder says what it expected and what it found. Free of
// LibTorch.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/diffusers/clip_config.h"

namespace align::diffusers {

struct ClipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  ClipActivation hidden_act = ClipActivation::kQuickGelu;
  double layer_norm_eps = 1e-5;
  int64_t projection_dim = 512;
  // From `architectures`: CLIPVisionModelWithProjection -> true,
  // CLIPVisionModel -> false; unset when absent (inside a CLIPModel config).
  std::optional<bool> with_projection;

  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
  int64_t num_positions() const { return num_patches() + 1; }  // + the class token
};

absl::StatusOr<ClipVisionConfig> ParseClipVisionConfig(const std::string& json_text,
                                                       const std::string& what = "image encoder config.json");
absl::StatusOr<ClipVisionConfig> LoadClipVisionConfig(const std::string& path);

struct ClipModelConfig {
  ClipTextConfig text;
  ClipVisionConfig vision;
  // Width of text_projection and visual_projection (the top-level key; the
  // towers' own projection_dim is not what CLIPModel uses).
  int64_t projection_dim = 512;
};

// transformers 4 configs may also carry text_config_dict / vision_config_dict;
// as in CLIPConfig.__init__, their values override text_config / vision_config.
absl::StatusOr<ClipModelConfig> ParseClipModelConfig(const std::string& json_text,
                                                     const std::string& what = "CLIP config.json");
absl::StatusOr<ClipModelConfig> LoadClipModelConfig(const std::string& path);

// What a folder's config.json says it holds, by `model_type`.
enum class ClipFolderKind { kClipModel, kVisionModel, kTextModel };

// "a CLIPModel folder", "a CLIPVisionModel(WithProjection) folder", ...
std::string ClipFolderKindName(ClipFolderKind kind);

// A short description of what `dir` holds, for error messages: "no
// config.json", "a diffusers UNet2DConditionModel config (_class_name)",
// "a transformers config with model_type 'clip_vision_model' (architectures
// CLIPVisionModelWithProjection)", "a diffusers pipeline (model_index.json)".
std::string DescribeModelFolder(const std::string& dir);

// The kind `dir/config.json` declares; InvalidArgument "<dir>: expected
// <expected>, found <DescribeModelFolder>" when it is no CLIP folder.
absl::StatusOr<ClipFolderKind> ReadClipFolderKind(const std::string& dir, const std::string& expected);

}  // namespace align::diffusers
