#include "worker/tools/verify_vae.h"

#include <torch/torch.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "worker/models/autoencoder_kl.h"
#include "worker/tools/max_relative_error.h"

namespace align::tools {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

absl::StatusOr<torch::Tensor> Require(const TensorMap& io, const std::string& key, const std::string& why) {
  auto it = io.find(key);
  if (it == io.end()) {
    return absl::InvalidArgumentError(absl::StrCat("io file has '", why, "' but no '", key, "' tensor"));
  }
  return it->second;
}

}  // namespace

absl::Status VerifyVae(const std::string& model_dir, const TensorMap& io, torch::Device device,
                       torch::Dtype dtype,
                       const std::function<void(const std::string& key, double err, bool is_gradient)>& report,
                       std::vector<std::string>& components) {
  const bool encode = io.count("image") > 0;
  const bool decode = io.count("latent") > 0;
  if (!encode && !decode) return absl::OkStatus();
  const std::string vae_dir = diffusers::ModelFolder(model_dir).Dir(diffusers::Component::kVae);
  if (!std::filesystem::is_directory(vae_dir)) {
    return absl::InvalidArgumentError(
        absl::StrCat("io file has VAE inputs (image / latent) but ", vae_dir, " does not exist"));
  }
  ASSIGN_OR_RETURN(models::AutoencoderKL vae,
                   models::LoadAutoencoderKL(vae_dir, torch::TensorOptions().dtype(dtype).device(device)));
  vae->eval();
  components.emplace_back(diffusers::ComponentName(diffusers::Component::kVae));
  torch::NoGradGuard no_grad;
  try {
    if (encode) {
      ASSIGN_OR_RETURN(torch::Tensor mean, Require(io, "mean", "image"));
      ASSIGN_OR_RETURN(torch::Tensor logvar, Require(io, "logvar", "image"));
      models::LatentDistribution dist = vae->Encode(io.at("image").to(device, dtype));
      report("mean", MaxRelativeError(dist.mean, mean), false);
      report("logvar", MaxRelativeError(dist.logvar, logvar), false);
    }
    if (decode) {
      ASSIGN_OR_RETURN(torch::Tensor decoded, Require(io, "decoded", "latent"));
      report("decoded", MaxRelativeError(vae->Decode(io.at("latent").to(device, dtype)), decoded), false);
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("VAE forward failed: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace align::tools
