#include "worker/models/unet_io.h"

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "worker/models/weights_io.h"

namespace align::models {

absl::StatusOr<UNet2DConditionModel> LoadUNet(const std::string& unet_dir,
                                              const torch::TensorOptions& options) {
  ASSIGN_OR_RETURN(diffusers::UNetConfig config, diffusers::LoadUNetConfig(diffusers::ConfigPath(unet_dir)));
  ASSIGN_OR_RETURN(safetensors::ShardedWeights weights,
                   safetensors::ShardedWeights::Open(unet_dir, diffusers::kDiffusersWeightsBase));
  UNet2DConditionModel unet(config, options);
  absl::Status loaded = LoadParameters(*unet, weights);
  if (!loaded.ok()) {
    return absl::Status(loaded.code(), absl::StrCat(unet_dir, ": ", loaded.message()));
  }
  return unet;
}

absl::Status SaveUNet(UNet2DConditionModel& unet, const std::string& unet_dir, torch::Dtype on_disk,
                      uint64_t max_shard_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(unet_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", unet_dir, ": ", ec.message()));
  RETURN_IF_ERROR(SaveParameters(*unet, unet_dir, diffusers::kDiffusersWeightsBase, on_disk, max_shard_bytes));
  return WriteFileAtomically(diffusers::ConfigPath(unet_dir), unet->config().source_json);
}

}  // namespace align::models
