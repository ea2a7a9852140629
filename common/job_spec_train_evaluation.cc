// A train job's `evaluation:` section (job_spec.h, TrainEvaluationSpec): the
// fields an evaluate job also has go through the evaluate section's parsers.

#include <cstdint>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/job_spec_sections.h"
#include "common/status_macros.h"

namespace align::spec_sections {

using spec_fields::Fields;

absl::Status ParseTrainEvaluation(const Fields& f, TrainEvaluationSpec* evaluation) {
  RETURN_IF_ERROR(RequiredPath(f, "prompts", "a .txt file, one prompt per line, or a .jsonl file", &evaluation->prompts));
  RETURN_IF_ERROR(IntInRange(f, "max_prompts", &evaluation->max_prompts, 1, spec_limits::kMaxImagesPerChunk));
  RETURN_IF_ERROR(IntInRange(f, "seeds", &evaluation->seeds, 1, spec_limits::kMaxSamplesPerPrompt));
  // Every evaluation samples all of them in one go, between two steps.
  RETURN_IF_ERROR(f.Check("seeds", evaluation->max_prompts * evaluation->seeds <= spec_limits::kMaxImagesPerChunk,
                          absl::StrCat("times max_prompts must be <= ", spec_limits::kMaxImagesPerChunk,
                                       " (images per evaluation)")));
  RETURN_IF_ERROR(ParseEvaluationRewards(f, &evaluation->rewards));
  RETURN_IF_ERROR(ParseEmbedder(f, evaluation->rewards, &evaluation->embedder));
  ASSIGN_OR_RETURN(std::optional<Fields> sampling, f.Section("sampling", kSamplingFields));
  if (sampling) RETURN_IF_ERROR(ParseSampling(*sampling, &evaluation->sampling));
  return absl::OkStatus();
}

absl::Status ParseEvaluateEvery(const Fields& f, const JobSpec& spec, int64_t* evaluate_every,
                                std::optional<TrainEvaluationSpec>* evaluation) {
  for (const char* key : {"evaluate_every", "evaluation"}) {
    RETURN_IF_ERROR(f.Check(key, spec.type == JobType::kTrain || !f.Has(key), "only applies to type train"));
  }
  RETURN_IF_ERROR(f.Int("evaluate_every", evaluate_every));
  RETURN_IF_ERROR(f.Check("evaluate_every", *evaluate_every >= 0 && *evaluate_every <= spec_limits::kMaxSteps,
                          absl::StrCat("must be from 0 to ", spec_limits::kMaxSteps, " steps (0: off)")));
  ASSIGN_OR_RETURN(std::optional<Fields> section, f.Section("evaluation", kTrainEvaluationFields));
  if (*evaluate_every == 0) {
    // An evaluation that never runs is more likely a forgotten evaluate_every than intended.
    return f.Check("evaluation", !f.Has("evaluation"), "needs evaluate_every > 0 (the steps between evaluations)");
  }
  RETURN_IF_ERROR(f.Check("evaluate_every", section.has_value(),
                          "needs an evaluation section (what to evaluate: {prompts: p.txt, rewards: [...], ...})"));
  evaluation->emplace();
  return ParseTrainEvaluation(*section, &**evaluation);
}

}  // namespace align::spec_sections
