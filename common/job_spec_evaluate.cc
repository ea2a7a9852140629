// The `evaluate:` section of a job spec (job_spec.h, EvaluateSpec), and the
// parts of it a train job's `evaluation:` shares (rewards, embedder).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec_sections.h"
#include "common/reward_name.h"
#include "common/status_macros.h"

namespace align::spec_sections {
namespace {

using spec_fields::Fields;

// A checkpoint's name becomes a folder under images/ and a Prometheus label.
bool ValidCheckpointName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return name != "." && name != "..";
}

absl::Status ParseCheckpoint(const Fields& f, EvaluateCheckpoint* checkpoint) {
  RETURN_IF_ERROR(f.Require("name", "required (its column in the report)"));
  RETURN_IF_ERROR(f.String("name", &checkpoint->name));
  RETURN_IF_ERROR(f.Check("name", ValidCheckpointName(checkpoint->name),
                          "must be 1 to 64 letters, digits, '-', '_' and '.'"));
  RETURN_IF_ERROR(f.String("model", &checkpoint->model));
  RETURN_IF_ERROR(f.Check("model", !f.Has("model") || !checkpoint->model.empty(), "must not be empty"));
  RETURN_IF_ERROR(f.String("unet", &checkpoint->unet));
  RETURN_IF_ERROR(f.Check("unet", !f.Has("unet") || !checkpoint->unet.empty(), "must not be empty"));
  RETURN_IF_ERROR(f.String("lora", &checkpoint->lora));
  return f.Check("lora", !f.Has("lora") || !checkpoint->lora.empty(), "must not be empty");
}

}  // namespace

absl::Status ParseEvaluationRewards(const Fields& f, std::vector<EvaluateReward>* rewards) {
  RETURN_IF_ERROR(f.Require("rewards", "required (e.g. [{reward: pickscore, model: models/pickscore}])"));
  ASSIGN_OR_RETURN(std::vector<Fields> entries, f.MappingList("rewards", {"reward", "model"}));
  RETURN_IF_ERROR(f.Check("rewards",
                          !entries.empty() && static_cast<int64_t>(entries.size()) <= spec_limits::kMaxEvalRewards,
                          absl::StrCat("must list 1 to ", spec_limits::kMaxEvalRewards, " rewards")));
  for (const Fields& r : entries) {
    EvaluateReward reward;
    RETURN_IF_ERROR(r.Require("reward", absl::StrCat("required (one of ", spec_fields::NamesOf(RewardNames()), ")")));
    RETURN_IF_ERROR(r.Enum("reward", RewardNames(), &reward.reward));
    RETURN_IF_ERROR(RequiredPath(r, "model", "the reward model's folder", &reward.model));
    for (const EvaluateReward& earlier : *rewards) {
      if (earlier.reward == reward.reward) return r.Error("reward", "is listed twice");
    }
    rewards->push_back(reward);
  }
  return absl::OkStatus();
}

absl::Status ParseEmbedder(const Fields& f, const std::vector<EvaluateReward>& rewards, std::string* embedder) {
  for (const EvaluateReward& reward : rewards) {
    if (reward.reward == RewardName::kClipScore) *embedder = reward.model;
  }
  RETURN_IF_ERROR(f.String("embedder", embedder));
  return f.Check("embedder", !embedder->empty(),
                 f.Has("embedder") ? "must not be empty"
                                   : "required without a clipscore reward (a CLIP model folder: the "
                                     "image embeddings diversity is measured with)");
}

absl::Status ParseEvaluate(const Fields& f, EvaluateSpec* evaluate) {
  RETURN_IF_ERROR(RequiredPath(f, "prompts", "a .txt file, one prompt per line, or a .jsonl file", &evaluate->prompts));
  RETURN_IF_ERROR(IntInRange(f, "seeds", &evaluate->seeds, 1, spec_limits::kMaxSamplesPerPrompt));

  RETURN_IF_ERROR(f.Require("checkpoints", "required (e.g. [{name: base}, {name: dpo, unet: runs/dpo/checkpoint-500}])"));
  ASSIGN_OR_RETURN(std::vector<Fields> checkpoints, f.MappingList("checkpoints", {"name", "model", "unet", "lora"}));
  RETURN_IF_ERROR(f.Check("checkpoints",
                          !checkpoints.empty() &&
                              static_cast<int64_t>(checkpoints.size()) <= spec_limits::kMaxEvalCheckpoints,
                          absl::StrCat("must list 1 to ", spec_limits::kMaxEvalCheckpoints, " checkpoints")));
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    EvaluateCheckpoint checkpoint;
    RETURN_IF_ERROR(ParseCheckpoint(checkpoints[i], &checkpoint));
    for (const EvaluateCheckpoint& earlier : evaluate->checkpoints) {
      if (earlier.name == checkpoint.name) {
        return checkpoints[i].Error("name", absl::StrCat("\"", checkpoint.name, "\" is listed twice"));
      }
    }
    evaluate->checkpoints.push_back(checkpoint);
  }
  evaluate->base = evaluate->checkpoints.front().name;
  RETURN_IF_ERROR(f.String("base", &evaluate->base));
  bool base_listed = false;
  for (const EvaluateCheckpoint& checkpoint : evaluate->checkpoints) base_listed |= checkpoint.name == evaluate->base;
  RETURN_IF_ERROR(f.Check("base", base_listed,
                          absl::StrCat("\"", evaluate->base, "\" is not the name of one of the checkpoints")));

  RETURN_IF_ERROR(ParseEvaluationRewards(f, &evaluate->rewards));
  RETURN_IF_ERROR(ParseEmbedder(f, evaluate->rewards, &evaluate->embedder));

  ASSIGN_OR_RETURN(std::optional<Fields> sampling, f.Section("sampling", kSamplingFields));
  if (sampling) RETURN_IF_ERROR(ParseSampling(*sampling, &evaluate->sampling));
  ASSIGN_OR_RETURN(std::optional<Fields> bootstrap, f.Section("bootstrap", {"resamples"}));
  if (bootstrap) {
    RETURN_IF_ERROR(IntInRange(*bootstrap, "resamples", &evaluate->bootstrap_resamples, 0,
                               spec_limits::kMaxBootstrapResamples));
  }
  RETURN_IF_ERROR(IntInRange(f, "prompts_per_chunk", &evaluate->prompts_per_chunk, 1, spec_limits::kMaxImagesPerChunk));
  return f.Check("prompts_per_chunk", evaluate->prompts_per_chunk * evaluate->seeds <= spec_limits::kMaxImagesPerChunk,
                 absl::StrCat("times seeds must be <= ", spec_limits::kMaxImagesPerChunk, " (images per chunk)"));
}

}  // namespace align::spec_sections
