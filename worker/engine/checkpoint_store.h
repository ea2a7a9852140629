#pragma once
// Training checkpoints under a job's output folder:
//   checkpoint-<step>/unet/        the policy UNet in diffusers' layout (fp32)
//   checkpoint-<step>/optimizer.safetensors
//   checkpoint-<step>/trainer_state.json   {"step": ..., ...}
// A checkpoint is written as checkpoint-<step>.partial and renamed when
// complete, so a crash mid-write never leaves a directory that looks usable.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "worker/models/unet_2d_condition.h"

namespace align::engine {

struct CheckpointContents {
  int64_t step = 0;
  std::string dir;
};

// The newest complete checkpoint in `output`, if any.
std::optional<CheckpointContents> FindLatestCheckpoint(const std::string& output);

absl::Status WriteTrainingCheckpoint(const std::string& output, int64_t step, models::UNet2DConditionModel& unet,
                                     const std::map<std::string, torch::Tensor>& optimizer_state,
                                     const nlohmann::json& trainer_state);

absl::StatusOr<std::map<std::string, torch::Tensor>> ReadOptimizerState(const std::string& checkpoint_dir);

}  // namespace align::engine
