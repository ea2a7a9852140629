#pragma once
// Hands queued jobs to worker groups and runs them, whatever their kind: a
// group whose ranks have all opened sessions takes the oldest queued job
// (JobQueue::TakeNextQueued); the job's spec is parsed once, and the job's
// kind (job_kind.h, found in a JobKindRegistry) plans it into a JobRun, which
// the group holds while it runs the job. Every rank gets a JobAssignment, then
// what the JobRun streams (a train job's PlanChunks and StageBoundaries ahead
// of need; a prepare job's share of the work chunks). What the ranks report
// (progress, metrics, checkpoints, finished work, completion, failure) goes to
// the store and to Prometheus; at completion the JobRun finishes the job (a
// prepare job's report and manifest). Which report moves a job to which state
// is job_transitions.h's. A group whose session drops or whose lease runs out
// is removed and its job interrupted and requeued; a cancelled running job's
// group gets a StopOrder. No gRPC here: sessions are SessionSinks
// (worker_messages.h).
//
// A job's final step: rank 0 reports it (Progress) before it reports the
// completion, on the same stream, and each session's reports are applied in
// the order they arrive, so a job is marked succeeded only after its final
// metrics are in the store and on /metrics. The completion carries the final
// step too (for a step whose report went to a coordinator process that is
// gone), and metrics that arrive after it for that step, from the group that
// completed the job, are still taken.
//
// Store writes go through StoreWrites: one that fails for a reason that may
// pass is logged with its job and tried again on the background tick.
//
// Threads: session handlers call the On* methods concurrently; a background
// thread (Start) hands out jobs and expires leases, and RunOnce does the same
// synchronously for tests. Store calls never happen under the scheduler's lock.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "coordinator/core/job_kind.h"
#include "coordinator/core/job_kind_registry.h"
#include "coordinator/core/job_store.h"
#include "coordinator/core/job_transitions.h"
#include "coordinator/core/store_writes.h"
#include "coordinator/core/training_metrics.h"
#include "coordinator/core/worker_messages.h"
#include "coordinator/core/worker_registry.h"

namespace align::coordinator {

struct SchedulerOptions {
  int64_t plan_ahead_steps = 32;  // plans reach this far past the last reported step
  int64_t chunk_steps = 8;        // steps per PlanChunk
  int max_attempts = 3;           // a retryable failure requeues the job until it has run this often
  absl::Duration tick = absl::Milliseconds(250);  // background thread: leases, queue, retention
  // Progress reaches Prometheus at every step but the store (one fsync'ed
  // transaction per write) at most this often per job, and always before a
  // checkpoint, the end of the job or the loss of its group. Zero: every report.
  absl::Duration progress_persist_interval = absl::Seconds(1);
  // Progress watchdog: a group that reports no new step (a prepare job: no
  // chunk) of its job for too long loses the job, which is requeued, also
  // while its heartbeats keep the lease (a rank hung in a collective keeps
  // rank 0's session alive). Too long is the spec's progress_timeout_s when
  // it has one; else, before the attempt's first report (the models load),
  // first_progress_timeout; after it, the longer of progress_timeout_floor
  // and progress_timeout_steps times the last reported step_s.
  absl::Duration first_progress_timeout = absl::Minutes(30);
  absl::Duration progress_timeout_floor = absl::Minutes(10);
  double progress_timeout_steps = 20;
  // Which kind runs each type of job; null: BuiltInJobKinds().
  const JobKindRegistry* kinds = nullptr;
  // A job that waited for others (`after:`) had only its output checked at
  // submit; its kind checks its inputs (JobKind::CheckSubmitted) when a group
  // takes it, and it fails with what is missing. Off where the coordinator
  // does not see the workers' storage.
  bool check_released_paths = true;
};

// What a group is doing, for tests and logs.
struct GroupStatus {
  std::string group_id;
  int world_size = 0;
  int ranks_attached = 0;
  std::string job_id;  // empty: idle
  int64_t reported_step = 0;
  int64_t planned_until = 0;  // plans sent for steps < this
  bool stopping = false;
};

class Scheduler {
 public:
  Scheduler(JobStore* store, WorkerRegistry* registry, TrainingMetrics* metrics, SchedulerOptions options = {});
  ~Scheduler();

