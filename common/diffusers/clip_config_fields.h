#pragma once
// The fields the CLIP text and vision configs (transformers' config.json) read
// the same way; each problem is reported through the reader (ConfigReader::Fail).

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/config_reader.h"
#include "common/diffusers/clip_config.h"

namespace align::diffusers {

// `architectures`: [<model_class>] -> false, [<model_class>WithProjection] ->
// true; absent or empty: *with_projection is left as it is (unset: decided
// by the weights).
void ReadClipArchitecture(ConfigReader& r, const std::string& model_class, std::optional<bool>* with_projection);
// `hidden_act`: quick_gelu (the default) or gelu.
void ReadClipActivation(ConfigReader& r, ClipActivation* act);
// `attention_dropout` and `dropout` must be 0: dropout would make training
// differ from the reference, and it is 0 in every CLIP release.
void ExpectNoClipDropout(ConfigReader& r);

// The transformer encoder's numbers, which the text and vision configs
// (ClipTextConfig, ClipVisionConfig) both carry under the same names:
// read and checked once for both.
template <typename Config>
void ReadClipEncoderFields(ConfigReader& r, Config* c) {
  c->hidden_size = r.Int("hidden_size", c->hidden_size);
  c->intermediate_size = r.Int("intermediate_size", c->intermediate_size);
  c->num_hidden_layers = r.Int("num_hidden_layers", c->num_hidden_layers);
  c->num_attention_heads = r.Int("num_attention_heads", c->num_attention_heads);
  c->layer_norm_eps = r.Double("layer_norm_eps", c->layer_norm_eps);
  c->projection_dim = r.Int("projection_dim", c->projection_dim);
  ReadClipActivation(r, &c->hidden_act);
  ExpectNoClipDropout(r);
}

// Every size positive, heads dividing the width, a positive epsilon; `more`
// names the config's own sizes, which must be positive too.
template <typename Config>
absl::Status ValidateClipEncoderFields(const Config& c, std::vector<std::pair<const char*, int64_t>> more) {
  more.insert(more.begin(), {{"hidden_size", c.hidden_size},
                             {"intermediate_size", c.intermediate_size},
                             {"num_hidden_layers", c.num_hidden_layers},
                             {"num_attention_heads", c.num_attention_heads},
                             {"projection_dim", c.projection_dim}});
  for (const auto& [name, value] : more) {
    if (value <= 0) return absl::InvalidArgumentError(absl::StrCat(name, " = ", value, " must be positive"));
  }
  if (c.hidden_size % c.num_attention_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("hidden_size ", c.hidden_size,
                                                   " is not divisible by num_attention_heads ", c.num_attention_heads));
  }
  if (!(c.layer_norm_eps > 0)) return absl::InvalidArgumentError("layer_norm_eps must be positive");
  return absl::OkStatus();
}

}  // namespace align::diffusers
