#include "coordinator/core/job_store.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "coordinator/core/job_id.h"
#include "coordinator/core/job_transitions.h"
#include "coordinator/core/store_schema.h"

namespace align::coordinator {

namespace {

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Column order read by ReadJobRow; `spec` is either spec_yaml or '' (listings).
std::string JobColumns(bool include_spec) {
  return absl::StrCat("id, name, type, ", include_spec ? "spec_yaml" : "''",
                      ", base_dir, state, steps_done, total_steps, created_ms, updated_ms, started_ms, "
                      "finished_ms, run_started_ms, run_start_step, group_id, last_checkpoint_step, "
                      "last_checkpoint_path, error, revision, attempts, metrics_step, owner, restart_strikes, last_checkpoint_attempt");
}

JobRecord ReadJobRow(const Statement& row) {
  JobRecord job;
  int c = 0;
  job.id = row.ColumnInt(c++);
  job.name = row.ColumnText(c++);
  job.type = row.ColumnText(c++);
  job.spec_yaml = row.ColumnText(c++);
  job.base_dir = row.ColumnText(c++);
  // The CHECK constraint on the column keeps this parse total.
  job.state = ParseJobState(row.ColumnText(c++)).value_or(JobState::kFailed);
  job.steps_done = row.ColumnInt(c++);
  job.total_steps = row.ColumnInt(c++);
  job.created_ms = row.ColumnInt(c++);
  job.updated_ms = row.ColumnInt(c++);
  job.started_ms = row.ColumnOptionalInt(c++);
  job.finished_ms = row.ColumnOptionalInt(c++);
  job.run_started_ms = row.ColumnOptionalInt(c++);
  job.run_start_step = row.ColumnInt(c++);
  job.group_id = row.ColumnText(c++);
  job.last_checkpoint_step = row.ColumnOptionalInt(c++);
  job.last_checkpoint_path = row.ColumnText(c++);
  job.error = row.ColumnText(c++);
  job.revision = row.ColumnInt(c++);
  job.attempts = static_cast<int>(row.ColumnInt(c++));
  job.metrics_step = row.ColumnInt(c++);
  job.owner = row.ColumnText(c++);
  job.restart_strikes = static_cast<int>(row.ColumnInt(c++));
  if (std::optional<int64_t> attempt = row.ColumnOptionalInt(c++)) job.last_checkpoint_attempt = static_cast<int>(*attempt);
  return job;
}

std::string EventKindFor(JobState from, JobState to) {
  switch (to) {
    case JobState::kQueued: return from == JobState::kInterrupted ? "requeued" : "queued";
    case JobState::kRunning: return "started";
    default: return JobStateName(to);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path, JobStoreOptions options) {
  ASSIGN_OR_RETURN(std::unique_ptr<Database> db, Database::Open(path, options.busy_timeout_ms));
  RETURN_IF_ERROR(ApplySchema(*db));
  std::function<int64_t()> now = options.now_ms ? std::move(options.now_ms) : SystemNowMs;
  return std::unique_ptr<JobStore>(new JobStore(std::move(db), std::move(now)));
}

template <typename T>
absl::StatusOr<T> JobStore::Mutate(const std::function<absl::StatusOr<T>()>& body) {
  absl::StatusOr<T> result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(Transaction txn, Transaction::Begin(*db_));
    result = body();
    if (!result.ok()) return result.status();  // txn rolls back
    RETURN_IF_ERROR(txn.Commit());
  }
  changes_.Notify();
  return result;
}

absl::StatusOr<JobRecord> JobStore::LoadJob(int64_t id, bool include_spec) {
  ASSIGN_OR_RETURN(Statement select,
                   db_->Prepare(absl::StrCat("SELECT ", JobColumns(include_spec), " FROM jobs WHERE id = ?")));
  select.Bind(1, id);
  ASSIGN_OR_RETURN(bool found, select.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("no job ", FormatJobId(id)));
  JobRecord job = ReadJobRow(select);
  RETURN_IF_ERROR(LoadMetrics(job));
  RETURN_IF_ERROR(LoadDependencies(job));
  return job;
}

absl::Status JobStore::LoadMetrics(JobRecord& job) {
  ASSIGN_OR_RETURN(Statement select, db_->Prepare("SELECT name, value FROM job_metrics WHERE job_id = ?"));
  select.Bind(1, job.id);
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) return absl::OkStatus();
    job.metrics[select.ColumnText(0)] = select.ColumnDouble(1);
  }
}

