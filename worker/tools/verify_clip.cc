#include "worker/tools/verify_clip.h"

#include <torch/torch.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "worker/models/clip_text_model.h"
#include "worker/tools/max_relative_error.h"

namespace align::tools {
absl::Status VerifyClip(const std::string& model_dir, const std::map<std::string, torch::Tensor>& io,
                        torch::Device device, torch::Dtype dtype,
                        const std::function<void(const std::string& key, double err, bool is_gradient)>& report,
                        std::vector<std::string>& components) {
  const diffusers::ModelFolder model(model_dir);
  for (const diffusers::Component component :
       {diffusers::Component::kTextEncoder, diffusers::Component::kTextEncoder2}) {
    const std::string name(diffusers::ComponentName(component));
    const std::string dir = model.Dir(component);
    std::vector<std::string> keys;
    for (const char* output : {"penultimate", "last", "pooled"}) {
      const std::string key = absl::StrCat(name, ".", output);
      if (io.count(key)) keys.push_back(key);
    }
    std::error_code ec;
    if (keys.empty() || !std::filesystem::is_directory(dir, ec)) continue;
    auto ids = io.find("input_ids");
    if (ids == io.end()) {
      return absl::InvalidArgumentError(absl::StrCat("io file has ", keys[0], " but no 'input_ids' tensor"));
    }
    ASSIGN_OR_RETURN(models::ClipTextModel model,
                     models::LoadClipTextModel(dir, torch::TensorOptions().dtype(dtype).device(device)));
    model->eval();
    models::ClipTextOutput out;
    try {
      torch::NoGradGuard no_grad;
      out = model->forward(ids->second);
    } catch (const c10::Error& e) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", e.what_without_backtrace()));
    }
    for (const std::string& key : keys) {
      const std::string output = key.substr(name.size() + 1);
      const torch::Tensor& actual = output == "penultimate" ? out.penultimate()
                                    : output == "last"      ? out.last_hidden_state
                                                            : out.pooled();
      report(key, MaxRelativeError(actual, io.at(key)), /*is_gradient=*/false);
    }
    components.push_back(name);
  }
  return absl::OkStatus();
}

}  // namespace align::tools
