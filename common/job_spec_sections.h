#pragma once
// The sections of the Curriculum DPO pipeline's job types (generate, score,
// pairs) and the name tables they share with job_spec.cc. Internal to the
// spec's parser: users of specs include common/job_spec.h.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/job_spec.h"
#include "common/spec_fields.h"

namespace align::spec_sections {

extern const spec_fields::NameTable<CurriculumDifficulty> kDifficulties;
extern const spec_fields::NameTable<ShardDtype> kShardDtypes;

// The fields each section accepts.
extern const std::vector<std::string> kGenerateFields;
extern const std::vector<std::string> kScoreFields;
extern const std::vector<std::string> kPairsFields;

absl::Status ParseGenerate(const spec_fields::Fields& f, GenerateSpec* generate);
absl::Status ParseScore(const spec_fields::Fields& f, ScoreSpec* score);
absl::Status ParsePairs(const spec_fields::Fields& f, PairsSpec* pairs);

}  // namespace align::spec_sections