absl::Status JobStore::InsertEvent(int64_t id, const std::string& kind, const std::string& message) {
  ASSIGN_OR_RETURN(Statement insert,
                   db_->Prepare("INSERT INTO events (job_id, ts_ms, kind, message) VALUES (?, ?, ?, ?)"));
  return insert.Bind(1, id).Bind(2, now_ms_()).Bind(3, kind).Bind(4, message).Run();
}

absl::Status JobStore::LoadDependencies(JobRecord& job) {
  ASSIGN_OR_RETURN(Statement select, db_->Prepare("SELECT j.id, j.name, j.state FROM job_dependencies d "
                                                  "JOIN jobs j ON j.id = d.after_id WHERE d.job_id = ? "
                                                  "ORDER BY j.id"));
  select.Bind(1, job.id);
  job.after.clear();
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) return absl::OkStatus();
    // The CHECK constraint on the column keeps this parse total.
    job.after.push_back({select.ColumnInt(0), select.ColumnText(1),
                         ParseJobState(select.ColumnText(2)).value_or(JobState::kFailed)});
  }
}

absl::StatusOr<JobRecord> JobStore::CreateJob(const NewJob& job) {
  NewSubmission submission;
  submission.jobs = {job};
  submission.owner = job.owner;
  submission.submit_key = job.submit_key;
  ASSIGN_OR_RETURN(std::vector<JobRecord> created, CreateJobs(submission));
  return std::move(created.front());
}

absl::StatusOr<std::optional<std::vector<JobRecord>>> JobStore::FindSubmitted(const NewSubmission& submission) {
  std::vector<int64_t> ids;
  {
    ASSIGN_OR_RETURN(Statement select,
                     db_->Prepare("SELECT id, submission_id FROM jobs WHERE owner = ? AND submit_key = ?"));
    select.Bind(1, submission.owner).Bind(2, submission.submit_key);
    ASSIGN_OR_RETURN(bool found, select.Step());
    if (!found) return std::optional<std::vector<JobRecord>>();
    const std::optional<int64_t> first = select.ColumnOptionalInt(1);
    if (!first) ids.push_back(select.ColumnInt(0));  // stored before chains: a submission of one
    if (first) {
      ASSIGN_OR_RETURN(Statement members, db_->Prepare("SELECT id FROM jobs WHERE submission_id = ? ORDER BY id"));
      members.Bind(1, *first);
      while (true) {
        ASSIGN_OR_RETURN(bool row, members.Step());
        if (!row) break;
        ids.push_back(members.ColumnInt(0));
      }
    }
  }
  std::vector<JobRecord> jobs;
  bool same = ids.size() == submission.jobs.size();
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSIGN_OR_RETURN(JobRecord job, LoadJob(ids[i], /*include_spec=*/true));
    same = same && job.spec_yaml == submission.jobs[i].spec_yaml && job.base_dir == submission.jobs[i].base_dir;
    jobs.push_back(std::move(job));
  }
  if (!same) {
    std::vector<std::string> names;
    for (int64_t id : ids) names.push_back(FormatJobId(id));
    return absl::AlreadyExistsError(absl::StrCat("submit key \"", submission.submit_key, "\" was used for ",
                                                 absl::StrJoin(names, ", "),
                                                 " with another spec or base directory"));
  }
  return std::optional<std::vector<JobRecord>>(std::move(jobs));
}