  // Jobs left running (or interrupted) by a previous coordinator process go
  // back to the queue: their groups re-register and take them again.
  absl::Status RecoverAfterRestart();
  void Start();
  void Stop();
  // Stop() and end every session (the coordinator is going away): running
  // jobs go back to the queue, and the groups reconnect to the next coordinator.
  void Shutdown();
  // One round of the background work: expire leases, hand out queued jobs,
  // drop old per-job series.
  void RunOnce();

  // ---- sessions (after WorkerRegistry::Attach succeeded) ----
  void Attach(const std::string& group_id, int rank, int world_size, std::shared_ptr<SessionSink> sink);
  // The session ended: the group is gone. `closed_by_worker`: the worker
  // closed its stream (a group leaving after its last job, e.g. --max-jobs);
  // an idle group that leaves so is not counted as lost.
  void SessionEnded(const std::string& group_id, int rank, const std::string& why, bool closed_by_worker = false);

  // ---- worker reports. NotFound: the group is unknown (end the session);
  // other errors go back to the worker as a Rejection. Reports for the job
  // the group just finished are late, not wrong: no Rejection. They are
  // dropped, except the final step's metrics of a job the group completed. ----
  absl::Status OnHeartbeat(const std::string& group_id, int rank, const std::string& job_id, int64_t step,
                           int64_t device_memory_bytes);
  absl::Status OnProgress(const std::string& group_id, int rank, const std::string& job_id, int64_t step,
                          const std::map<std::string, double>& metrics);
  absl::Status OnMetricBatch(const std::string& group_id, int rank, const std::string& job_id,
                             const std::vector<StepMetricsIn>& steps);
  absl::Status OnCheckpoint(const std::string& group_id, const std::string& job_id, int64_t step,
                            const std::string& path);
  absl::Status OnCompleted(const std::string& group_id, const std::string& job_id, int64_t step,
                           const std::string& checkpoint_path);
  absl::Status OnFailure(const std::string& group_id, const std::string& job_id, const std::string& message,
                         int64_t step, bool retryable);
  absl::Status OnStopped(const std::string& group_id, const std::string& job_id, int64_t step);
  // A unit of the job's work is finished (any rank): a prepare job's chunk,
  // which its kind counts as progress (its failed items become an event).
  // InvalidArgument for a job whose kind has no such units.
  absl::Status OnChunkDone(const std::string& group_id, int rank, const std::string& job_id, int64_t position,
                           int64_t pairs, int64_t failed_items);

  // ---- from JobService ----
  void JobSubmitted() { Kick(); }
  void JobCancelled(const JobRecord& job);

  std::vector<GroupStatus> Groups() const;

 private:
  struct ActiveJob {
    int64_t id = 0;
    std::string job_id;
    // Shared: a report's file reads (JobRun::ChunkDone) run outside the lock,
    // and may outlast the group's hold on the job.
    std::shared_ptr<JobRun> run;
    int64_t reported_step = 0;  // in the kind's steps
    bool stopping = false;
    // The progress watchdog: when reported_step last moved (or the job was
    // assigned), whether it moved in this attempt, the last step's step_s.
    int64_t progressed_ms = 0;
    bool progressed = false;
    double step_seconds = 0;
    std::optional<absl::Duration> progress_timeout;  // the spec's
    // Reported but not yet in the store.
    std::map<std::string, double> pending;
    int64_t pending_step = -1;
    int64_t persisted_ms = 0;
  };
  struct PendingProgress {
    int64_t id = 0;
    int64_t step = -1;
    std::map<std::string, double> metrics;
  };
  struct Group {
    std::string id;
    int world_size = 0;
    RankSinks sinks;  // by rank; null until attached
    int attached = 0;
    std::optional<ActiveJob> job;
    bool assigning = false;
    std::string last_job_id;  // reports for it are late, not wrong
    // The step at which this group completed last_job_id; -1 when that job
    // ended otherwise (failed, stopped): it may run elsewhere by now.
    int64_t last_job_completed_step = -1;
  };
  using Sinks = std::vector<std::shared_ptr<SessionSink>>;  // the attached ones (SinksOf)

