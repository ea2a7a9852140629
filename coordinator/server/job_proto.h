#pragma once
// Store records <-> align.v1 messages.

#include <cstdint>
#include <optional>

#include "align/v1/job.pb.h"
#include "coordinator/core/job_record.h"

namespace align::coordinator {

v1::JobState ToProto(JobState state);
// nullopt for JOB_STATE_UNSPECIFIED and values this build does not know.
std::optional<JobState> FromProto(v1::JobState state);
// `now_ms` dates the ETA.
void ToProto(const JobRecord& job, int64_t now_ms, v1::Job* out);
void ToProto(const JobEventRecord& event, v1::JobEvent* out);

}  // namespace align::coordinator