absl::StatusOr<std::vector<JobRecord>> JobStore::CreateJobs(const NewSubmission& submission) {
  if (submission.jobs.empty()) return absl::InvalidArgumentError("a submission holds at least one job");
  for (const NewJob& job : submission.jobs) {
    for (size_t index : job.after_new) {
      if (index >= submission.jobs.size()) {
        return absl::InvalidArgumentError(absl::StrCat("job \"", job.name, "\": waits for job ", index,
                                                       " of a submission of ", submission.jobs.size()));
      }
    }
  }
  return Mutate<std::vector<JobRecord>>([&]() -> absl::StatusOr<std::vector<JobRecord>> {
    if (!submission.submit_key.empty()) {
      // A retried submit (its reply was lost) finds the jobs the first one made.
      ASSIGN_OR_RETURN(std::optional<std::vector<JobRecord>> earlier, FindSubmitted(submission));
      if (earlier) return *std::move(earlier);
    }
    for (const NewJob& job : submission.jobs) {
      for (int64_t after : job.after_existing) {
        absl::StatusOr<JobRecord> dependency = LoadJob(after, /*include_spec=*/false);
        if (absl::IsNotFound(dependency.status())) {
          return absl::InvalidArgumentError(
              absl::StrCat("job \"", job.name, "\": after: there is no job ", FormatJobId(after)));
        }
        RETURN_IF_ERROR(dependency.status());
        if (dependency->state == JobState::kFailed || dependency->state == JobState::kCancelled) {
          return absl::FailedPreconditionError(
              absl::StrCat("job \"", job.name, "\": after: ", FormatJobId(after),
                           dependency->state == JobState::kCancelled ? " was cancelled" : " has failed",
                           ", so the job could never run"));
        }
      }
    }
    const int64_t now = now_ms_();
    std::vector<int64_t> ids;
    for (size_t i = 0; i < submission.jobs.size(); ++i) {
      const NewJob& job = submission.jobs[i];
      ASSIGN_OR_RETURN(Statement insert,
                       db_->Prepare("INSERT INTO jobs (name, type, spec_yaml, base_dir, state, total_steps, "
                                    "created_ms, updated_ms, owner, submit_key) "
                                    "VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)"));
      insert.Bind(1, job.name)
          .Bind(2, job.type)
          .Bind(3, job.spec_yaml)
          .Bind(4, job.base_dir)
          .Bind(5, job.total_steps)
          .Bind(6, now)
          .Bind(7, now)
          .Bind(8, submission.owner);
      // The key marks the submission's first job; the others are found through it.
      if (submission.submit_key.empty() || i > 0) {
        insert.BindNull(9);
      } else {
        insert.Bind(9, submission.submit_key);
      }
      RETURN_IF_ERROR(insert.Run());
      ids.push_back(db_->LastInsertRowId());
    }
    for (int64_t id : ids) {
      ASSIGN_OR_RETURN(Statement update, db_->Prepare("UPDATE jobs SET submission_id = ? WHERE id = ?"));
      RETURN_IF_ERROR(update.Bind(1, ids.front()).Bind(2, id).Run());
    }
    for (size_t i = 0; i < submission.jobs.size(); ++i) {
      const NewJob& job = submission.jobs[i];
      std::vector<int64_t> after = job.after_existing;
      for (size_t index : job.after_new) after.push_back(ids[index]);
      std::sort(after.begin(), after.end());
      after.erase(std::unique(after.begin(), after.end()), after.end());
      std::vector<std::string> after_names;
      for (int64_t dependency : after) {
        ASSIGN_OR_RETURN(Statement insert,
                         db_->Prepare("INSERT INTO job_dependencies (job_id, after_id) VALUES (?, ?)"));
        RETURN_IF_ERROR(insert.Bind(1, ids[i]).Bind(2, dependency).Run());
        after_names.push_back(FormatJobId(dependency));
      }
      RETURN_IF_ERROR(InsertEvent(
          ids[i], "submitted",
          absl::StrCat("submitted ", job.type, " job \"", job.name, "\"",
                       job.type == "prepare" ? "" : absl::StrCat(" (", job.total_steps, " steps)"),
                       after_names.empty() ? "" : absl::StrCat("; runs after ", absl::StrJoin(after_names, ", ")))));
    }
    std::vector<JobRecord> created;
    for (int64_t id : ids) {
      ASSIGN_OR_RETURN(JobRecord job, LoadJob(id, /*include_spec=*/true));
      created.push_back(std::move(job));
    }
    return created;
  });
}

