#pragma once
// Guards resumption: `<output>/prepare-state/plan.json` records a fingerprint of
// everything that decides a chunk's bytes (the input items, the plan, the
// conditioning options, the model path, the seed). A restarted job with the
// same fingerprint skips the chunks that have records; a different one is
// refused, so shards from two configurations are never mixed.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/job_spec.h"
#include "common/prepare/input_index.h"
#include "common/prepare/work_split.h"

namespace align::prepare {

uint64_t PlanFingerprint(const JobSpec& spec, const InputIndex& index, const WorkPlan& plan);

// Creates the state directory and plan.json, or checks that an existing one
// has the same fingerprint (FailedPrecondition otherwise, saying what to do).
// Whether `state_dir/plan.json` exists with this fingerprint.
bool PlanStateMatches(const std::string& state_dir, uint64_t fingerprint);

absl::Status CheckOrWritePlanState(const std::string& state_dir, uint64_t fingerprint, const WorkPlan& plan);

}  // namespace align::prepare
