#pragma once
// A UNet folder in diffusers' layout (common/diffusers/model_folder.h):
// config.json + diffusion_pytorch_model.safetensors (or its sharded index).

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "worker/models/unet_2d_condition.h"

namespace align::models {

// Builds the UNet that `unet_dir/config.json` describes with parameters of
// `options` (dtype, device) and loads its weights.
absl::StatusOr<UNet2DConditionModel> LoadUNet(const std::string& unet_dir,
                                              const torch::TensorOptions& options);

// Writes config.json and the weights (converted to `on_disk`) so that
// diffusers' UNet2DConditionModel.from_pretrained(unet_dir) loads them.
absl::Status SaveUNet(UNet2DConditionModel& unet, const std::string& unet_dir, torch::Dtype on_disk,
                      uint64_t max_shard_bytes = 10ull << 30);

}  // namespace align::models