absl::StatusOr<JobRecord> JobStore::GetJob(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  return LoadJob(id, /*include_spec=*/true);
}

absl::StatusOr<std::vector<JobRecord>> JobStore::ListJobs(const JobFilter& filter) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> placeholders(filter.states.size(), "?");
  std::string sql = absl::StrCat("SELECT ", JobColumns(filter.include_spec), " FROM jobs");
  if (!filter.states.empty()) absl::StrAppend(&sql, " WHERE state IN (", absl::StrJoin(placeholders, ", "), ")");
  absl::StrAppend(&sql, " ORDER BY id DESC LIMIT ?");
  std::vector<JobRecord> jobs;
  {
    ASSIGN_OR_RETURN(Statement select, db_->Prepare(sql));
    int index = 1;
    for (JobState state : filter.states) select.Bind(index++, JobStateName(state));
    select.Bind(index, filter.limit > 0 ? filter.limit : int64_t{-1});
    while (true) {
      ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      jobs.push_back(ReadJobRow(select));
    }
  }
  std::reverse(jobs.begin(), jobs.end());
  for (JobRecord& job : jobs) {
    RETURN_IF_ERROR(LoadMetrics(job));
    RETURN_IF_ERROR(LoadDependencies(job));
  }
  return jobs;
}

absl::StatusOr<JobRecord> JobStore::TransitionLocked(int64_t id, JobState to, const std::string& message) {
  ASSIGN_OR_RETURN(JobRecord job, LoadJob(id, /*include_spec=*/false));
  RETURN_IF_ERROR(CheckTransition(FormatJobId(id), job.state, to));
  const int64_t now = now_ms_();
  const bool final_state = IsFinal(to);
  const bool sets_error = to == JobState::kFailed || to == JobState::kCancelled;
  {
    // Scoped: the statement is cached, and moving the jobs that wait for this
    // one (UpdateDependentsLocked) runs it again.
    ASSIGN_OR_RETURN(Statement update,
                     db_->Prepare("UPDATE jobs SET state = ?, updated_ms = ?, revision = revision + 1, "
                                  "finished_ms = CASE WHEN ? THEN ? ELSE finished_ms END, "
                                  "error = CASE WHEN ? THEN ? ELSE error END WHERE id = ?"));
    RETURN_IF_ERROR(update.Bind(1, JobStateName(to))
                        .Bind(2, now)
                        .Bind(3, int64_t{final_state})
                        .Bind(4, now)
                        .Bind(5, int64_t{sets_error})
                        .Bind(6, message)
                        .Bind(7, id)
                        .Run());
  }
  RETURN_IF_ERROR(InsertEvent(id, EventKindFor(job.state, to), message));
  ASSIGN_OR_RETURN(JobRecord moved, LoadJob(id, /*include_spec=*/true));
  RETURN_IF_ERROR(UpdateDependentsLocked(moved));
  return moved;
}

