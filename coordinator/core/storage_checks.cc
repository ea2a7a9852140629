#include "coordinator/core/storage_checks.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/curriculum/prompt_list.h"
#include "common/dataset/empty_prompt.h"
#include "common/dataset/manifest.h"
#include "common/diffusers/clip_model_config.h"
#include "common/diffusers/dataset_fit.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "common/prepare/webdataset_input.h"

namespace align::coordinator {

namespace fs = std::filesystem;

namespace {

absl::Status FieldError(const std::string& field, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

}  // namespace

// A train job reads the UNet's config and the dataset's shape must fit it
// (checked with the dataset, CheckTrainDataset).
absl::StatusOr<diffusers::UNetConfig> CheckTrainModel(const std::string& model) {
  const diffusers::ModelFolder folder(model);
  if (absl::Status files = folder.CheckFiles({diffusers::Component::kUNet}); !files.ok()) {
    return FieldError("model", absl::StrCat(files.message(), " (expected a diffusers layout)"));
  }
  absl::StatusOr<diffusers::UNetConfig> unet = diffusers::LoadUNetConfig(folder.UNetConfigPath());
  if (!unet.ok()) return FieldError("model", std::string(unet.status().message()));
  return unet;
}

// What a prepare job loads (worker/prepare/pair_encoder.h): the VAE, both
// tokenizers and both text encoders; the UNet is optional.
absl::Status CheckEncoderModel(const std::string& model) {
  using diffusers::Component;
  absl::Status files = diffusers::ModelFolder(model).CheckFiles(
      {Component::kVae, Component::kTextEncoder, Component::kTextEncoder2, Component::kTokenizer,
       Component::kTokenizer2});
  if (!files.ok()) {
    return FieldError("model", absl::StrCat(files.message(),
                                            " (a prepare job needs the diffusers layout's vae/, text_encoder*/ "
                                            "and tokenizer*/)"));
  }
  return absl::OkStatus();
}

absl::Status CheckSamplingModel(const std::string& model) {
  using diffusers::Component;
  RETURN_IF_ERROR(CheckTrainModel(model).status());
  absl::Status files = diffusers::ModelFolder(model).CheckFiles(
      {Component::kVae, Component::kScheduler, Component::kTextEncoder, Component::kTokenizer});
  if (!files.ok()) {
    return FieldError("model", absl::StrCat(files.message(),
                                            " (sampling needs the diffusers layout's unet/, vae/, scheduler/, "
                                            "text_encoder/ and tokenizer/)"));
  }
  return absl::OkStatus();
}

absl::Status CheckReadableFile(const std::string& path, const std::string& field) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return FieldError(field, absl::StrCat(path, " is not a readable file"));
  return absl::OkStatus();
}

absl::Status CheckDirectory(const std::string& path, const std::string& field) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return FieldError(field, absl::StrCat(path, " is not a directory"));
  return absl::OkStatus();
}

