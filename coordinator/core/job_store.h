#pragma once
// The coordinator's state: jobs, their events and their latest metrics, in
// one SQLite file (coordinator.db in --state DIR). Every change is one
// transaction, validated against the job's state machine (job_state.h), and
// wakes watchers through changes(). A restarted coordinator reopens the file
// and sees every job. Thread-safe: calls are serialized on one connection.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/core/change_feed.h"
#include "coordinator/core/job_queue.h"
#include "coordinator/core/job_record.h"
#include "coordinator/core/sqlite.h"

namespace align::coordinator {

struct JobStoreOptions {
  int busy_timeout_ms = 5000;
  // Unix milliseconds; tests substitute a fake clock.
  std::function<int64_t()> now_ms;
};

struct NewJob {
  std::string name;
  std::string type;
  std::string spec_yaml;
  std::string base_dir;
  int64_t total_steps = 0;
  std::string owner;       // the submitting token's name
  std::string submit_key;  // non-empty: a second CreateJob with this owner and key returns the first job
  // What it waits for (JobRecord::after): jobs of the same submission, by
  // index into NewSubmission::jobs, and existing jobs, by id.
  std::vector<size_t> after_new;
  std::vector<int64_t> after_existing;
};

// The jobs of one submit, stored together or not at all. Their own owner and
// submit_key fields are not read: these are the submission's.
struct NewSubmission {
  std::vector<NewJob> jobs;
  std::string owner;
  // Non-empty: a second CreateJobs with this owner and key returns the jobs
  // the first one created (AlreadyExists when their specs or base_dir differ).
  std::string submit_key;
};

struct JobFilter {
  std::vector<JobState> states;  // empty: all
  int64_t limit = 1000;          // the newest `limit` jobs, returned oldest first
  bool include_spec = false;
};

// When a job ran, without its spec or metrics: what the scrape-time job
// duration metrics read (coordinator_metrics.h).
struct JobTiming {
  int64_t id = 0;
  std::string type;
  JobState state = JobState::kQueued;
  int64_t created_ms = 0;
  std::optional<int64_t> started_ms;
  std::optional<int64_t> finished_ms;
};

class JobStore : public JobQueue {
 public:
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path, JobStoreOptions options = {});

  // A queued job and its "submitted" event: a submission of one.
  absl::StatusOr<JobRecord> CreateJob(const NewJob& job);
  // Queued jobs, in order, with their dependencies, in one transaction.
  // InvalidArgument when a job waits for a job that does not exist,
  // FailedPrecondition when it waits for one that has failed or was cancelled
  // (it could never run).
  absl::StatusOr<std::vector<JobRecord>> CreateJobs(const NewSubmission& submission);
  // NotFound naming the id when there is no such job.
  absl::StatusOr<JobRecord> GetJob(int64_t id);
  absl::StatusOr<std::vector<JobRecord>> ListJobs(const JobFilter& filter);
  // FailedPrecondition when the job has already ended.
  absl::StatusOr<JobRecord> CancelJob(int64_t id, const std::string& reason);
  // Moves the job to `to` if the state machine allows it and records an event;
  // `message` becomes the job's error for failed and cancelled. Queued jobs
  // that wait for a job that fails (is cancelled) fail (are cancelled) with
  // it, transitively, in the same transaction.
  absl::StatusOr<JobRecord> Transition(int64_t id, JobState to, const std::string& message);
  // The latest metrics of a running job (a worker's Progress), or of a
  // succeeded job's final step (steps_done); steps never go backwards (a late
  // message for an older step changes nothing).
  absl::StatusOr<JobRecord> RecordProgress(int64_t id, int64_t step, const std::map<std::string, double>& metrics);
  absl::StatusOr<JobRecord> RecordCheckpoint(int64_t id, int64_t step, const std::string& path);
  // A restarted coordinator found the job running: its attempt is a restart
  // strike when it made no progress (steps_done == run_start_step), and an
  // attempt that did clears the count (JobRecord::restart_strikes).
  absl::StatusOr<JobRecord> CountRestartStrike(int64_t id);
  // A running job whose size is known only once it is planned (a prepare
  // job's chunks): its total and how many are already done.
  absl::StatusOr<JobRecord> RecordPlannedSize(int64_t id, int64_t total_steps, int64_t steps_done);
  absl::Status AppendEvent(int64_t id, const std::string& kind, const std::string& message);
  // Events with seq > after_seq, in order.
  absl::StatusOr<std::vector<JobEventRecord>> ListEvents(int64_t id, int64_t after_seq = 0);
  // Every state, zero included.
  absl::StatusOr<std::map<JobState, int64_t>> CountByState();
  // Every job that has started at least once, oldest first; one query, so a
  // scrape stays cheap with many jobs in the store.
  absl::StatusOr<std::vector<JobTiming>> ListStartedJobTimings();

  // Skips queued jobs that wait for a job that has not succeeded.
  absl::StatusOr<std::optional<JobRecord>> TakeNextQueued(const std::string& group_id) override;
  absl::StatusOr<std::vector<JobRecord>> InterruptGroup(const std::string& group_id,
                                                        const std::string& reason) override;
  absl::StatusOr<std::vector<JobRecord>> RequeueInterrupted() override;

  ChangeFeed& changes() { return changes_; }
  int64_t NowMs() const { return now_ms_(); }

 private:
  JobStore(std::unique_ptr<Database> db, std::function<int64_t()> now_ms)
      : db_(std::move(db)), now_ms_(std::move(now_ms)) {}

  // Helpers run with mu_ held, inside the caller's transaction where there is one.
  absl::StatusOr<JobRecord> LoadJob(int64_t id, bool include_spec);
  absl::Status LoadMetrics(JobRecord& job);
  absl::Status LoadDependencies(JobRecord& job);
  // A retried submit: the jobs the submission with this owner and key
  // created, nullopt when there is none.
  absl::StatusOr<std::optional<std::vector<JobRecord>>> FindSubmitted(const NewSubmission& submission);
  // The queued jobs that wait for `job` learn that it changed: their
  // revision moves (watchers show the dependency's new state); when it failed
  // or was cancelled they end the same way; when it succeeded, those now
  // free to run say so in an event.
  absl::Status UpdateDependentsLocked(const JobRecord& job);
  absl::Status InsertEvent(int64_t id, const std::string& kind, const std::string& message);
  absl::StatusOr<JobRecord> TransitionLocked(int64_t id, JobState to, const std::string& message);
  // Runs `body` in a transaction and, when it commits, wakes watchers.
  template <typename T>
  absl::StatusOr<T> Mutate(const std::function<absl::StatusOr<T>()>& body);

  std::mutex mu_;
  std::unique_ptr<Database> db_;
  std::function<int64_t()> now_ms_;
  ChangeFeed changes_;
};

}  // namespace align::coordinator