absl::Status JobStore::UpdateDependentsLocked(const JobRecord& job) {
  std::vector<int64_t> dependents;
  {
    // Only queued ones: a job runs once all it waits for have succeeded, and
    // a succeeded job does not change again.
    ASSIGN_OR_RETURN(Statement select, db_->Prepare("SELECT d.job_id FROM job_dependencies d "
                                                    "JOIN jobs j ON j.id = d.job_id "
                                                    "WHERE d.after_id = ? AND j.state = 'queued' ORDER BY d.job_id"));
    select.Bind(1, job.id);
    while (true) {
      ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) break;
      dependents.push_back(select.ColumnInt(0));
    }
  }
  if (dependents.empty()) return absl::OkStatus();
  const bool ended_badly = job.state == JobState::kFailed || job.state == JobState::kCancelled;
  // Bounded: each job of a long chain quotes the one before it.
  constexpr size_t kMaxQuoted = 300;
  const std::string cause = job.error.size() > kMaxQuoted ? job.error.substr(0, kMaxQuoted) + "..." : job.error;
  const std::string message =
      absl::StrCat("dependency ", FormatJobId(job.id), " (", job.name, ") ",
                   job.state == JobState::kCancelled ? "was cancelled" : "failed", cause.empty() ? "" : ": ", cause);
  for (int64_t dependent : dependents) {
    if (ended_badly) {
      RETURN_IF_ERROR(TransitionLocked(dependent, job.state, message).status());
      continue;
    }
    ASSIGN_OR_RETURN(Statement touch, db_->Prepare("UPDATE jobs SET revision = revision + 1 WHERE id = ?"));
    RETURN_IF_ERROR(touch.Bind(1, dependent).Run());
    if (job.state != JobState::kSucceeded) continue;
    ASSIGN_OR_RETURN(Statement pending, db_->Prepare("SELECT COUNT(*) FROM job_dependencies d "
                                                     "JOIN jobs j ON j.id = d.after_id "
                                                     "WHERE d.job_id = ? AND j.state != 'succeeded'"));
    pending.Bind(1, dependent);
    ASSIGN_OR_RETURN(bool row, pending.Step());
    if (row && pending.ColumnInt(0) == 0) {
      RETURN_IF_ERROR(InsertEvent(dependent, "ready",
                                  absl::StrCat("every job it waits for has succeeded (the last: ",
                                               FormatJobId(job.id), "); it runs when a worker group is free")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<JobRecord> JobStore::Transition(int64_t id, JobState to, const std::string& message) {
  if (to == JobState::kRunning || (to == JobState::kQueued)) {
    // Running needs a group (TakeNextQueued); requeueing resets progress to
    // the checkpoint (RequeueInterrupted).
    return absl::InvalidArgumentError(
        absl::StrCat("use TakeNextQueued / RequeueInterrupted to make a job ", JobStateName(to)));
  }
  return Mutate<JobRecord>([&] { return TransitionLocked(id, to, message); });
}

absl::StatusOr<JobRecord> JobStore::CancelJob(int64_t id, const std::string& reason) {
  return Transition(id, JobState::kCancelled, reason.empty() ? "cancelled by a user" : reason);
}

absl::StatusOr<JobRecord> JobStore::RecordProgress(int64_t id, int64_t step,
                                                   const std::map<std::string, double>& metrics) {
  return Mutate<JobRecord>([&]() -> absl::StatusOr<JobRecord> {
    ASSIGN_OR_RETURN(JobRecord job, LoadJob(id, /*include_spec=*/false));
    // A succeeded job still takes its final step's metrics: they may arrive
    // after the completion that ended it.
    const bool final_step_of_succeeded = job.state == JobState::kSucceeded && step == job.steps_done;
    if (job.state != JobState::kRunning && !final_step_of_succeeded) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", FormatJobId(id), " is ", JobStateName(job.state), ", not running"));
    }
    if (step < job.metrics_step) return LoadJob(id, /*include_spec=*/true);
    ASSIGN_OR_RETURN(Statement update,
                     db_->Prepare("UPDATE jobs SET steps_done = MAX(steps_done, ?), metrics_step = ?, "
                                  "updated_ms = ?, revision = revision + 1 WHERE id = ?"));
    RETURN_IF_ERROR(update.Bind(1, step).Bind(2, step).Bind(3, now_ms_()).Bind(4, id).Run());
    for (const auto& [name, value] : metrics) {
      ASSIGN_OR_RETURN(Statement upsert,
                       db_->Prepare("INSERT INTO job_metrics (job_id, name, value, step) VALUES (?, ?, ?, ?) "
                                    "ON CONFLICT (job_id, name) DO UPDATE SET value = excluded.value, "
                                    "step = excluded.step"));
      // Infinities are stored as NULL too: SQLite keeps them, but JSON and
      // Prometheus consumers downstream read them as errors.
      RETURN_IF_ERROR(
          upsert.Bind(1, id).Bind(2, name).Bind(3, std::isfinite(value) ? value : NAN).Bind(4, step).Run());
    }
    return LoadJob(id, /*include_spec=*/true);
  });
}

absl::StatusOr<JobRecord> JobStore::RecordCheckpoint(int64_t id, int64_t step, const std::string& path) {
  return Mutate<JobRecord>([&]() -> absl::StatusOr<JobRecord> {
    ASSIGN_OR_RETURN(JobRecord job, LoadJob(id, /*include_spec=*/false));
    if (job.state != JobState::kRunning) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", FormatJobId(id), " is ", JobStateName(job.state), ", not running"));
    }
    ASSIGN_OR_RETURN(Statement update,
                     db_->Prepare("UPDATE jobs SET last_checkpoint_step = MAX(COALESCE(last_checkpoint_step, 0), ?), "
                                  "last_checkpoint_path = CASE WHEN ? >= COALESCE(last_checkpoint_step, 0) "
                                  "THEN ? ELSE last_checkpoint_path END, "
                                  "last_checkpoint_attempt = CASE WHEN ? >= COALESCE(last_checkpoint_step, 0) "
                                  "THEN attempts ELSE last_checkpoint_attempt END, "
                                  "updated_ms = ?, revision = revision + 1 WHERE id = ?"));
    RETURN_IF_ERROR(
        update.Bind(1, step).Bind(2, step).Bind(3, path).Bind(4, step).Bind(5, now_ms_()).Bind(6, id).Run());
    RETURN_IF_ERROR(InsertEvent(id, "checkpoint", absl::StrCat("checkpoint at step ", step, ": ", path)));
    return LoadJob(id, /*include_spec=*/true);
  });
}

absl::StatusOr<JobRecord> JobStore::CountRestartStrike(int64_t id) {
  return Mutate<JobRecord>([&]() -> absl::StatusOr<JobRecord> {
    ASSIGN_OR_RETURN(JobRecord job, LoadJob(id, /*include_spec=*/false));
    if (job.state != JobState::kRunning) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", FormatJobId(id), " is ", JobStateName(job.state), ", not running"));
    }
    const bool progressed = job.steps_done > job.run_start_step;
    ASSIGN_OR_RETURN(Statement update, db_->Prepare("UPDATE jobs SET restart_strikes = ?, updated_ms = ?, "
                                                    "revision = revision + 1 WHERE id = ?"));
    const int64_t strikes = progressed ? 0 : job.restart_strikes + 1;
    RETURN_IF_ERROR(update.Bind(1, strikes).Bind(2, now_ms_()).Bind(3, id).Run());
    return LoadJob(id, /*include_spec=*/true);
  });
}

absl::StatusOr<JobRecord> JobStore::RecordPlannedSize(int64_t id, int64_t total_steps, int64_t steps_done) {
  return Mutate<JobRecord>([&]() -> absl::StatusOr<JobRecord> {
    ASSIGN_OR_RETURN(JobRecord job, LoadJob(id, /*include_spec=*/false));
    if (job.state != JobState::kRunning) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", FormatJobId(id), " is ", JobStateName(job.state), ", not running"));
    }
    ASSIGN_OR_RETURN(Statement update, db_->Prepare("UPDATE jobs SET total_steps = ?, steps_done = ?, "
                                                    "updated_ms = ?, revision = revision + 1 WHERE id = ?"));
    RETURN_IF_ERROR(update.Bind(1, total_steps).Bind(2, steps_done).Bind(3, now_ms_()).Bind(4, id).Run());
    return LoadJob(id, /*include_spec=*/true);
  });
}

