#include "common/diffusers/unet_config.h"

#include "absl/strings/str_cat.h"
#include "common/config_reader.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace align::diffusers {
namespace {

using nlohmann::json;

void ReadBlockTypes(ConfigReader& r, UNetConfig& cfg) {
  for (const std::string& name : r.StringList("down_block_types")) {
    if (name == "DownBlock2D") {
      cfg.down_block_types.push_back(DownBlockType::kDownBlock2D);
    } else if (name == "CrossAttnDownBlock2D") {
      cfg.down_block_types.push_back(DownBlockType::kCrossAttnDownBlock2D);
    } else {
      r.Fail(absl::StrCat("down block type '", name,
                          "' is not supported (supported: DownBlock2D, CrossAttnDownBlock2D)"));
    }
  }
  for (const std::string& name : r.StringList("up_block_types")) {
    if (name == "UpBlock2D") {
      cfg.up_block_types.push_back(UpBlockType::kUpBlock2D);
    } else if (name == "CrossAttnUpBlock2D") {
      cfg.up_block_types.push_back(UpBlockType::kCrossAttnUpBlock2D);
    } else {
      r.Fail(absl::StrCat("up block type '", name,
                          "' is not supported (supported: UpBlock2D, CrossAttnUpBlock2D)"));
    }
  }
}

// Options whose only supported value is diffusers' default for the SDXL family.
void ExpectDefaults(ConfigReader& r) {
  r.Expect("act_fn", "silu");
  r.Expect("class_embed_type", nullptr);
  r.Expect("num_class_embeds", nullptr);
  r.ExpectOneOf("class_embeddings_concat", {false, nullptr});
  r.Expect("cross_attention_norm", nullptr);
  r.ExpectOneOf("dual_cross_attention", {false, nullptr});
  r.Expect("encoder_hid_dim", nullptr);
  r.Expect("encoder_hid_dim_type", nullptr);
  r.ExpectOneOf("mid_block_only_cross_attention", {false, nullptr});
  r.Expect("mid_block_type", "UNetMidBlock2DCrossAttn");
  r.ExpectOneOf("resnet_skip_time_act", {false, nullptr});
  r.Expect("resnet_time_scale_shift", "default");
  r.Expect("reverse_transformer_layers_per_block", nullptr);
  r.Expect("time_embedding_act_fn", nullptr);
  r.Expect("time_embedding_type", "positional");
  r.Expect("timestep_post_act", nullptr);
  r.Expect("attention_type", "default");
  r.ExpectOneOf("dropout", {0, 0.0});
  // Only used by addition_embed_type "text" / "text_image", which are rejected.
  r.Ignore("addition_embed_type_num_heads");
}

absl::Status Validate(const UNetConfig& c) {
  const size_t n = c.num_blocks();
  if (n == 0) return absl::InvalidArgumentError("block_out_channels must not be empty");
  if (c.down_block_types.size() != n || c.up_block_types.size() != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "down_block_types (", c.down_block_types.size(), ") and up_block_types (",
        c.up_block_types.size(), ") must both have one entry per block_out_channels (", n, ")"));
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t ch = c.block_out_channels[i];
    if (ch <= 0 || ch % c.norm_num_groups != 0) {
      return absl::InvalidArgumentError(absl::StrCat("block_out_channels[", i, "] = ", ch,
                                                     " must be a positive multiple of norm_num_groups (",
                                                     c.norm_num_groups, ")"));
    }
    if (c.num_attention_heads[i] <= 0 || ch % c.num_attention_heads[i] != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "block_out_channels[", i, "] = ", ch, " is not divisible by its attention head count ",
          c.num_attention_heads[i]));
    }
    if (c.layers_per_block[i] <= 0 || c.transformer_layers_per_block[i] <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("layers_per_block and transformer_layers_per_block must be positive (block ", i, ")"));
    }
  }
  if (c.norm_num_groups <= 0) return absl::InvalidArgumentError("norm_num_groups must be positive");
  if (c.conv_in_kernel % 2 == 0 || c.conv_out_kernel % 2 == 0) {
    return absl::InvalidArgumentError("conv_in_kernel and conv_out_kernel must be odd");
  }
  if (c.downsample_padding < 0 || c.downsample_padding > 1) {
    return absl::InvalidArgumentError(absl::StrCat("downsample_padding = ", c.downsample_padding,
                                                   " is not supported (0 or 1)"));
  }
  if (c.time_cond_proj_dim < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("time_cond_proj_dim = ", c.time_cond_proj_dim, " must be positive (or null)"));
  }
  if (c.text_time_embedding && (c.addition_time_embed_dim <= 0 || c.pooled_text_dim() <= 0)) {
    return absl::InvalidArgumentError(
        "addition_embed_type text_time needs addition_time_embed_dim > 0 and "
        "projection_class_embeddings_input_dim > 6 * addition_time_embed_dim");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UNetConfig> ParseUNetConfig(const std::string& json_text) {
  ASSIGN_OR_RETURN(ConfigReader r, ConfigReader::Parse(json_text, "unet config.json"));
  UNetConfig c;
  if (r.Has("_class_name") && r.String("_class_name", "") != "UNet2DConditionModel") {
    return absl::InvalidArgumentError("unet config.json: _class_name must be UNet2DConditionModel");
  }
  c.in_channels = r.Int("in_channels", 4);
  c.out_channels = r.Int("out_channels", 4);
  c.center_input_sample = r.Bool("center_input_sample", false);
  c.flip_sin_to_cos = r.Bool("flip_sin_to_cos", true);
  c.freq_shift = r.Double("freq_shift", 0.0);
  ReadBlockTypes(r, c);
  c.block_out_channels = r.IntList("block_out_channels");
  const size_t n = c.block_out_channels.size();
  c.layers_per_block = r.IntOrList("layers_per_block", n, 2);
  c.transformer_layers_per_block = r.IntOrList("transformer_layers_per_block", n, 1);
  // diffusers: num_attention_heads = num_attention_heads or attention_head_dim
  // ("attention_head_dim" historically holds the number of heads).
  std::vector<int64_t> head_dim_field = r.IntOrList("attention_head_dim", n, 8);
  c.num_attention_heads = r.Has("num_attention_heads") ? r.IntOrList("num_attention_heads", n, 8)
                                                       : head_dim_field;
  r.Ignore("num_attention_heads");
  c.downsample_padding = r.Int("downsample_padding", 1);
  c.mid_block_scale_factor = r.Double("mid_block_scale_factor", 1.0);
  c.resnet_out_scale_factor = r.Double("resnet_out_scale_factor", 1.0);
  c.norm_num_groups = r.Int("norm_num_groups", 32);
  c.norm_eps = r.Double("norm_eps", 1e-5);
  c.cross_attention_dim = r.Int("cross_attention_dim", 1280);
  c.use_linear_projection = r.Bool("use_linear_projection", false);
  c.upcast_attention = r.Bool("upcast_attention", false);
  c.conv_in_kernel = r.Int("conv_in_kernel", 3);
  c.conv_out_kernel = r.Int("conv_out_kernel", 3);
  c.time_embedding_dim = r.Int("time_embedding_dim", 0);
  c.time_cond_proj_dim = r.Int("time_cond_proj_dim", 0);
  const std::string addition = r.String("addition_embed_type", "");
  if (addition == "text_time") {
    c.text_time_embedding = true;
  } else if (!addition.empty()) {
    r.Fail(absl::StrCat("addition_embed_type '", addition, "' is not supported (supported: text_time, null)"));
  }
  c.addition_time_embed_dim = r.Int("addition_time_embed_dim", 0);
  c.projection_class_embeddings_input_dim = r.Int("projection_class_embeddings_input_dim", 0);
  c.sample_size = r.Int("sample_size", 0);
  if (const nlohmann::json* only_cross = r.Value("only_cross_attention")) {
    // A bool or a per-block list of bools; only "false everywhere" is supported.
    bool supported = *only_cross == false;
    if (only_cross->is_array()) {
      supported = true;
      for (const auto& item : *only_cross) supported = supported && item == false;
    }
    if (!supported) {
      r.Fail(absl::StrCat("option 'only_cross_attention' = ", only_cross->dump(),
                          " is not supported (supported: false)"));
    }
  }
  ExpectDefaults(r);
  RETURN_IF_ERROR(r.Finish());
  RETURN_IF_ERROR(Validate(c));
  c.source_json = json_text;
  return c;
}

absl::StatusOr<UNetConfig> LoadUNetConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  absl::StatusOr<UNetConfig> config = ParseUNetConfig(text);
  if (!config.ok()) {
    return absl::Status(config.status().code(), absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace align::diffusers
