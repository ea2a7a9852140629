#pragma once
// How alignctl prints jobs: state names as users type them, the one-line
// progress summary (watch, list), and times.

#include <optional>
#include <string>

#include "align/v1/job.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace align::alignctl {

// "queued", "running", ...
std::string StateName(v1::JobState state);
std::optional<v1::JobState> ParseStateName(const std::string& name);
bool IsFinalState(v1::JobState state);

// "1h02m", "3m05s", "42s".
std::string FormatSeconds(double seconds);
// UTC, ISO 8601 with milliseconds; "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& time, bool set);
// "step 120/2000 (6.0%)  3.5 pairs/s  ETA 9m12s  loss 0.6931  acc 0.512"
std::string ProgressSummary(const v1::Job& job);
// "job-000041 (succeeded), job-000042 (running)": the jobs it waits for; empty when none.
std::string AfterSummary(const v1::Job& job);
// Queued, but held until the jobs it waits for have succeeded.
bool IsWaiting(const v1::Job& job);
// "job-000001 running  step 120/2000 (6.0%)  3.5 pairs/s  ETA 9m12s  loss 0.6931  acc 0.512";
// a waiting job: "job-000002 queued      waiting, after job-000001 (running)".
std::string ProgressLine(const v1::Job& job);
// Several lines: every field a user may want, for `status`.
std::string JobDetails(const v1::Job& job);
// The protobuf JSON mapping (field names as in the .proto), for `status --json`.
std::string JobJson(const v1::Job& job);

}  // namespace align::alignctl