absl::Status JobStore::AppendEvent(int64_t id, const std::string& kind, const std::string& message) {
  return Mutate<bool>([&]() -> absl::StatusOr<bool> {
           RETURN_IF_ERROR(LoadJob(id, /*include_spec=*/false).status());
           RETURN_IF_ERROR(InsertEvent(id, kind, message));
           return true;
         })
      .status();
}

absl::StatusOr<std::vector<JobEventRecord>> JobStore::ListEvents(int64_t id, int64_t after_seq) {
  std::lock_guard<std::mutex> lock(mu_);
  RETURN_IF_ERROR(LoadJob(id, /*include_spec=*/false).status());
  ASSIGN_OR_RETURN(Statement select, db_->Prepare("SELECT seq, job_id, ts_ms, kind, message FROM events "
                                                  "WHERE job_id = ? AND seq > ? ORDER BY seq"));
  select.Bind(1, id).Bind(2, after_seq);
  std::vector<JobEventRecord> events;
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) return events;
    events.push_back({select.ColumnInt(0), select.ColumnInt(1), select.ColumnInt(2), select.ColumnText(3),
                      select.ColumnText(4)});
  }
}

absl::StatusOr<std::map<JobState, int64_t>> JobStore::CountByState() {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<JobState, int64_t> counts;
  for (JobState state : kAllJobStates) counts[state] = 0;
  ASSIGN_OR_RETURN(Statement select, db_->Prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state"));
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) return counts;
    if (std::optional<JobState> state = ParseJobState(select.ColumnText(0))) counts[*state] = select.ColumnInt(1);
  }
}

