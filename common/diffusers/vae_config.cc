#include "common/diffusers/vae_config.h"

#include "absl/strings/str_cat.h"
#include "common/config_reader.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace align::diffusers {
namespace {

// Reads a list of block type names, each of which must be `supported`;
// returns how many there were (diffusers' default: one block).
size_t ReadBlockTypes(ConfigReader& r, const std::string& key, const std::string& supported) {
  if (!r.Has(key)) {
    r.Ignore(key);
    return 1;
  }
  std::vector<std::string> names = r.StringList(key);
  for (const std::string& name : names) {
    if (name != supported) {
      r.Fail(absl::StrCat(key, ": block type '", name, "' is not supported (supported: ", supported, ")"));
    }
  }
  return names.size();
}

std::vector<double> ReadNumberList(ConfigReader& r, const std::string& key) {
  std::vector<double> out;
  const nlohmann::json* v = r.Value(key);
  if (v == nullptr) return out;
  bool ok = v->is_array();
  if (ok) {
    for (const auto& item : *v) {
      if (!item.is_number()) {
        ok = false;
        break;
      }
      out.push_back(item.get<double>());
    }
  }
  if (!ok) {
    r.Fail(absl::StrCat("option '", key, "' must be null or a list of numbers, got ", v->dump()));
    out.clear();
  }
  return out;
}

absl::Status Validate(const VaeConfig& c, size_t down_blocks, size_t up_blocks) {
  const size_t n = c.num_blocks();
  if (n == 0) return absl::InvalidArgumentError("block_out_channels must not be empty");
  if (down_blocks != n || up_blocks != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "down_block_types (", down_blocks, ") and up_block_types (", up_blocks,
        ") must both have one entry per block_out_channels (", n, ")"));
  }
  if (c.norm_num_groups <= 0) return absl::InvalidArgumentError("norm_num_groups must be positive");
  for (size_t i = 0; i < n; ++i) {
    const int64_t ch = c.block_out_channels[i];
    if (ch <= 0 || ch % c.norm_num_groups != 0) {
      return absl::InvalidArgumentError(absl::StrCat("block_out_channels[", i, "] = ", ch,
                                                     " must be a positive multiple of norm_num_groups (",
                                                     c.norm_num_groups, ")"));
    }
  }
  if (c.layers_per_block <= 0) return absl::InvalidArgumentError("layers_per_block must be positive");
  if (c.in_channels <= 0 || c.out_channels <= 0 || c.latent_channels <= 0) {
    return absl::InvalidArgumentError("in_channels, out_channels and latent_channels must be positive");
  }
  for (const auto* stats : {&c.latents_mean, &c.latents_std}) {
    if (!stats->empty() && static_cast<int64_t>(stats->size()) != c.latent_channels) {
      return absl::InvalidArgumentError(absl::StrCat("latents_mean / latents_std must have latent_channels (",
                                                     c.latent_channels, ") entries, got ", stats->size()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VaeConfig> ParseVaeConfig(const std::string& json_text) {
  ASSIGN_OR_RETURN(ConfigReader r, ConfigReader::Parse(json_text, "vae config.json"));
  if (r.Has("_class_name") && r.String("_class_name", "") != "AutoencoderKL") {
    return absl::InvalidArgumentError("vae config.json: _class_name must be AutoencoderKL");
  }
  VaeConfig c;
  c.in_channels = r.Int("in_channels", 3);
  c.out_channels = r.Int("out_channels", 3);
  const size_t down_blocks = ReadBlockTypes(r, "down_block_types", "DownEncoderBlock2D");
  const size_t up_blocks = ReadBlockTypes(r, "up_block_types", "UpDecoderBlock2D");
  if (r.Has("block_out_channels")) c.block_out_channels = r.IntList("block_out_channels");
  c.layers_per_block = r.Int("layers_per_block", 1);
  c.latent_channels = r.Int("latent_channels", 4);
  c.norm_num_groups = r.Int("norm_num_groups", 32);
  c.use_quant_conv = r.Bool("use_quant_conv", true);
  c.use_post_quant_conv = r.Bool("use_post_quant_conv", true);
  c.mid_block_add_attention = r.Bool("mid_block_add_attention", true);
  c.scaling_factor = r.Double("scaling_factor", 0.18215);
  if (r.Has("shift_factor")) c.shift_factor = r.Double("shift_factor", 0.0);
  r.Ignore("shift_factor");
  c.latents_mean = ReadNumberList(r, "latents_mean");
  c.latents_std = ReadNumberList(r, "latents_std");
  c.force_upcast = r.Bool("force_upcast", true);
  r.Expect("act_fn", "silu");
  // Only sizes the tiles of diffusers' tiled decoding (int or [h, w]).
  r.Ignore("sample_size");
  RETURN_IF_ERROR(r.Finish());
  RETURN_IF_ERROR(Validate(c, down_blocks, up_blocks));
  c.source_json = json_text;
  return c;
}

absl::StatusOr<VaeConfig> LoadVaeConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  absl::StatusOr<VaeConfig> config = ParseVaeConfig(text);
  if (!config.ok()) {
    return absl::Status(config.status().code(), absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace align::diffusers
