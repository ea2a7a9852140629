#pragma once
// LoRA adapter files.
// Written in diffusers' format, as StableDiffusionXLPipeline.save_lora_weights
// writes them: <dir>/pytorch_lora_weights.safetensors with keys
//   unet.<layer>.lora.down.weight  [rank, in(, 1, 1)]   (peft's lora_A)
//   unet.<layer>.lora.up.weight    [out, rank(, 1, 1)]  (peft's lora_B)
// plus what keeps the scale alpha / rank: a scalar `unet.<layer>.alpha` per
// layer (the network-alpha convention) and the safetensors metadata entry
// "lora_adapter_metadata" = {"unet.r": rank, "unet.lora_alpha": alpha, ...}
// (diffusers' adapter metadata). Read in either that style or peft's
// (<layer>.lora_A[.default].weight / lora_B, from peft's save_pretrained:
// adapter_model.safetensors + adapter_config.json), with or without the
// "unet." and "base_model.model." prefixes.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "worker/models/lora.h"
#include "worker/models/unet_2d_condition.h"

namespace align::models {

// An adapter file's contents by adapted layer name (prefixes stripped).
struct LoraWeights {
  std::map<std::string, torch::Tensor> down, up;
  int64_t rank = 0;
  // When the file says (alpha keys, metadata or adapter_config.json); files
  // without it load in diffusers with scale 1, i.e. alpha = rank.
  std::optional<double> alpha;
  std::vector<std::string> layers() const;
};

// `path`: a .safetensors file, or a folder holding pytorch_lora_weights.safetensors
// or peft's adapter_model.safetensors (+ adapter_config.json).
absl::StatusOr<LoraWeights> ReadLoraWeights(const std::string& path);

// Copies `weights` into the adapters of `model`: the layers must be the same
// both ways and the shapes equal. The adapters' alpha is theirs (set at
// injection), not the file's.
absl::Status LoadLoraWeights(torch::nn::Module& model, const LoraWeights& weights);

// Freezes `unet` and gives it the adapters `weights` holds (their layers and
// rank), loaded: the model a diffusers pipeline samples after
// load_lora_weights. Alpha is `alpha_override` when given, else the file's,
// else the rank (scale 1, as diffusers loads a file that does not state it).
absl::Status AttachLoraWeights(UNet2DConditionModel& unet, const LoraWeights& weights,
                               std::optional<double> alpha_override = std::nullopt);

// Writes <dir>/pytorch_lora_weights.safetensors from the adapters of `model`
// (fp32; `targets` go to the metadata as target_modules).
absl::Status SaveLoraWeights(torch::nn::Module& model, const std::vector<std::string>& targets,
                             const std::string& dir);

// Writes the UNet with every adapter merged (W + scale * B A, computed in
// fp32) as a diffusers UNet folder (fp32), without adapter keys.
absl::Status SaveMergedUNet(UNet2DConditionModel& unet, const std::string& unet_dir);

}  // namespace align::models
