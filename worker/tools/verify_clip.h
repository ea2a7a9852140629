#pragma once
// The text-encoder part of `align-worker verify-model`: runs SDXL's CLIP text
// encoders (text_encoder/, text_encoder_2/) of a model folder on an io file's
// `input_ids` and measures how far their outputs are from the reference's.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"

namespace align::tools {

// For each of `text_encoder`, `text_encoder_2` that is a folder under
// `model_dir` and has `<name>.penultimate`, `<name>.last` or `<name>.pooled`
// in `io`: loads it in `dtype` on `device`, runs io["input_ids"] and calls
// `report("<name>.<output>", max|a-b| / max|b|, /*is_gradient=*/false)` for each
// of those keys present, then appends <name> to `components`. Encoders
// without a folder or without keys are skipped. Errors: a compared encoder
// that does not load, or io without input_ids.
absl::Status VerifyClip(const std::string& model_dir, const std::map<std::string, torch::Tensor>& io,
                        torch::Device device, torch::Dtype dtype,
                        const std::function<void(const std::string& key, double err, bool is_gradient)>& report,
                        std::vector<std::string>& components);

}  // namespace align::tools
