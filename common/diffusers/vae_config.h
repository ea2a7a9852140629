#pragma once
// AutoencoderKL's config.json (diffusers), reduced to the options SDXL-family
// VAEs use. Parsing rejects every option this implementation does not
// support, by name. Free of LibTorch, like unet_config.h.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace align::diffusers {

struct VaeConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  // One entry per block; the block types are DownEncoderBlock2D (encoder) and
  // UpDecoderBlock2D (decoder), the only ones supported.
  std::vector<int64_t> block_out_channels = {64};
  int64_t layers_per_block = 1;  // encoder; the decoder has one more per block
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;
  // Pipeline-side values: not applied by Encode/Decode.
  double scaling_factor = 0.18215;
  std::optional<double> shift_factor;
  std::vector<double> latents_mean, latents_std;  // empty when null
  bool force_upcast = true;  // diffusers runs such VAEs in fp32
  // The config.json text it came from, written back unchanged when saving.
  std::string source_json;

  size_t num_blocks() const { return block_out_channels.size(); }
  // Image side / latent side for sides divisible by it.
  int64_t downscale_factor() const { return int64_t{1} << (num_blocks() - 1); }
};

// GroupNorm eps of every norm in diffusers' Encoder/Decoder (not configurable).
inline constexpr double kVaeNormEps = 1e-6;

absl::StatusOr<VaeConfig> ParseVaeConfig(const std::string& json_text);
absl::StatusOr<VaeConfig> LoadVaeConfig(const std::string& path);

}  // namespace align::diffusers