  void Kick();
  void Loop();
  void ExpireLeases();
  void AssignIdleGroups();
  // The job a group has just taken, planned by its kind: the spec is parsed
  // here, once. Errors say why it cannot run (the job then fails).
  struct PlannedJob {
    std::unique_ptr<JobRun> run;
    std::optional<absl::Duration> progress_timeout;  // the spec's progress_timeout_s
  };
  absl::StatusOr<PlannedJob> PlanJob(const JobRecord& job, int world_size);
  // The groups whose job made no progress within its deadline, and why.
  std::vector<std::pair<std::string, std::string>> StalledGroups();
  absl::Duration ProgressDeadlineLocked(const ActiveJob& job) const;
  // A report moved the job's progress from `before`.
  void NoteProgressLocked(ActiveJob& job, int64_t before, const std::map<std::string, double>& values);
  // Ends `group_id`: its sessions close, its running job is requeued. A group
  // that `left` on purpose with no job is logged as such and not counted lost.
  void LoseGroup(const std::string& group_id, const std::string& why, bool left = false,
                 bool stalled = false);
  // The running jobs of a group that is gone go back to the queue
  // (AfterGroupLoss).
  // `stalled`: the progress watchdog took them (AfterStall: a job out of
  // attempts fails instead).
  void RequeueJobsOf(const std::string& group_id, const std::string& why, bool stalled = false);
  void RequeueInterrupted();
  // The group that holds `job_id`, under mu_. NotFound for an unknown group,
  // FailedPrecondition when it holds another job; *late is set for the job it
  // just finished.
  absl::StatusOr<Group*> HolderLocked(const std::string& group_id, const std::string& job_id, bool* late);
  static Sinks SinksOf(const Group& group);
  static void FlushAll(const Sinks& sinks);
  // Moves a job that ended on a group (completed at `completed_step`, or
  // failed or stopped: -1) out of it.
  std::optional<ActiveJob> EndJobLocked(Group& group, int64_t completed_step);
  // What OnCompleted, OnFailure and OnStopped start with: the group's job
  // taken off it and its unsaved progress stored. nullopt for a late report
  // (the job the group just finished); errors as HolderLocked.
  absl::StatusOr<std::optional<ActiveJob>> EndHeldJob(const std::string& group_id, const std::string& job_id,
                                                      int64_t completed_step = -1);
  // The job as stored now; nullopt (logged) when it cannot be read.
  std::optional<JobRecord> ReadJob(int64_t id, const std::string& job_id);
  // Of a report about the job `group` has just finished, what is still taken:
  // the entries for the step at which the group completed it (none when the
  // job ended otherwise).
  static std::vector<StepMetricsIn> LateFinalStepLocked(const Group& group, const std::vector<StepMetricsIn>& steps);
  // Stores and exposes those entries for `job_id` (canonical), which has ended.
  void ApplyLateFinalStep(const std::string& job_id, const std::vector<StepMetricsIn>& entries);
  // Writes what a JobRun asked for under the lock (events, its planned size)
  // and tells Prometheus (plan messages, curriculum stage).
  void ApplyRunUpdate(int64_t id, const std::string& job_id, const RunUpdate& update);
  void AppendEvents(int64_t id, const std::string& job_id, const std::vector<NewJobEvent>& events);
  // Moves an ended job as `transition` says, and requeues it when it says so.
  // False when the move waits for the store (or was refused; logged).
  bool ApplyTransition(int64_t id, const std::string& job_id, const JobTransition& transition);
  // Takes the job's unsaved progress (when due, or always with force).
  static std::optional<PendingProgress> TakePendingLocked(ActiveJob& job, int64_t now_ms, int64_t interval_ms,
                                                          bool force);
  void Persist(const std::optional<PendingProgress>& pending);
  void PersistDueProgress();

  JobStore* store_;
  WorkerRegistry* registry_;
  TrainingMetrics* metrics_;  // may be null
  SchedulerOptions options_;
  const JobKindRegistry* kinds_;
  StoreWrites writes_;

  mutable std::mutex mu_;
  std::map<std::string, Group> groups_;
  std::condition_variable cv_;
  bool kicked_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace align::coordinator
