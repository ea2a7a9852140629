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
  return ValidateClipEncoderFields(
      c, {{"vocab_size", c.vocab_size}, {"max_position_embeddings", c.max_position_embeddings}});
}

}  // namespace

absl::StatusOr<ClipTextConfig> ParseClipTextConfig(const std::string& json_text, const std::string& what) {
  ASSIGN_OR_RETURN(ConfigReader r, ConfigReader::Parse(json_text, what));
  ClipTextConfig c;
  r.Expect("model_type", "clip_text_model");
  ReadClipArchitecture(r, "CLIPTextModel", &c.with_projection);
  ReadClipEncoderFields(r, &c);
  c.vocab_size = r.Int("vocab_size", c.vocab_size);
  c.max_position_embeddings = r.Int("max_position_embeddings", c.max_position_embeddings);
  c.eos_token_id = r.Int("eos_token_id", c.eos_token_id);
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
