#include "coordinator/core/job_manager.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/job_chain.h"
#include "common/job_spec.h"
#include "common/status_macros.h"
#include "coordinator/core/job_id.h"

namespace align::coordinator {

absl::StatusOr<JobRecord> JobManager::Submit(const std::string& spec_yaml, const std::string& base_dir,
                                             const Requester& requester, const std::string& submit_key) {
  ASSIGN_OR_RETURN(std::vector<JobRecord> jobs, SubmitJobs({spec_yaml}, base_dir, requester, submit_key));
  return std::move(jobs.front());
}

absl::StatusOr<std::vector<JobRecord>> JobManager::SubmitJobs(const std::vector<std::string>& spec_yamls,
                                                              const std::string& base_dir,
                                                              const Requester& requester,
                                                              const std::string& submit_key) {
  if (submit_key.size() > 128) return absl::InvalidArgumentError("submit_key: at most 128 characters");
  const bool several = spec_yamls.size() > 1;
  // Errors name the document when there are several.
  const auto in_document = [&](size_t index, const std::string& name, const absl::Status& status) {
    if (!several) return status;
    return absl::Status(status.code(), absl::StrCat(ChainDocumentLabel(index, name), ": ", status.message()));
  };
  for (size_t i = 0; i < spec_yamls.size(); ++i) {
    RETURN_IF_ERROR(in_document(i, "", CheckSubmittedText(spec_yamls[i], base_dir, options_.spec_check)));
  }
  ASSIGN_OR_RETURN(std::vector<ChainJob> chain, ParseJobChain(spec_yamls, base_dir));
  NewSubmission submission;
  submission.owner = requester.name;
  submission.submit_key = submit_key;
  for (size_t i = 0; i < chain.size(); ++i) {
    const ChainJob& member = chain[i];
    RETURN_IF_ERROR(
        in_document(i, member.spec.name, CheckSubmittedPaths(member.spec, base_dir, options_.spec_check, kinds_)));
    ASSIGN_OR_RETURN(const JobKind* kind, kinds_->Find(member.spec.type));
    NewJob job;
    job.name = member.spec.name;
    job.type = kind->name();
    job.spec_yaml = member.spec_yaml;
    job.base_dir = base_dir;
    job.total_steps = kind->SubmittedTotalSteps(member.spec);
    job.after_new = member.after;
    for (const std::string& after : member.after_jobs) {
      absl::StatusOr<int64_t> id = ParseJobId(after);
      if (!id.ok()) return in_document(i, member.spec.name, absl::InvalidArgumentError(absl::StrCat(
                                                                "after: \"", after, "\" is not a job id")));
      job.after_existing.push_back(*id);
    }
    submission.jobs.push_back(std::move(job));
  }
  ASSIGN_OR_RETURN(std::vector<JobRecord> created, store_->CreateJobs(submission));
  if (options_.on_submitted) {
    for (const JobRecord& job : created) options_.on_submitted(job);
  }
  return created;
}

absl::StatusOr<JobRecord> JobManager::Get(absl::string_view job_id) {
  ASSIGN_OR_RETURN(int64_t id, ParseJobId(job_id));
  return store_->GetJob(id);
}

absl::StatusOr<std::vector<JobRecord>> JobManager::List(const std::vector<JobState>& states, int64_t max_results) {
  if (max_results < 0) return absl::InvalidArgumentError("max_results: must be >= 0");
  JobFilter filter;
  filter.states = states;
  filter.limit = max_results == 0 ? options_.max_list_results : std::min(max_results, options_.max_list_results);
  return store_->ListJobs(filter);
}

absl::StatusOr<JobRecord> JobManager::Cancel(absl::string_view job_id, const std::string& reason,
                                             const Requester& requester) {
  ASSIGN_OR_RETURN(int64_t id, ParseJobId(job_id));
  if (!requester.admin) {
    ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(id));
    if (!job.owner.empty() && job.owner != requester.name) {
      return absl::PermissionDeniedError(absl::StrCat(FormatJobId(id), " was submitted by ", job.owner,
                                                      "; only that token or an admin: token may cancel it"));
    }
  }
  // A running job is marked cancelled at once; its worker group is told to
  // stop (StopOrder) by the scheduler.
  ASSIGN_OR_RETURN(JobRecord cancelled, store_->CancelJob(id, reason));
  if (options_.on_cancelled) options_.on_cancelled(cancelled);
  return cancelled;
}

absl::StatusOr<std::vector<JobEventRecord>> JobManager::Events(absl::string_view job_id, int64_t after_seq) {
  ASSIGN_OR_RETURN(int64_t id, ParseJobId(job_id));
  return store_->ListEvents(id, after_seq);
}

absl::Status JobManager::Watch(absl::string_view job_id, const std::function<bool(const JobRecord&)>& emit,
                               const std::function<bool()>& client_gone) {
  ASSIGN_OR_RETURN(int64_t id, ParseJobId(job_id));
  ChangeFeed& feed = store_->changes();
  int64_t sent_revision = -1;
  while (true) {
    // Read the version before the job: a change landing in between is then
    // seen by the wait below instead of being missed.
    const uint64_t version = feed.version();
    ASSIGN_OR_RETURN(JobRecord job, store_->GetJob(id));
    if (job.revision != sent_revision) {
      if (!emit(job)) return absl::CancelledError("the watcher went away");
      sent_revision = job.revision;
    }
    if (IsFinal(job.state)) return absl::OkStatus();
    if (feed.closed()) return absl::UnavailableError("the coordinator is shutting down");
    if (client_gone()) return absl::CancelledError("the watcher went away");
    feed.WaitForChange(version, options_.watch_poll);
  }
}

}  // namespace align::coordinator
