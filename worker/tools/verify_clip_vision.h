#pragma once
// The CLIP image parts of `align-worker verify-model`: an image_encoder/
// folder (CLIPVisionModel(WithProjection)) and a clip/ folder (a whole
// CLIPModel, the layout of PickScore and CLIP-score models), run on an io
// file's `pixel_values` (and `input_ids` for clip/).

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"

namespace align::tools {

// The sub-folder of the whole CLIPModel, and the io prefix of its outputs.
inline constexpr char kClipModelComponent[] = "clip";

// For `image_encoder` when it is a folder under `model_dir` and `io` has
// image_encoder.image_embeds / .last_hidden_state / .penultimate / .pooled:
// runs io["pixel_values"]. For `clip` when it is a folder and `io` has
// clip.text_embeds / .image_embeds / .logits_per_image / .score (the diagonal
// of logits_per_image): runs io["input_ids"] and io["pixel_values"]. Calls
// `report("<name>.<output>", max|a-b| / max|b|, false)` per key present and
// appends <name> to `components`. Errors: a compared model that does not load,
// or missing inputs.
absl::Status VerifyClipVision(const std::string& model_dir, const std::map<std::string, torch::Tensor>& io,
                              torch::Device device, torch::Dtype dtype,
                              const std::function<void(const std::string& key, double err, bool is_gradient)>& report,
                              std::vector<std::string>& components);

}  // namespace align::tools
