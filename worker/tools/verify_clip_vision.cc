#include "worker/tools/verify_clip_vision.h"

#include <torch/torch.h>

#include <filesystem>
#include <initializer_list>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "worker/models/clip_model.h"
#include "worker/models/clip_vision_model.h"
#include "worker/tools/max_relative_error.h"

namespace align::tools {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

// The keys "<name>.<output>" of `outputs` present in `io`.
std::vector<std::string> PresentKeys(const TensorMap& io, const std::string& name,
                                     std::initializer_list<const char*> outputs) {
  std::vector<std::string> keys;
  for (const char* output : outputs) {
    const std::string key = absl::StrCat(name, ".", output);
    if (io.count(key)) keys.push_back(key);
  }
  return keys;
}

absl::StatusOr<torch::Tensor> Input(const TensorMap& io, const std::string& key, const std::string& needed_by) {
  auto it = io.find(key);
  if (it == io.end()) {
    return absl::InvalidArgumentError(absl::StrCat("io file has ", needed_by, " but no '", key, "' tensor"));
  }
  return it->second;
}

bool IsDirectory(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec);
}

}  // namespace

absl::Status VerifyClipVision(const std::string& model_dir, const TensorMap& io, torch::Device device,
                              torch::Dtype dtype,
                              const std::function<void(const std::string& key, double err, bool is_gradient)>& report,
                              std::vector<std::string>& components) {
  const auto options = torch::TensorOptions().dtype(dtype).device(device);
  const diffusers::ModelFolder model(model_dir);

  const std::string encoder_name(diffusers::ComponentName(diffusers::Component::kImageEncoder));
  const std::string encoder_dir = model.Dir(diffusers::Component::kImageEncoder);
  const std::vector<std::string> encoder_keys =
      PresentKeys(io, encoder_name, {"image_embeds", "last_hidden_state", "penultimate", "pooled"});
  if (!encoder_keys.empty() && IsDirectory(encoder_dir)) {
    ASSIGN_OR_RETURN(torch::Tensor pixels, Input(io, "pixel_values", encoder_keys[0]));
    ASSIGN_OR_RETURN(models::ClipVisionModel encoder, models::LoadClipVisionModel(encoder_dir, options));
    encoder->eval();
    models::ClipVisionOutput out;
    try {
      torch::NoGradGuard no_grad;
      out = encoder->forward(pixels.to(device, dtype));
    } catch (const c10::Error& e) {
      return absl::InvalidArgumentError(absl::StrCat(encoder_name, ": ", e.what_without_backtrace()));
    }
    for (const std::string& key : encoder_keys) {
      const std::string output = key.substr(encoder_name.size() + 1);
      if (output == "image_embeds" && !out.image_embeds.defined()) {
        return absl::InvalidArgumentError(
            absl::StrCat("io file has ", key, " but ", encoder_dir, " has no visual_projection"));
      }
      const torch::Tensor& actual = output == "image_embeds"        ? out.image_embeds
                                    : output == "last_hidden_state" ? out.last_hidden_state
                                    : output == "penultimate"       ? out.penultimate()
                                                                    : out.pooler_output;
      report(key, MaxRelativeError(actual, io.at(key)), /*is_gradient=*/false);
    }
    components.push_back(encoder_name);
  }

  const std::string clip_dir = (std::filesystem::path(model_dir) / kClipModelComponent).string();
  const std::vector<std::string> clip_keys =
      PresentKeys(io, kClipModelComponent, {"text_embeds", "image_embeds", "logits_per_image", "score"});
  if (!clip_keys.empty() && IsDirectory(clip_dir)) {
    ASSIGN_OR_RETURN(torch::Tensor pixels, Input(io, "pixel_values", clip_keys[0]));
    ASSIGN_OR_RETURN(torch::Tensor ids, Input(io, "input_ids", clip_keys[0]));
    ASSIGN_OR_RETURN(models::ClipModel clip, models::LoadClipModel(clip_dir, options));
    clip->eval();
    models::ClipModelOutput out;
    try {
      torch::NoGradGuard no_grad;
      out = clip->forward(ids, pixels.to(device, dtype));
    } catch (const c10::Error& e) {
      return absl::InvalidArgumentError(absl::StrCat(kClipModelComponent, ": ", e.what_without_backtrace()));
    }
    for (const std::string& key : clip_keys) {
      const std::string output = key.substr(sizeof(kClipModelComponent));
      const torch::Tensor actual = output == "text_embeds"        ? out.text_embeds
                                   : output == "image_embeds"     ? out.image_embeds
                                   : output == "logits_per_image" ? out.logits_per_image
                                                                  : out.logits_per_image.diagonal();
      report(key, MaxRelativeError(actual, io.at(key)), /*is_gradient=*/false);
    }
    components.push_back(kClipModelComponent);
  }
  return absl::OkStatus();
}

}  // namespace align::tools
