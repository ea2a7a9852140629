#pragma once
// CLIPTextConfig's config.json, as transformers writes it for CLIPTextModel and
// CLIPTextModelWithProjection (SDXL's text_encoder/ and text_encoder_2/).
// Every key is used, checked against the one value this implementation
// supports, or explicitly ignored as non-computational; any other key is an
// error naming it. Free of LibTorch.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace align::diffusers {

enum class ClipActivation { kQuickGelu, kGelu };

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  ClipActivation hidden_act = ClipActivation::kQuickGelu;
  double layer_norm_eps = 1e-5;
  int64_t projection_dim = 512;
  // Pooling position: the first `eos_token_id` in each row, except for the
  // legacy value 2 (OpenAI's and SDXL's configs), where transformers pools at
  // the row's largest id (the end-of-text token, CLIP's largest id).
  int64_t eos_token_id = 49407;
  // From `architectures`: CLIPTextModelWithProjection -> true, CLIPTextModel
  // -> false; unset when the key is absent (the loader then looks for
  // text_projection.weight in the checkpoint).
  std::optional<bool> with_projection;
  std::string source_json;  // config.json as read

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

absl::StatusOr<ClipTextConfig> ParseClipTextConfig(const std::string& json_text,
                                                   const std::string& what = "text encoder config.json");
absl::StatusOr<ClipTextConfig> LoadClipTextConfig(const std::string& path);

}  // namespace align::diffusers
