#pragma once
// What JobService does, without gRPC: submit (spec and path checks, the
// job's kind's own checks, then the store), get, list, cancel, events and watch, on job ids as users type them.
// The gRPC class only converts messages and statuses.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "coordinator/core/job_kind_registry.h"
#include "coordinator/core/job_record.h"
#include "coordinator/core/job_store.h"
#include "coordinator/core/requester.h"
#include "coordinator/core/spec_check.h"

namespace align::coordinator {

struct JobManagerOptions {
  SpecCheckOptions spec_check;
  // Which kind checks and names each type of job; null: BuiltInJobKinds().
  const JobKindRegistry* kinds = nullptr;
  int64_t max_list_results = 1000;
  // How often a watcher checks whether its client is gone when nothing changes.
  absl::Duration watch_poll = absl::Milliseconds(500);
  // Called after a job is queued / cancelled: the scheduler hands new jobs to
  // idle worker groups and tells the group of a cancelled running job to stop.
  std::function<void(const JobRecord&)> on_submitted;
  std::function<void(const JobRecord&)> on_cancelled;
};

class JobManager {
 public:
  JobManager(JobStore* store, JobManagerOptions options)
      : store_(store),
        options_(std::move(options)),
        kinds_(options_.kinds != nullptr ? options_.kinds : &BuiltInJobKinds()) {}

  // The job is `requester`'s. A non-empty `submit_key` makes the call
  // idempotent: the same requester submitting the same spec and base_dir with
  // the same key gets the job the first call created (AlreadyExists when the
  // key was used with something else).
  absl::StatusOr<JobRecord> Submit(const std::string& spec_yaml, const std::string& base_dir,
                                   const Requester& requester = {}, const std::string& submit_key = {});
  // Several jobs at once, all queued or none (job_chain.h: `after:` names,
  // ${jobs...} references, the jobs' order of running); in the order of
  // `spec_yamls`. Errors name the document at fault. `submit_key` covers the
  // whole submission.
  absl::StatusOr<std::vector<JobRecord>> SubmitJobs(const std::vector<std::string>& spec_yamls,
                                                    const std::string& base_dir, const Requester& requester = {},
                                                    const std::string& submit_key = {});
  absl::StatusOr<JobRecord> Get(absl::string_view job_id);
  // max_results 0: the configured limit. Listings leave spec_yaml empty.
  absl::StatusOr<std::vector<JobRecord>> List(const std::vector<JobState>& states, int64_t max_results);
  // PermissionDenied unless `requester` owns the job or is an admin (jobs
  // older than ownership have no owner: any client may cancel them).
  absl::StatusOr<JobRecord> Cancel(absl::string_view job_id, const std::string& reason,
                                   const Requester& requester = {"", true});
  absl::StatusOr<std::vector<JobEventRecord>> Events(absl::string_view job_id, int64_t after_seq);

  // Calls `emit` with the job now and after each change, and returns OK after
  // emitting a final state. Cancelled when `emit` returns false or
  // `client_gone` turns true; Unavailable after Shutdown().
  absl::Status Watch(absl::string_view job_id, const std::function<bool(const JobRecord&)>& emit,
                     const std::function<bool()>& client_gone);
  // Ends every Watch (the server is going away).
  void Shutdown() { store_->changes().Close(); }

  JobStore& store() { return *store_; }

 private:
  JobStore* store_;
  JobManagerOptions options_;
  const JobKindRegistry* kinds_;
};

}  // namespace align::coordinator
