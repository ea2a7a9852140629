#pragma once
// The last act of a prepare job, once every chunk has its record: the report
// (`<output>/prepare-report.json`) and, unless too many items failed, the
// dataset's manifest over the shards the records name. Needs no model: the
// records carry the shards' shape. Run by rank 0 of a standalone job, or by
// the coordinator for a job it split over a worker group.

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/prepare/prepare_layout.h"
#include "common/prepare/prepare_report.h"

namespace align::prepare {

// The report is written in every case. The manifest is written only when
// report.ok(); the caller turns !report.ok() into the job's failure
// (FailureMessage). Errors: a chunk without a record, shards that do not match
// their records, disks.
absl::StatusOr<PrepareReport> FinishPreparedDataset(const JobSpec& spec, const PrepareLayout& layout);

}  // namespace align::prepare
