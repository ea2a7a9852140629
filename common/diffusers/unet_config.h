#pragma once
// UNet2DConditionModel's config.json, as diffusers writes it, reduced to the
// options the SDXL block family uses. Parsing rejects every option this
// implementation does not support, by name, instead of silently ignoring it.
// Free of LibTorch so that tools and the coordinator can read model shapes.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace align::diffusers {

enum class DownBlockType { kDownBlock2D, kCrossAttnDownBlock2D };
enum class UpBlockType { kUpBlock2D, kCrossAttnUpBlock2D };

struct UNetConfig {
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0.0;
  std::vector<DownBlockType> down_block_types;
  std::vector<UpBlockType> up_block_types;
  std::vector<int64_t> block_out_channels;
  std::vector<int64_t> layers_per_block;              // per down block
  std::vector<int64_t> transformer_layers_per_block;  // per down block
  std::vector<int64_t> num_attention_heads;           // per down block
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  double resnet_out_scale_factor = 1.0;
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  int64_t cross_attention_dim = 1280;
  bool use_linear_projection = false;
  bool upcast_attention = false;
  int64_t conv_in_kernel = 3;
  int64_t conv_out_kernel = 3;
  int64_t time_embedding_dim = 0;  // 0: block_out_channels[0] * 4
  // Latent consistency models embed the guidance scale: a [B, time_cond_proj_dim]
  // `timestep_cond` goes through time_embedding.cond_proj into the timestep
  // embedding. 0: no such input.
  int64_t time_cond_proj_dim = 0;
  // addition_embed_type "text_time" (SDXL): pooled text + micro-conditioning.
  bool text_time_embedding = false;
  int64_t addition_time_embed_dim = 0;
  int64_t projection_class_embeddings_input_dim = 0;
  int64_t sample_size = 0;  // informational
  // The config.json text it came from, written back unchanged when saving.
  std::string source_json;

  int64_t time_embed_dim() const {
    return time_embedding_dim > 0 ? time_embedding_dim : block_out_channels.at(0) * 4;
  }
  // Width of `text_embeds` that the text_time embedding expects.
  int64_t pooled_text_dim() const {
    return projection_class_embeddings_input_dim - 6 * addition_time_embed_dim;
  }
  size_t num_blocks() const { return block_out_channels.size(); }
};

// Parses the text of a diffusers UNet config.json.
absl::StatusOr<UNetConfig> ParseUNetConfig(const std::string& json_text);
// Reads `<path>` (a config.json file).
absl::StatusOr<UNetConfig> LoadUNetConfig(const std::string& path);

}  // namespace align::diffusers
