#pragma once
// What the coordinator checks at submit of the paths a spec names, as seen
// from its machine, which shares storage with the workers: a job that would
// fail on its first step is refused instead. Each kind of job picks the checks
// its work needs (JobKind::CheckSubmitted). Every error is InvalidArgument and
// starts with the spec field at fault.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/diffusers/unet_config.h"
#include "common/job_spec.h"
#include "common/reward_name.h"

namespace align::coordinator {

// `model` has a diffusers unet/ whose config parses.
absl::StatusOr<diffusers::UNetConfig> CheckTrainModel(const std::string& model);
// `model` has what an encoding job loads: vae/, text_encoder*/, tokenizer*/.
absl::Status CheckEncoderModel(const std::string& model);
// `model` has what sampling loads: unet/ (its config parses), vae/,
// scheduler/, text_encoder/ and tokenizer/ (the second pair is optional: SD 1.5/2.x).
absl::Status CheckSamplingModel(const std::string& model);
// `path` (the spec field `field`) is a readable file.
absl::Status CheckReadableFile(const std::string& path, const std::string& field);
// `path` (the spec field `field`) is a directory.
absl::Status CheckDirectory(const std::string& path, const std::string& field);
// A prepare job's input exists: the JSONL file, or the WebDataset shards.
absl::Status CheckPrepareInput(const PrepareSpec& prepare);
// `dataset` is a prepared dataset with training pairs that fit `unet`, and
// carries what the spec's curriculum orders pairs by.
absl::Status CheckTrainDataset(const std::string& dataset, const JobSpec& spec, const diffusers::UNetConfig& unet,
                               const std::string& model);
// `folder` (the spec field `field`) holds what reward `reward` loads, from
// its config.json alone: a CLIPModel folder, or for the aesthetic reward also
// a CLIPVisionModelWithProjection one (docs/reward-models.md).
absl::Status CheckRewardModelFolder(RewardName reward, const std::string& folder, const std::string& field);
// `folder` (the spec field `field`) is a CLIP image tower's: a CLIPModel or
// CLIPVisionModelWithProjection folder.
absl::Status CheckClipImageFolder(const std::string& folder, const std::string& field);
// What an evaluation scores with, for an evaluate job's `evaluate` and a train
// job's `evaluation` (the spec field `section`): `prompts` is a readable
// prompt file with at least one prompt, each reward's folder holds its model,
// `embedder` is a CLIP image tower's folder.
absl::Status CheckEvaluationInputs(const std::string& prompts, const std::vector<EvaluateReward>& rewards,
                                   const std::string& embedder, const std::string& section);
// `output` is a writable directory, or can be created as one.
absl::Status CheckOutputDirectory(const std::string& output, const std::string& field);

}  // namespace align::coordinator
