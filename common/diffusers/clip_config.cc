#include "common/diffusers/clip_config.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config_reader.h"
#include "common/diffusers/clip_config_fields.h"
#include "common/diffusers/pretrained_config_keys.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace align::diffusers {
namespace {

absl::Status Validate(const ClipTextConfig& c) {
  for (const auto& [name, value] :
       std::vector<std::pair<const char*, int64_t>>{{"vocab_size", c.vocab_size},
                                                    {"hidden_size", c.hidden_size},
                                                    {"intermediate_size", c.intermediate_size},
                                                    {"num_hidden_layers", c.num_hidden_layers},
                                                    {"num_attention_heads", c.num_attention_heads},
                                                    {"max_position_embeddings", c.max_position_embeddings},
                                                    {"projection_dim", c.projection_dim}}) {
    if (value <= 0) return absl::InvalidArgumentError(absl::StrCat(name, " = ", value, " must be positive"));
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("hidden_size ", c.hidden_size,
                                                   " is not divisible by num_attention_heads ",
                                                   c.num_attention_heads));
  }
  if (!(c.layer_norm_eps > 0)) return absl::InvalidArgumentError("layer_norm_eps must be positive");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ClipTextConfig> ParseClipTextConfig(const std::string& json_text, const std::string& what) {
  ASSIGN_OR_RETURN(ConfigReader r, ConfigReader::Parse(json_text, what));
  ClipTextConfig c;
  r.Expect("model_type", "clip_text_model");
  ReadClipArchitecture(r, "CLIPTextModel", &c.with_projection);
  c.vocab_size = r.Int("vocab_size", c.vocab_size);
  c.hidden_size = r.Int("hidden_size", c.hidden_size);
  c.intermediate_size = r.Int("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = r.Int("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = r.Int("num_attention_heads", c.num_attention_heads);
  c.max_position_embeddings = r.Int("max_position_embeddings", c.max_position_embeddings);
  c.layer_norm_eps = r.Double("layer_norm_eps", c.layer_norm_eps);
  c.projection_dim = r.Int("projection_dim", c.projection_dim);
  c.eos_token_id = r.Int("eos_token_id", c.eos_token_id);
  ReadClipActivation(r, &c.hidden_act);
  ExpectNoClipDropout(r);
  // Pruned heads would change parameter shapes per layer.
  r.ExpectOneOf("pruned_heads", {nlohmann::json::object(), nullptr});
  IgnorePretrainedConfigKeys(r);
  RETURN_IF_ERROR(r.Finish());
  absl::Status valid = Validate(c);
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(what, ": ", valid.message()));
  c.source_json = json_text;
  return c;
}

absl::StatusOr<ClipTextConfig> LoadClipTextConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseClipTextConfig(text, path);
}

}  // namespace align::diffusers