absl::Status CheckPrepareInput(const PrepareSpec& prepare) {
  std::error_code ec;
  if (prepare.format == PrepareFormat::kJsonl) {
    if (!fs::is_regular_file(prepare.input, ec)) {
      return FieldError("prepare.input", absl::StrCat(prepare.input, " is not a readable file"));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> shards = prepare::ResolveShards(prepare.input);
  if (!shards.ok()) return FieldError("prepare.input", std::string(shards.status().message()));
  return absl::OkStatus();
}

absl::Status CheckTrainDataset(const std::string& dataset, const JobSpec& spec, const diffusers::UNetConfig& unet,
                               const std::string& model) {
  std::error_code ec;
  if (!fs::is_directory(dataset, ec)) return FieldError("dataset", absl::StrCat(dataset, " is not a directory"));
  if (!fs::is_regular_file(fs::path(dataset) / std::string(data::kManifestFile), ec)) {
    return FieldError("dataset", absl::StrCat(dataset, " has no ", data::kManifestFile,
                                              " (not a prepared dataset, or one still being written)"));
  }
  absl::StatusOr<data::Manifest> manifest = data::LoadManifest(dataset);
  if (!manifest.ok()) return FieldError("dataset", std::string(manifest.status().message()));
  auto train = manifest->splits.find("train");
  if (train == manifest->splits.end() || train->second.pairs < 1) {
    return FieldError("dataset", absl::StrCat(dataset, " has no training pairs (split \"train\" is empty)"));
  }
  if (absl::Status fits = diffusers::CheckPairShapeFitsUNet(manifest->shape, unet); !fits.ok()) {
    return FieldError("dataset", absl::StrCat(dataset, " does not fit the UNet of ", model, ": ", fits.message()));
  }
  // rank_gap orders pairs by their difficulty vector; score_gap by score_w - score_l.
  if (spec.curriculum.has_value()) {
    const bool by_scores = spec.curriculum->difficulty == CurriculumDifficulty::kScoreGap;
    if (by_scores ? !manifest->has_scores : !manifest->has_difficulty) {
      return FieldError("curriculum", absl::StrCat("dataset ", dataset, " carries no per-pair ",
                                                   by_scores ? "scores (has_scores is false) for difficulty: score_gap"
                                                             : "difficulty (has_difficulty is false)"));
    }
  }
  // Prompt dropout swaps in the empty prompt's conditioning the prepare job stored.
  if (spec.data.prompt_dropout > 0 &&
      !fs::is_regular_file(fs::path(dataset) / std::string(data::kEmptyPromptFile), ec)) {
    return FieldError("data", absl::StrCat("prompt_dropout needs ", dataset, "/", data::kEmptyPromptFile,
                                           " (written by prepare jobs); this dataset has none"));
  }
  return absl::OkStatus();
}

// The output directory may not exist yet; its nearest existing ancestor must
// then be a directory the coordinator can write into (the workers run as the
// same service user on shared storage).
absl::Status CheckOutputDirectory(const std::string& output, const std::string& field) {
  std::error_code ec;
  fs::path path = fs::path(output).lexically_normal();
  if (fs::exists(path, ec)) {
    if (!fs::is_directory(path, ec)) return FieldError(field, absl::StrCat(output, " exists and is not a directory"));
    if (::access(path.c_str(), W_OK) != 0) return FieldError(field, absl::StrCat(output, " is not writable"));
    return absl::OkStatus();
  }
  fs::path ancestor = path.parent_path();
  while (!ancestor.empty() && !fs::exists(ancestor, ec)) ancestor = ancestor.parent_path();
  if (ancestor.empty()) ancestor = ".";
  if (!fs::is_directory(ancestor, ec)) {
    return FieldError(field, absl::StrCat("cannot create ", output, ": ", ancestor.string(), " is not a directory"));
  }
  if (::access(ancestor.c_str(), W_OK | X_OK) != 0) {
    return FieldError(field, absl::StrCat("cannot create ", output, ": ", ancestor.string(), " is not writable"));
  }
  return absl::OkStatus();
}


namespace {

absl::Status CheckClipFolder(const std::string& folder, const std::string& field, bool image_tower_will_do,
                             const std::string& what_for) {
  RETURN_IF_ERROR(CheckDirectory(folder, field));
  const std::string expected =
      image_tower_will_do ? "a CLIPModel or CLIPVisionModelWithProjection folder" : "a CLIPModel folder";
  absl::StatusOr<diffusers::ClipFolderKind> kind = diffusers::ReadClipFolderKind(folder, expected);
  if (kind.ok() && !(*kind == diffusers::ClipFolderKind::kClipModel ||
                     (image_tower_will_do && *kind == diffusers::ClipFolderKind::kVisionModel))) {
    kind = absl::InvalidArgumentError(
        absl::StrCat(folder, ": expected ", expected, ", found ", diffusers::DescribeModelFolder(folder)));
  }
  if (!kind.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", kind.status().message(), " (", what_for, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckRewardModelFolder(RewardName reward, const std::string& folder, const std::string& field) {
  return CheckClipFolder(folder, field, reward == RewardName::kAesthetic,
                         absl::StrCat("reward ", std::string(RewardNameString(reward))));
}

absl::Status CheckEvaluationInputs(const std::string& prompts, const std::vector<EvaluateReward>& rewards,
                                   const std::string& embedder, const std::string& section) {
  for (size_t i = 0; i < rewards.size(); ++i) {
    RETURN_IF_ERROR(CheckRewardModelFolder(rewards[i].reward, rewards[i].model,
                                           absl::StrCat(section, ".rewards[", i, "].model")));
  }
  RETURN_IF_ERROR(CheckClipImageFolder(embedder, absl::StrCat(section, ".embedder")));
  RETURN_IF_ERROR(CheckReadableFile(prompts, absl::StrCat(section, ".prompts")));
  absl::StatusOr<std::vector<std::string>> read = curriculum::ReadPrompts(prompts);
  if (!read.ok()) return absl::InvalidArgumentError(absl::StrCat(section, ".prompts: ", read.status().message()));
  return absl::OkStatus();
}

absl::Status CheckClipImageFolder(const std::string& folder, const std::string& field) {
  return CheckClipFolder(folder, field, true, "image embeddings");
}

}  // namespace align::coordinator
