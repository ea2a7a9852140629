#pragma once
// Jobs and events as the store hands them out: plain structs, so the gRPC
// layer and the tests share them without SQLite or protobuf.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/core/job_state.h"

namespace align::coordinator {

// A job another one waits for (its spec's `after:`, resolved), as it is now.
struct JobDependency {
  int64_t id = 0;
  std::string name;
  JobState state = JobState::kQueued;
};

struct JobRecord {
  int64_t id = 0;
  std::string name;
  std::string type;       // train | prepare
  std::string spec_yaml;  // empty in listings
  std::string base_dir;
  JobState state = JobState::kQueued;
  int64_t steps_done = 0;
  int64_t total_steps = 0;
  int64_t created_ms = 0;  // Unix time in milliseconds
  int64_t updated_ms = 0;
  std::optional<int64_t> started_ms;   // first time it ran
  std::optional<int64_t> finished_ms;  // when it reached a final state
  // The current (or last) attempt: when it started running and at which step,
  // so the rate, and from it the ETA, counts only this attempt's steps.
  std::optional<int64_t> run_started_ms;
  int64_t run_start_step = 0;
  std::string group_id;
  std::optional<int64_t> last_checkpoint_step;
  std::string last_checkpoint_path;
  // The attempt that wrote last_checkpoint_step: the fencing epoch of the
  // group that held the job then (unset for checkpoints older than schema 4).
  std::optional<int> last_checkpoint_attempt;
  std::string error;
  int64_t revision = 0;  // bumped by every change
  int attempts = 0;
  // Attempts in a row that a coordinator restart interrupted before they
  // made progress; reset by an attempt that did. At max_attempts the job is
  // failed rather than started again (it may be what stops the coordinator).
  int restart_strikes = 0;
  std::map<std::string, double> metrics;  // latest reported values (NaN: non-finite)
  int64_t metrics_step = 0;
  std::string owner;  // the submitting token's name; empty for jobs older than ownership
  // The jobs it waits for, oldest first: a queued job is not handed to a
  // worker group until every one of them has succeeded.
  std::vector<JobDependency> after;
};

// Queued, but held back: a job it waits for has not succeeded yet.
inline bool IsWaiting(const JobRecord& job) {
  if (job.state != JobState::kQueued) return false;
  for (const JobDependency& dependency : job.after) {
    if (dependency.state != JobState::kSucceeded) return true;
  }
  return false;
}

struct JobEventRecord {
  int64_t seq = 0;
  int64_t job_id = 0;
  int64_t time_ms = 0;
  std::string kind;
  std::string message;
};

}  // namespace align::coordinator
