#pragma once
// A training checkpoint under a job's output folder:
//   checkpoint-<step>/unet/        the policy UNet in diffusers' layout (fp32)
//   (a LoRA run: checkpoint-<step>/pytorch_lora_weights.safetensors, the
//   adapters in diffusers' format, and unet/ only when merged ones are asked for)
//   checkpoint-<step>/optimizer.safetensors
//   checkpoint-<step>/trainer_state.json   {"step": ..., ...}
// A checkpoint is written as checkpoint-<step>.partial and renamed when
// complete, so a crash mid-write never leaves a directory that looks usable.
// One class writes them and reads them back for resuming.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "nlohmann/json.hpp"
#include "worker/models/unet_2d_condition.h"

namespace align::engine {

class TrainingCheckpoint {
 public:
  // The newest complete checkpoint in `output`, if any.
  static std::optional<TrainingCheckpoint> FindLatest(const std::string& output);

  // Writes checkpoint-<step> under `output`: into a folder of this process's
  // own (checkpoint-<step>.partial-<host>-<pid>), renamed into place once
  // complete. It never replaces a checkpoint-<step> that exists: only
  // another attempt of the job can have written it, either a worker group
  // that lost the job and went on (a stalled node resumed) or the attempt
  // that holds the job now, which the stale one got ahead of.
  // FailedPrecondition says so and leaves that checkpoint's bytes as they are
  // (the trainer then stops the attempt; the job resumes from what is on disk).
  static absl::Status Write(const std::string& output, int64_t step, models::UNet2DConditionModel& unet,
                            const std::map<std::string, torch::Tensor>& optimizer_state,
                            const nlohmann::json& trainer_state);

  // Writes the model's files into the (partial) checkpoint folder it is given.
  using ModelWriter = std::function<absl::Status(const std::string& checkpoint_dir)>;
  // As above, with the model's files written by `write_model` (LoRA adapters).
  static absl::Status WriteWith(const std::string& output, int64_t step, const ModelWriter& write_model,
                                const std::map<std::string, torch::Tensor>& optimizer_state,
                                const nlohmann::json& trainer_state);

  // The folder of step `step` under `output`: <output>/checkpoint-<step>.
  static std::string Dir(const std::string& output, int64_t step);

  int64_t step() const { return step_; }
  const std::string& dir() const { return dir_; }
  // The coordinator's id of the job that wrote it (trainer_state.json's
  // "job_id"); empty when it does not say (a run outside a coordinator, or a
  // checkpoint older than the field).
  std::string WrittenByJob() const;
  // OK when job `job_id` may resume from this checkpoint under `policy`:
  // always with kAny or an empty `job_id`, else when it wrote it or the
  // checkpoint does not say. FailedPrecondition naming both jobs otherwise.
  absl::Status CheckMayResume(const std::string& job_id, ResumePolicy policy) const;

  // Loads the saved policy weights into `unet` (built from the job's model:
  // a checkpoint's UNet has the same config).
  absl::Status LoadUNetWeights(models::UNet2DConditionModel& unet) const;
  absl::StatusOr<std::map<std::string, torch::Tensor>> ReadOptimizerState() const;

 private:
  TrainingCheckpoint(int64_t step, std::string dir) : step_(step), dir_(std::move(dir)) {}

  int64_t step_;
  std::string dir_;
};

}  // namespace align::engine
