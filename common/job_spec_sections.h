#pragma once
// The sections of the Curriculum DPO pipeline's job types (generate, score,
// pairs) and the name tables they share with job_spec.cc. Internal to the
// spec's parser: users of specs include common/job_spec.h.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/job_spec.h"
#include "common/spec_fields.h"

namespace align::spec_sections {

extern const spec_fields::NameTable<CurriculumDifficulty> kDifficulties;
extern const spec_fields::NameTable<ShardDtype> kShardDtypes;

// The fields each section accepts.
extern const std::vector<std::string> kGenerateFields;
extern const std::vector<std::string> kScoreFields;
extern const std::vector<std::string> kPairsFields;
extern const std::vector<std::string> kEvaluateFields;
// A train job's `evaluation:` (TrainEvaluationSpec).
extern const std::vector<std::string> kTrainEvaluationFields;
// The sampling options (SamplingSpec), for sections that nest them.
extern const std::vector<std::string> kSamplingFields;

absl::Status ParseGenerate(const spec_fields::Fields& f, GenerateSpec* generate);
absl::Status ParseScore(const spec_fields::Fields& f, ScoreSpec* score);
absl::Status ParsePairs(const spec_fields::Fields& f, PairsSpec* pairs);
// In job_spec_evaluate.cc.
absl::Status ParseEvaluate(const spec_fields::Fields& f, EvaluateSpec* evaluate);
// What an evaluate job and a train job's `evaluation:` share, in job_spec_evaluate.cc:
// `rewards` (required, 1 to kMaxEvalRewards, none twice), and `embedder`
// (default: the clipscore reward's model; required without one).
absl::Status ParseEvaluationRewards(const spec_fields::Fields& f, std::vector<EvaluateReward>* rewards);
absl::Status ParseEmbedder(const spec_fields::Fields& f, const std::vector<EvaluateReward>& rewards,
                           std::string* embedder);
// In job_spec_train_evaluation.cc.
absl::Status ParseTrainEvaluation(const spec_fields::Fields& f, TrainEvaluationSpec* evaluation);
// The document's `evaluate_every` and `evaluation` (`f` is the whole document):
// type train only, each needing the other.
absl::Status ParseEvaluateEvery(const spec_fields::Fields& f, const JobSpec& spec, int64_t* evaluate_every,
                                std::optional<TrainEvaluationSpec>* evaluation);

// Shared by the sections' parsers.
absl::Status ParseSampling(const spec_fields::Fields& f, SamplingSpec* sampling);
// `key` in [lo, hi], both shown in the message.
absl::Status IntInRange(const spec_fields::Fields& f, const std::string& key, int64_t* out, int64_t lo, int64_t hi);
// A required, non-empty path; `meaning` is said when it is missing.
absl::Status RequiredPath(const spec_fields::Fields& f, const std::string& key, absl::string_view meaning,
                          std::string* out);

}  // namespace align::spec_sections