absl::StatusOr<std::optional<JobRecord>> JobStore::TakeNextQueued(const std::string& group_id) {
  if (group_id.empty()) return absl::InvalidArgumentError("TakeNextQueued: empty group id");
  return Mutate<std::optional<JobRecord>>([&]() -> absl::StatusOr<std::optional<JobRecord>> {
    int64_t id = 0;
    {
      ASSIGN_OR_RETURN(Statement select,
                       db_->Prepare("SELECT id FROM jobs WHERE state = 'queued' AND NOT EXISTS ("
                                    "SELECT 1 FROM job_dependencies d JOIN jobs a ON a.id = d.after_id "
                                    "WHERE d.job_id = jobs.id AND a.state != 'succeeded') ORDER BY id LIMIT 1"));
      ASSIGN_OR_RETURN(bool row, select.Step());
      if (!row) return std::optional<JobRecord>();
      id = select.ColumnInt(0);
    }
    const int64_t now = now_ms_();
    ASSIGN_OR_RETURN(Statement update,
                     db_->Prepare("UPDATE jobs SET state = 'running', group_id = ?, attempts = attempts + 1, "
                                  "started_ms = COALESCE(started_ms, ?), run_started_ms = ?, "
                                  "run_start_step = steps_done, updated_ms = ?, revision = revision + 1 "
                                  "WHERE id = ?"));
    RETURN_IF_ERROR(update.Bind(1, group_id).Bind(2, now).Bind(3, now).Bind(4, now).Bind(5, id).Run());
    ASSIGN_OR_RETURN(JobRecord job, LoadJob(id, /*include_spec=*/true));
    RETURN_IF_ERROR(InsertEvent(
        id, "started",
        absl::StrCat("started on worker group ", group_id, " (attempt ", job.attempts, ")",
                     job.last_checkpoint_step ? absl::StrCat(", resuming from step ", *job.last_checkpoint_step)
                                              : "")));
    RETURN_IF_ERROR(UpdateDependentsLocked(job));
    return std::optional<JobRecord>(std::move(job));
  });
}

