#pragma once
// A kind of job (train, prepare): what differs between kinds, behind one
// interface, so that the Scheduler (scheduler.h) runs groups, sessions,
// leases, retries and progress the same way whatever a job does. A kind
// checks a spec at submit (JobManager), plans a job when a worker group takes
// it, streams that plan to the group's ranks, turns what the ranks report into
// progress, and finishes the job when the group completes it. Kinds are
// registered by type in a JobKindRegistry (job_kind_registry.h).
//
// Two objects per kind. A JobKind, one per type, holds no state and is shared.
// A JobRun, made by JobKind::Plan when a group takes a job, holds that job's
// plan and state for as long as the group holds the job (a train job's
// planner and how far its plans reach; a prepare job's chunk ledger); the
// Scheduler keeps it in the group's entry. One object per running job rather
// than one per kind with a map of jobs' states: that state lives exactly as
// long as a group holds the job, which the Scheduler already tracks, so it
// goes with the group (a lost group drops it) and there is no second book of
// running jobs to keep in step, nor a lock in each kind to guard one.
//
// A JobRun never writes to the store: what it wants written (events, the size
// of its plan, final progress) comes back as values, which the Scheduler
// writes outside its lock and tries again when a write fails for a reason
// that may pass (store_writes.h).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "coordinator/core/job_record.h"
#include "coordinator/core/job_transitions.h"
#include "coordinator/core/worker_messages.h"

namespace align::coordinator {

// A group's sessions by rank; null where a rank has none.
using RankSinks = std::vector<std::shared_ptr<SessionSink>>;

// An entry for a job's history (JobStore::AppendEvent).
struct NewJobEvent {
  std::string kind;
  std::string message;
};

// How far ahead of the reported progress a streamed plan reaches, and in
// what pieces (SchedulerOptions).
struct PlanStreaming {
  int64_t ahead_steps = 32;
  int64_t chunk_steps = 8;
};

// A job a group has just taken, as its kind plans it.
struct JobToPlan {
  std::string job_id;  // canonical: "job-000042"
  JobSpec spec;        // parsed once, when the group took the job; paths relative to base_dir
  std::string base_dir;
  int64_t resume_step = 0;  // its last checkpoint's step
  int world_size = 1;
  std::vector<JobEventRecord> history;  // its events so far, earlier attempts' included
  PlanStreaming streaming;
};

// A job's size once it is planned, when its spec could not tell at submit.
struct PlannedSize {
  int64_t total_steps = 0;
  int64_t steps_done = 0;
};

// What a JobRun asks for after acting under the Scheduler's lock. The
// Scheduler flushes the queued messages and writes the rest afterwards.
struct RunUpdate {
  int64_t messages_queued = 0;  // enqueued on the sinks (metrics: plan messages)
  std::vector<NewJobEvent> events;
  std::optional<PlannedSize> planned_size;
  bool save_progress_now = false;           // not at the next persist interval
  std::optional<int64_t> curriculum_stage;  // the stage in progress, for /metrics
};

// Work a rank reported finished, as the kind counts it.
struct WorkProgress {
  int64_t steps_done = 0;                 // the job's progress now, in its steps
  std::map<std::string, double> metrics;  // its latest totals
  std::vector<NewJobEvent> events;
};

// The group completed the job.
struct JobCompletion {
  int64_t step = 0;
  std::string checkpoint_path;        // empty: none
  const JobRecord* record = nullptr;  // the job as stored; null when it could not be read
};

// A figure a finished job puts on /metrics (an evaluation's), as a gauge
// `name`{job, labels...} (TrainingMetrics::ObserveFigures).
struct ExportedFigure {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// What the kind makes of a completed job: what to store first, then its result.
struct FinishedJob {
  std::optional<int64_t> final_step;  // progress to record
  std::optional<int64_t> final_checkpoint_step;
  std::string final_checkpoint_path;
  std::vector<NewJobEvent> events;
  std::vector<ExportedFigure> figures;  // exported when the job succeeds
  JobResult result;
};

class JobRun {
 public:
  explicit JobRun(std::string job_id) : job_id_(std::move(job_id)) {}
  virtual ~JobRun() = default;
  JobRun(const JobRun&) = delete;
  JobRun& operator=(const JobRun&) = delete;

  const std::string& job_id() const { return job_id_; }

  // ---- under the Scheduler's lock: no store, no file I/O, nothing that blocks ----

  // The job's length in its own steps (train: optimizer steps; prepare: work
  // chunks). Reported steps outside [0, total_steps()] are refused.
  virtual int64_t total_steps() const = 0;
  // Its progress as the group starts (train: the resume step; prepare: the
  // chunks already done).
  virtual int64_t start_step() const = 0;
  // Plans went out for steps < this (0 for a kind that sends its work at once).
  virtual int64_t planned_until() const { return 0; }
  // Whether its steps are training steps, which /metrics shows (the
  // align_train_* series): its completion then brings the final step there.
  virtual bool shows_training_steps() const { return false; }
  // Right after every rank's assignment went into `sinks`: the first of the plan.
  virtual RunUpdate Start(const RankSinks& sinks) = 0;
  // Rank 0 reported steps up to `reported_step` (the highest so far): more of
  // the plan, unless the group was told to stop (`stopping`).
  virtual RunUpdate Progressed(const RankSinks& sinks, int64_t reported_step, bool stopping) = 0;

  // ---- without the lock, from any session's thread: thread-safe ----

  // A rank reports unit `position` of the job's work finished (ChunkDone),
  // with its own counts. InvalidArgument by default: the kind has no such units.
  virtual absl::StatusOr<WorkProgress> ChunkDone(int rank, int64_t position, int64_t pairs, int64_t failed_items);

  // ---- once, after the job left its group, while it is running in the store ----

  virtual FinishedJob Finish(const JobCompletion& completion) = 0;

 private:
  const std::string job_id_;
};

class JobKind {
 public:
  virtual ~JobKind() = default;

  virtual JobType type() const = 0;
  // The spec's `type:` and the store's job type: "train", "prepare".
  virtual std::string name() const = 0;
  // At submit, when the coordinator sees the workers' storage
  // (CheckSubmittedSpec, spec_check.h, has parsed every field): the paths
  // this kind's work reads, `resolved` against the job's base directory, as
  // the coordinator sees them (storage_checks.h). InvalidArgument naming the
  // field. The output directory is checked for every kind.
  virtual absl::Status CheckSubmitted(const JobSpec& resolved) const;
  // The job's length as submitted; 0 when it is known only once planned.
  virtual int64_t SubmittedTotalSteps(const JobSpec& spec) const = 0;
  // A group took the job: its plan for that group. An error fails the job
  // (AfterPlanningError) and names what is wrong.
  virtual absl::StatusOr<std::unique_ptr<JobRun>> Plan(JobToPlan job) const = 0;
};

}  // namespace align::coordinator
