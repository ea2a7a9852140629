#pragma once
// The fields the CLIP text and vision configs (transformers' config.json) read
// the same way; each problem is reported through the reader (ConfigReader::Fail).

#include <optional>
#include <string>

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

}  // namespace align::diffusers