absl::StatusOr<std::vector<JobRecord>> JobStore::InterruptGroup(const std::string& group_id,
                                                                const std::string& reason) {
  return Mutate<std::vector<JobRecord>>([&]() -> absl::StatusOr<std::vector<JobRecord>> {
    std::vector<int64_t> ids;
    {
      ASSIGN_OR_RETURN(Statement select,
                       db_->Prepare("SELECT id FROM jobs WHERE state = 'running' AND group_id = ? ORDER BY id"));
      select.Bind(1, group_id);
      while (true) {
        ASSIGN_OR_RETURN(bool row, select.Step());
        if (!row) break;
        ids.push_back(select.ColumnInt(0));
      }
    }
    std::vector<JobRecord> jobs;
    const JobTransition loss = AfterGroupLoss(group_id, reason);
    for (int64_t id : ids) {
      ASSIGN_OR_RETURN(JobRecord job, TransitionLocked(id, loss.to, loss.message));
      jobs.push_back(std::move(job));
    }
    return jobs;
  });
}

absl::StatusOr<std::vector<JobRecord>> JobStore::RequeueInterrupted() {
  return Mutate<std::vector<JobRecord>>([&]() -> absl::StatusOr<std::vector<JobRecord>> {
    std::vector<int64_t> ids;
    {
      ASSIGN_OR_RETURN(Statement select, db_->Prepare("SELECT id FROM jobs WHERE state = 'interrupted' ORDER BY id"));
      while (true) {
        ASSIGN_OR_RETURN(bool row, select.Step());
        if (!row) break;
        ids.push_back(select.ColumnInt(0));
      }
    }
    std::vector<JobRecord> jobs;
    const int64_t now = now_ms_();
    for (int64_t id : ids) {
      // Steps after the checkpoint are redone, so progress goes back to it.
      ASSIGN_OR_RETURN(Statement update,
                       db_->Prepare("UPDATE jobs SET state = 'queued', steps_done = COALESCE(last_checkpoint_step, 0), "
                                    "metrics_step = MIN(metrics_step, COALESCE(last_checkpoint_step, 0)), "
                                    "run_started_ms = NULL, updated_ms = ?, revision = revision + 1 WHERE id = ?"));
      RETURN_IF_ERROR(update.Bind(1, now).Bind(2, id).Run());
      ASSIGN_OR_RETURN(JobRecord job, LoadJob(id, /*include_spec=*/true));
      RETURN_IF_ERROR(InsertEvent(id, "requeued",
                                  absl::StrCat("back in the queue; resumes from step ",
                                               job.last_checkpoint_step.value_or(0))));
      RETURN_IF_ERROR(UpdateDependentsLocked(job));
      jobs.push_back(std::move(job));
    }
    return jobs;
  });
}

absl::StatusOr<std::vector<JobTiming>> JobStore::ListStartedJobTimings() {
  std::lock_guard<std::mutex> lock(mu_);
  ASSIGN_OR_RETURN(Statement select,
                   db_->Prepare("SELECT id, type, state, created_ms, started_ms, finished_ms FROM jobs "
                                "WHERE started_ms IS NOT NULL ORDER BY id"));
  std::vector<JobTiming> timings;
  while (true) {
    ASSIGN_OR_RETURN(bool row, select.Step());
    if (!row) return timings;
    JobTiming timing;
    timing.id = select.ColumnInt(0);
    timing.type = select.ColumnText(1);
    // The CHECK constraint on the column keeps this parse total.
    timing.state = ParseJobState(select.ColumnText(2)).value_or(JobState::kFailed);
    timing.created_ms = select.ColumnInt(3);
    timing.started_ms = select.ColumnOptionalInt(4);
    timing.finished_ms = select.ColumnOptionalInt(5);
    timings.push_back(std::move(timing));
  }
}

}  // namespace align::coordinator
