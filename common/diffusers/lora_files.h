#pragma once
// Where a LoRA adapter's files are: the adapter is named by a .safetensors
// file or by a folder holding one, in either of the two layouts diffusers
// users meet:
//   pytorch_lora_weights.safetensors            (save_lora_weights; our train
//                                               checkpoints write this one)
//   adapter_model.safetensors + adapter_config.json   (peft's save_pretrained)
// Plain C++: the worker reads the weights (worker/models/lora_io.h), spec
// checks only find and open them.

#include <string>

#include "absl/status/statusor.h"

namespace align::diffusers {

inline constexpr char kLoraWeightsFile[] = "pytorch_lora_weights.safetensors";
inline constexpr char kPeftWeightsFile[] = "adapter_model.safetensors";
inline constexpr char kPeftConfigFile[] = "adapter_config.json";

struct LoraFiles {
  std::string weights;      // the .safetensors file
  std::string peft_config;  // adapter_config.json beside peft's weights; empty when absent
};

// The files of the adapter at `path` (a file, or a folder as above); NotFound
// naming what was looked for.
absl::StatusOr<LoraFiles> FindLoraFiles(const std::string& path);

// FindLoraFiles, and the weights file's header parses: what a spec check can
// say without reading the weights.
absl::Status CheckLoraFiles(const std::string& path);

}  // namespace align::diffusers
