#include "coordinator/core/scheduler.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "common/status_macros.h"
#include "common/step_metrics.h"
#include "coordinator/core/job_id.h"
#include "coordinator/core/log.h"

namespace align::coordinator {

Scheduler::Scheduler(JobStore* store, WorkerRegistry* registry, TrainingMetrics* metrics, SchedulerOptions options)
    : store_(store),
      registry_(registry),
      metrics_(metrics),
      options_(options),
      kinds_(options.kinds != nullptr ? options.kinds : &BuiltInJobKinds()) {}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::RecoverAfterRestart() {
  JobFilter filter;
  filter.states = {JobState::kRunning};
  filter.limit = 0;
  absl::StatusOr<std::vector<JobRecord>> running = store_->ListJobs(filter);
  if (!running.ok()) return running.status();
  std::set<std::string> groups;
  std::vector<JobRecord> counted;
  for (const JobRecord& job : *running) {
    groups.insert(job.group_id);
    absl::StatusOr<JobRecord> strikes = store_->CountRestartStrike(job.id);
    if (!strikes.ok()) return strikes.status();
    counted.push_back(*std::move(strikes));
  }
  for (const std::string& group : groups) {
    absl::StatusOr<std::vector<JobRecord>> interrupted = store_->InterruptGroup(group, "the coordinator restarted");
    if (!interrupted.ok()) return interrupted.status();
  }
  for (const JobRecord& job : counted) {
    std::optional<JobTransition> failed = AfterCoordinatorRestart(job, options_.max_attempts);
    if (!failed) continue;
    absl::StatusOr<JobRecord> ended = store_->Transition(job.id, failed->to, failed->message);
    if (!ended.ok()) return ended.status();
    LogLine(absl::StrCat(FormatJobId(job.id), " failed: ", failed->message));
  }
  absl::StatusOr<std::vector<JobRecord>> requeued = store_->RequeueInterrupted();
  if (!requeued.ok()) return requeued.status();
  for (const JobRecord& job : *requeued) {
    LogLine(absl::StrCat(FormatJobId(job.id), " requeued after a restart; resumes from step ",
                         job.last_checkpoint_step.value_or(0)));
  }
  return absl::OkStatus();
}

void Scheduler::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Shutdown() {
  Stop();
  std::vector<std::string> groups;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, group] : groups_) groups.push_back(id);
  }
  for (const std::string& id : groups) LoseGroup(id, "the coordinator is shutting down");
}

void Scheduler::Kick() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    kicked_ = true;
  }
  cv_.notify_all();
}

void Scheduler::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.tick), [&] { return kicked_ || stopping_; });
      if (stopping_) return;
      kicked_ = false;
    }
    RunOnce();
  }
}

void Scheduler::RunOnce() {
  writes_.Retry();
  ExpireLeases();
  AssignIdleGroups();
  PersistDueProgress();
  if (metrics_ != nullptr) metrics_->DropExpired(store_->NowMs());
}

void Scheduler::ExpireLeases() {
  for (const std::string& group : registry_->Expired()) {
    LoseGroup(group, absl::StrCat("no message for ", absl::FormatDuration(registry_->lease()), " (lease)"));
  }
  for (const auto& [group, why] : StalledGroups()) LoseGroup(group, why, /*left=*/false, /*stalled=*/true);
}

absl::Duration Scheduler::ProgressDeadlineLocked(const ActiveJob& job) const {
  if (job.progress_timeout) return *job.progress_timeout;
  if (!job.progressed) return options_.first_progress_timeout;
  return std::max(options_.progress_timeout_floor, absl::Seconds(job.step_seconds * options_.progress_timeout_steps));
}

std::vector<std::pair<std::string, std::string>> Scheduler::StalledGroups() {
  std::vector<std::pair<std::string, std::string>> stalled;
  const int64_t now = store_->NowMs();
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, group] : groups_) {
    if (!group.job) continue;
    const ActiveJob& job = *group.job;
    const absl::Duration deadline = ProgressDeadlineLocked(job);
    if (absl::Milliseconds(now - job.progressed_ms) <= deadline) continue;
    stalled.emplace_back(
        id, absl::StrCat(job.job_id, " reported no progress for ", absl::FormatDuration(deadline),
                         job.progressed ? absl::StrCat(" after step ", job.reported_step) : " since it was assigned",
                         " (progress watchdog", job.progress_timeout ? ": the spec's progress_timeout_s" : "",
                         "); a rank may be hung"));
  }
  return stalled;
}

void Scheduler::NoteProgressLocked(ActiveJob& job, int64_t before, const std::map<std::string, double>& values) {
  if (job.reported_step <= before) return;
  const int64_t now = store_->NowMs();
  if (auto it = values.find(metric_names::kStepSeconds); it != values.end() && std::isfinite(it->second)) {
    job.step_seconds = it->second;
  } else if (job.progressed) {
    // Kinds that report no step time (a prepare job's chunks): the time per
    // unit of progress as the coordinator sees it.
    job.step_seconds = (now - job.progressed_ms) / 1000.0 / static_cast<double>(job.reported_step - before);
  }
  job.progressed_ms = now;
  job.progressed = true;
}

Scheduler::Sinks Scheduler::SinksOf(const Group& group) {
  Sinks sinks;
  for (const auto& sink : group.sinks) {
    if (sink) sinks.push_back(sink);
  }
  return sinks;
}

void Scheduler::FlushAll(const Sinks& sinks) {
  for (const auto& sink : sinks) sink->Flush();
}

void Scheduler::Attach(const std::string& group_id, int rank, int world_size, std::shared_ptr<SessionSink> sink) {
  bool ready = false;
  size_t groups = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Group& group = groups_[group_id];
    if (group.id.empty()) {
      group.id = group_id;
      group.world_size = world_size;
      group.sinks.resize(world_size);
    }
    if (rank >= 0 && rank < group.world_size && !group.sinks[rank]) {
      group.sinks[rank] = std::move(sink);
      ++group.attached;
    }
    ready = group.attached == group.world_size;
    groups = groups_.size();
  }
  if (metrics_ != nullptr) metrics_->SetGroups(static_cast<int64_t>(groups));
  if (ready) Kick();
}

void Scheduler::SessionEnded(const std::string& group_id, int rank, const std::string& why, bool closed_by_worker) {
  LoseGroup(group_id, absl::StrCat("rank ", rank, "'s session ended (", why, ")"), closed_by_worker);
}

void Scheduler::LoseGroup(const std::string& group_id, const std::string& why, bool left, bool stalled) {
  Sinks sinks;
  std::optional<PendingProgress> pending;
  std::string job_id;
  size_t groups = 0;
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = groups_.find(group_id);
    if (it != groups_.end()) {
      found = true;
      sinks = SinksOf(it->second);
      if (it->second.job) {
        job_id = it->second.job->job_id;
        pending = TakePendingLocked(*it->second.job, store_->NowMs(), 0, true);
      }
      groups_.erase(it);
    }
    groups = groups_.size();
  }
  const bool registered = registry_->Contains(group_id);
  registry_->Remove(group_id);
  if (!found) {
    // Registered, but no rank ever opened a session: it cannot hold a job.
    if (registered) LogLine(absl::StrCat("worker group ", group_id, " dropped before its ranks connected: ", why));
    return;
  }
  left = left && job_id.empty();
  LogLine(absl::StrCat("worker group ", group_id, left ? " left: " : " lost: ", why));
  Persist(pending);
  RequeueJobsOf(group_id, why, stalled);
  for (const auto& sink : sinks) sink->Close();
  if (metrics_ != nullptr) {
    if (!left) metrics_->CountGroupLost();
    metrics_->SetGroups(static_cast<int64_t>(groups));
    if (!job_id.empty()) metrics_->JobEnded(job_id, store_->NowMs());
  }
  Kick();
}

void Scheduler::RequeueJobsOf(const std::string& group_id, const std::string& why, bool stalled) {
  // The store moves each of them as AfterGroupLoss says: interrupted, to be
  // requeued; a stalled job out of attempts then fails (AfterStall).
  writes_.Run(absl::StrCat("worker group ", group_id), "interrupt its jobs", [this, group_id, why,
                                                                             stalled]() -> absl::Status {
    absl::StatusOr<std::vector<JobRecord>> interrupted = store_->InterruptGroup(group_id, why);
    if (!interrupted.ok()) return interrupted.status();
    for (const JobRecord& job : *interrupted) {
      const JobTransition next = stalled ? AfterStall(group_id, why, job.attempts, options_.max_attempts)
                                         : AfterGroupLoss(group_id, why);
      if (next.to == JobState::kFailed) {
        absl::StatusOr<JobRecord> failed = store_->Transition(job.id, next.to, next.message);
        if (!failed.ok()) return failed.status();
        LogLine(absl::StrCat(FormatJobId(job.id), " failed: ", next.message));
        continue;
      }
      LogLine(absl::StrCat(FormatJobId(job.id), " interrupted; resumes from step ",
                           job.last_checkpoint_step.value_or(0)));
    }
    if (!interrupted->empty() && AfterGroupLoss(group_id, why).requeue) RequeueInterrupted();
    return absl::OkStatus();
  });
}

void Scheduler::RequeueInterrupted() {
  writes_.Run("interrupted jobs", "requeue them", [this]() -> absl::Status {
    absl::StatusOr<std::vector<JobRecord>> requeued = store_->RequeueInterrupted();
    if (!requeued.ok()) return requeued.status();
    for (const JobRecord& job : *requeued) LogLine(absl::StrCat(FormatJobId(job.id), " requeued"));
    Kick();
    return absl::OkStatus();
  });
}

absl::StatusOr<Scheduler::PlannedJob> Scheduler::PlanJob(const JobRecord& job, int world_size) {
  JobToPlan plan;
  ASSIGN_OR_RETURN(plan.spec, ParseJobSpec(job.spec_yaml));
  ASSIGN_OR_RETURN(const JobKind* kind, kinds_->Find(plan.spec.type));
  if (!plan.spec.after.empty() && options_.check_released_paths) {
    // Its inputs may be what the jobs it waited for wrote: they exist now.
    if (absl::Status inputs = kind->CheckSubmitted(ResolveJobPaths(plan.spec, job.base_dir)); !inputs.ok()) {
      return absl::Status(inputs.code(), absl::StrCat("its inputs, checked once the jobs it waited for had succeeded: ",
                                                      inputs.message()));
    }
  }
  plan.job_id = FormatJobId(job.id);
  plan.base_dir = job.base_dir;
  plan.resume_step = job.last_checkpoint_step.value_or(0);
  plan.world_size = world_size;
  plan.streaming = PlanStreaming{options_.plan_ahead_steps, options_.chunk_steps};
  absl::StatusOr<std::vector<JobEventRecord>> history = store_->ListEvents(job.id);
  if (history.ok()) {
    plan.history = std::move(*history);
  } else {
    // Planned without it: at worst an event (a curriculum stage) is repeated.
    LogLine(absl::StrCat(plan.job_id, ": cannot read its events: ", history.status().ToString(),
                         "; planning without them"));
  }
  PlannedJob planned;
  if (plan.spec.progress_timeout_s) planned.progress_timeout = absl::Seconds(*plan.spec.progress_timeout_s);
  ASSIGN_OR_RETURN(planned.run, kind->Plan(std::move(plan)));
  return planned;
}

void Scheduler::AssignIdleGroups() {
  std::vector<std::pair<std::string, int>> idle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, group] : groups_) {
      if (group.attached == group.world_size && !group.job && !group.assigning) {
        group.assigning = true;
        idle.emplace_back(id, group.world_size);
      }
    }
  }
  bool queue_empty = false;
  for (const auto& [group_id, world_size] : idle) {
    while (!queue_empty) {
      absl::StatusOr<std::map<JobState, int64_t>> counts = store_->CountByState();
      if (!counts.ok()) LogLine(absl::StrCat("cannot count the queued jobs: ", counts.status().ToString()));
      if (!counts.ok() || (*counts)[JobState::kQueued] == 0) {
        queue_empty = true;  // a failed read: the next tick tries again
        break;
      }
      absl::StatusOr<std::optional<JobRecord>> taken = store_->TakeNextQueued(group_id);
      if (!taken.ok()) LogLine(absl::StrCat("cannot take a queued job: ", taken.status().ToString()));
      if (!taken.ok() || !taken->has_value()) {
        queue_empty = true;
        break;
      }
      const JobRecord job = **taken;
      const std::string job_id = FormatJobId(job.id);
      absl::StatusOr<PlannedJob> planned = PlanJob(job, world_size);
      if (!planned.ok()) {
        const JobTransition failed = AfterPlanningError(planned.status().message());
        LogLine(absl::StrCat(job_id, " failed: ", failed.message));
        ApplyTransition(job.id, job_id, failed);
        continue;  // the group tries the next queued job
      }
      const int64_t resume = job.last_checkpoint_step.value_or(0);
      Sinks sinks;
      RunUpdate started;
      bool installed = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = groups_.find(group_id);
        if (it != groups_.end() && it->second.attached == world_size && !it->second.job) {
          Group& group = it->second;
          group.assigning = false;
          ActiveJob active;
          active.id = job.id;
          active.job_id = job_id;
          active.run = std::move(planned->run);
          active.reported_step = active.run->start_step();
          active.progressed_ms = store_->NowMs();
          active.progress_timeout = planned->progress_timeout;
          group.job = std::move(active);
          sinks = SinksOf(group);
          for (const auto& sink : sinks) {
            sink->Enqueue(AssignmentOut{job_id, job.spec_yaml, job.base_dir, resume, job.attempts});
          }
          started = group.job->run->Start(group.sinks);
          installed = true;
        }
      }
      if (!installed) {
        // The group went away between taking the job and installing it.
        RequeueJobsOf(group_id, "lost before the job started");
        break;
      }
      FlushAll(sinks);
      ApplyRunUpdate(job.id, job_id, started);
      LogLine(absl::StrCat(job_id, " (attempt ", job.attempts, ") assigned to worker group ", group_id,
                           resume > 0 ? absl::StrCat(", resuming from step ", resume) : ""));
      if (metrics_ != nullptr) {
        metrics_->CountAssignment();
        metrics_->JobResumed(job_id);
      }
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [group_id, world_size] : idle) {
    auto it = groups_.find(group_id);
    if (it != groups_.end()) it->second.assigning = false;
  }
}

absl::StatusOr<Scheduler::Group*> Scheduler::HolderLocked(const std::string& group_id, const std::string& job_id,
                                                          bool* late) {
  *late = false;
  auto it = groups_.find(group_id);
  if (it == groups_.end()) {
    return absl::NotFoundError(absl::StrCat("group_id: unknown worker group \"", group_id, "\" (register again)"));
  }
  Group& group = it->second;
  absl::StatusOr<int64_t> id = ParseJobId(job_id);
  if (!id.ok()) return absl::InvalidArgumentError(absl::StrCat("job_id: ", id.status().message()));
  const std::string canonical = FormatJobId(*id);
  if (group.job && group.job->job_id == canonical) return &group;
  if (!group.last_job_id.empty() && group.last_job_id == canonical) {
    *late = true;
    return &group;
  }
  return absl::FailedPreconditionError(
      absl::StrCat("worker group ", group_id, " does not hold job ", canonical,
                   group.job ? absl::StrCat(" (it runs ", group.job->job_id, ")") : " (it has no job)"));
}

std::optional<Scheduler::ActiveJob> Scheduler::EndJobLocked(Group& group, int64_t completed_step) {
  std::optional<ActiveJob> job = std::move(group.job);
  group.job.reset();
  if (job) {
    group.last_job_id = job->job_id;
    group.last_job_completed_step = completed_step;
  }
  return job;
}

std::vector<StepMetricsIn> Scheduler::LateFinalStepLocked(const Group& group, const std::vector<StepMetricsIn>& steps) {
  std::vector<StepMetricsIn> kept;
  if (group.last_job_completed_step < 0) return kept;
  // Older steps are stale next to the final one the series already show.
  for (const StepMetricsIn& entry : steps) {
    if (entry.step == group.last_job_completed_step) kept.push_back(entry);
  }
  return kept;
}

void Scheduler::ApplyLateFinalStep(const std::string& job_id, const std::vector<StepMetricsIn>& entries) {
  if (entries.empty()) return;
  absl::StatusOr<int64_t> id = ParseJobId(job_id);
  if (!id.ok()) {  // a group's own last job id: canonical
    LogLine(absl::StrCat("cannot record late metrics of ", job_id, ": ", id.status().ToString()));
    return;
  }
  PendingProgress final_step{*id, entries.front().step, {}};
  for (const StepMetricsIn& entry : entries) {
    for (const auto& [key, value] : entry.values) final_step.metrics[key] = value;
  }
  Persist(final_step);
  if (metrics_ == nullptr) return;
  for (const StepMetricsIn& entry : entries) {
    if (entry.evaluation) {
      metrics_->ObserveEval(job_id, entry.step, entry.values);
    } else {
      metrics_->ObserveStep(job_id, entry.step, entry.values);
    }
  }
  // Observing revived the ended job's series: they go `retention` from now.
  metrics_->JobEnded(job_id, store_->NowMs());
}

void Scheduler::ApplyRunUpdate(int64_t id, const std::string& job_id, const RunUpdate& update) {
  if (update.planned_size) {
    const PlannedSize size = *update.planned_size;
    writes_.Run(job_id, absl::StrCat("record its planned size (", size.total_steps, " steps)"),
                [this, id, size] { return store_->RecordPlannedSize(id, size.total_steps, size.steps_done).status(); });
  }
  AppendEvents(id, job_id, update.events);
  if (metrics_ != nullptr) {
    metrics_->CountPlanMessages(update.messages_queued);
    if (update.curriculum_stage) metrics_->SetStage(job_id, *update.curriculum_stage);
  }
}

void Scheduler::AppendEvents(int64_t id, const std::string& job_id, const std::vector<NewJobEvent>& events) {
  for (const NewJobEvent& event : events) {
    writes_.Run(job_id, absl::StrCat("record its \"", event.kind, "\" event"),
                [this, id, event] { return store_->AppendEvent(id, event.kind, event.message); });
  }
}

bool Scheduler::ApplyTransition(int64_t id, const std::string& job_id, const JobTransition& transition) {
  const bool moved = writes_.Run(job_id, absl::StrCat("make it ", JobStateName(transition.to)), [this, id, transition] {
    return store_->Transition(id, transition.to, transition.message).status();
  });
  if (transition.requeue) RequeueInterrupted();
  return moved;
}

std::optional<Scheduler::PendingProgress> Scheduler::TakePendingLocked(ActiveJob& job, int64_t now_ms,
                                                                      int64_t interval_ms, bool force) {
  if (job.pending_step < 0) return std::nullopt;
  if (!force && now_ms - job.persisted_ms < interval_ms) return std::nullopt;
  PendingProgress pending{job.id, job.pending_step, std::move(job.pending)};
  job.pending.clear();
  job.pending_step = -1;
  job.persisted_ms = now_ms;
  return pending;
}

void Scheduler::Persist(const std::optional<PendingProgress>& pending) {
  if (!pending) return;
  const PendingProgress progress = *pending;
  writes_.Run(FormatJobId(progress.id), absl::StrCat("record its progress at step ", progress.step),
              [this, progress]() -> absl::Status {
                absl::StatusOr<JobRecord> recorded =
                    store_->RecordProgress(progress.id, progress.step, progress.metrics);
                // A job that has ended takes no more progress: not an error.
                if (!recorded.ok() && absl::IsFailedPrecondition(recorded.status())) return absl::OkStatus();
                return recorded.status();
              });
}

void Scheduler::PersistDueProgress() {
  std::vector<std::optional<PendingProgress>> due;
  const int64_t now = store_->NowMs();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, group] : groups_) {
      if (group.job) {
        due.push_back(TakePendingLocked(*group.job, now,
                                        absl::ToInt64Milliseconds(options_.progress_persist_interval), false));
      }
    }
  }
  for (const auto& pending : due) Persist(pending);
}

absl::Status Scheduler::OnHeartbeat(const std::string& group_id, int rank, const std::string& job_id, int64_t step,
                                    int64_t device_memory_bytes) {
  std::string active;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = groups_.find(group_id);
    if (it == groups_.end()) return absl::NotFoundError(absl::StrCat("unknown worker group ", group_id));
    if (it->second.job && !job_id.empty()) {
      absl::StatusOr<int64_t> id = ParseJobId(job_id);
      if (id.ok() && *id == it->second.job->id) active = it->second.job->job_id;
    }
  }
  if (!active.empty() && metrics_ != nullptr) {
    metrics_->ObserveDeviceMemory(active, rank, static_cast<double>(device_memory_bytes));
  }
  return absl::OkStatus();
}

absl::Status Scheduler::OnProgress(const std::string& group_id, int rank, const std::string& job_id, int64_t step,
                                   const std::map<std::string, double>& metrics) {
  return OnMetricBatch(group_id, rank, job_id, {StepMetricsIn{step, metrics, false}});
}

absl::Status Scheduler::OnMetricBatch(const std::string& group_id, int rank, const std::string& job_id,
                                      const std::vector<StepMetricsIn>& steps) {
  if (steps.empty()) return absl::OkStatus();
  int64_t id = 0;
  std::string name;
  Sinks sinks;
  RunUpdate update;
  std::optional<PendingProgress> to_store;
  bool late = false;
  std::vector<StepMetricsIn> late_final;
  {
    std::lock_guard<std::mutex> lock(mu_);
    absl::StatusOr<Group*> holder = HolderLocked(group_id, job_id, &late);
    if (!holder.ok()) return holder.status();
    if (late) {
      late_final = LateFinalStepLocked(**holder, steps);
      name = (*holder)->last_job_id;
    } else {
      ActiveJob& job = *(*holder)->job;
      const int64_t total = job.run->total_steps();
      for (const StepMetricsIn& entry : steps) {
        if (entry.step < 0 || entry.step > total) {
          return absl::InvalidArgumentError(
              absl::StrCat("step: ", entry.step, " is outside [0, ", total, "] for ", job.job_id));
        }
      }
      std::vector<const StepMetricsIn*> ordered;
      for (const StepMetricsIn& entry : steps) ordered.push_back(&entry);
      std::stable_sort(ordered.begin(), ordered.end(),
                       [](const StepMetricsIn* a, const StepMetricsIn* b) { return a->step < b->step; });
      int64_t last_step = -1;
      const int64_t reported_before = job.reported_step;
      std::map<std::string, double> merged;
      for (const StepMetricsIn* entry : ordered) {
        last_step = std::max(last_step, entry->step);
        for (const auto& [key, value] : entry->values) merged[key] = value;
        if (!entry->evaluation) job.reported_step = std::max(job.reported_step, entry->step);
      }
      NoteProgressLocked(job, reported_before, merged);
      update = job.run->Progressed((*holder)->sinks, job.reported_step, job.stopping);
      id = job.id;
      name = job.job_id;
      if (update.messages_queued > 0) sinks = SinksOf(**holder);
      for (const auto& [key, value] : merged) job.pending[key] = value;
      job.pending_step = std::max(job.pending_step, last_step);
      to_store = TakePendingLocked(job, store_->NowMs(),
                                   absl::ToInt64Milliseconds(options_.progress_persist_interval),
                                   update.save_progress_now);
    }
  }
  if (late) {
    ApplyLateFinalStep(name, late_final);
    return absl::OkStatus();
  }
  FlushAll(sinks);
  Persist(to_store);
  ApplyRunUpdate(id, name, update);
  if (metrics_ != nullptr) {
    for (const StepMetricsIn& entry : steps) {
      if (entry.evaluation) {
        metrics_->ObserveEval(name, entry.step, entry.values);
      } else {
        metrics_->ObserveStep(name, entry.step, entry.values);
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Scheduler::OnCheckpoint(const std::string& group_id, const std::string& job_id, int64_t step,
                                     const std::string& path) {
  int64_t id = 0;
  std::optional<PendingProgress> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool late = false;
    absl::StatusOr<Group*> holder = HolderLocked(group_id, job_id, &late);
    if (!holder.ok()) return holder.status();
    if (late) return absl::OkStatus();
    id = (*holder)->job->id;
    pending = TakePendingLocked(*(*holder)->job, store_->NowMs(), 0, true);
  }
  Persist(pending);
  // Not retried here: the worker hears of a failure (a Rejection) and the
  // checkpoint is still on shared storage.
  absl::StatusOr<JobRecord> recorded = store_->RecordCheckpoint(id, step, path);
  if (!recorded.ok() && !absl::IsFailedPrecondition(recorded.status())) return recorded.status();
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Scheduler::ActiveJob>> Scheduler::EndHeldJob(const std::string& group_id,
                                                                           const std::string& job_id,
                                                                           int64_t completed_step) {
  std::optional<ActiveJob> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool late = false;
    absl::StatusOr<Group*> holder = HolderLocked(group_id, job_id, &late);
    if (!holder.ok()) return holder.status();
    if (late) return std::optional<ActiveJob>();
    job = EndJobLocked(**holder, completed_step);
  }
  Persist(TakePendingLocked(*job, store_->NowMs(), 0, true));
  return job;
}

std::optional<JobRecord> Scheduler::ReadJob(int64_t id, const std::string& job_id) {
  absl::StatusOr<JobRecord> record = store_->GetJob(id);
  if (record.ok()) return *std::move(record);
  LogLine(absl::StrCat(job_id, ": cannot read it: ", record.status().ToString(),
                       "; taken as running, the store refuses a move that no longer applies"));
  return std::nullopt;
}

absl::Status Scheduler::OnCompleted(const std::string& group_id, const std::string& job_id, int64_t step,
                                    const std::string& checkpoint_path) {
  // Everything the group reported before this is applied (one session's
  // reports are handled in order), its final step's metrics included.
  ASSIGN_OR_RETURN(std::optional<ActiveJob> job, EndHeldJob(group_id, job_id, step));
  if (!job) return absl::OkStatus();
  const std::optional<JobRecord> record = ReadJob(job->id, job->job_id);
  const JobState state = record ? record->state : JobState::kRunning;
  JobResult result;
  if (state == JobState::kRunning) {
    // Not after a cancel: the job is over (a prepare job's dataset stays unfinished).
    const FinishedJob finished =
        job->run->Finish(JobCompletion{step, checkpoint_path, record ? &*record : nullptr});
    if (finished.final_step) Persist(PendingProgress{job->id, *finished.final_step, {}});
    if (finished.final_checkpoint_step) {
      const int64_t at = *finished.final_checkpoint_step;
      const std::string path = finished.final_checkpoint_path;
      const int64_t id = job->id;
      writes_.Run(job->job_id, absl::StrCat("record its final checkpoint ", path), [this, id, at, path] {
        return store_->RecordCheckpoint(id, at, path).status();
      });
    }
    AppendEvents(job->id, job->job_id, finished.events);
    if (metrics_ != nullptr && finished.result.succeeded) metrics_->ObserveFigures(job->job_id, finished.figures);
    result = finished.result;
  }
  if (metrics_ != nullptr && job->run->shows_training_steps()) {
    // The final step's report normally came first and is on /metrics; when it
    // went to a coordinator process that is gone, the completion still brings
    // the step, with the values the store has for it.
    std::map<std::string, double> stored;
    if (record && record->metrics_step == step) stored = record->metrics;
    metrics_->ObserveCompletion(job->job_id, step, stored);
  }
  const std::optional<JobTransition> transition = AfterCompletion(state, result);
  if (!transition) {
    LogLine(absl::StrCat(job->job_id, " completed on worker group ", group_id, " but is ", JobStateName(state),
                         " already"));
  } else {
    const bool moved = ApplyTransition(job->id, job->job_id, *transition);
    if (!moved) {
      LogLine(absl::StrCat(job->job_id, " completed on worker group ", group_id, "; ",
                           JobStateName(transition->to), " once the store takes it"));
    } else if (transition->to == JobState::kSucceeded) {
      LogLine(absl::StrCat(job->job_id, " succeeded on worker group ", group_id));
    } else {
      LogLine(absl::StrCat(job->job_id, " failed after its group completed: ", transition->message));
    }
  }
  if (metrics_ != nullptr) metrics_->JobEnded(job->job_id, store_->NowMs());
  Kick();
  return absl::OkStatus();
}

absl::Status Scheduler::OnFailure(const std::string& group_id, const std::string& job_id, const std::string& message,
                                  int64_t step, bool retryable) {
  ASSIGN_OR_RETURN(std::optional<ActiveJob> job, EndHeldJob(group_id, job_id));
  if (!job) return absl::OkStatus();
  const std::optional<JobRecord> record = ReadJob(job->id, job->job_id);
  // Unread, it has no attempt left: failing it beats retrying it blind.
  const JobState state = record ? record->state : JobState::kRunning;
  const int attempts = record ? record->attempts : options_.max_attempts;
  const std::optional<JobTransition> transition =
      AfterFailure(state, WorkerFailure{message, step, retryable}, attempts, options_.max_attempts);
  if (transition) ApplyTransition(job->id, job->job_id, *transition);
  if (transition && transition->requeue) {
    LogLine(absl::StrCat(job->job_id, " failed on ", group_id, " (retryable): ", message));
  } else {
    LogLine(absl::StrCat(job->job_id, " failed on ", group_id, " at step ", step, ": ", message,
                         transition ? "" : absl::StrCat(" (it is ", JobStateName(state), " already)")));
  }
  if (metrics_ != nullptr) metrics_->JobEnded(job->job_id, store_->NowMs());
  Kick();
  return absl::OkStatus();
}

absl::Status Scheduler::OnStopped(const std::string& group_id, const std::string& job_id, int64_t step) {
  ASSIGN_OR_RETURN(std::optional<ActiveJob> job, EndHeldJob(group_id, job_id));
  if (!job) return absl::OkStatus();
  const std::optional<JobRecord> record = ReadJob(job->id, job->job_id);
  // Stopped without being cancelled (preempted): back to the queue.
  const std::optional<JobTransition> transition = AfterStop(record ? record->state : JobState::kRunning, step);
  if (transition) ApplyTransition(job->id, job->job_id, *transition);
  LogLine(absl::StrCat(job->job_id, " stopped on worker group ", group_id, " after step ", step));
  if (metrics_ != nullptr) metrics_->JobEnded(job->job_id, store_->NowMs());
  Kick();
  return absl::OkStatus();
}

absl::Status Scheduler::OnChunkDone(const std::string& group_id, int rank, const std::string& job_id,
                                    int64_t position, int64_t pairs, int64_t failed_items) {
  std::shared_ptr<JobRun> run;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool late = false;
    absl::StatusOr<Group*> holder = HolderLocked(group_id, job_id, &late);
    if (!holder.ok()) return holder.status();
    if (late) return absl::OkStatus();
    run = (*holder)->job->run;
  }
  // Outside the lock: the kind reads what the rank wrote to shared storage.
  ASSIGN_OR_RETURN(WorkProgress progress, run->ChunkDone(rank, position, pairs, failed_items));
  int64_t id = 0;
  std::string name;
  std::optional<PendingProgress> to_store;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool late = false;
    absl::StatusOr<Group*> holder = HolderLocked(group_id, job_id, &late);
    if (!holder.ok() || late) return absl::OkStatus();  // ended meanwhile: the records tell the rest
    ActiveJob& job = *(*holder)->job;
    const int64_t reported_before = job.reported_step;
    job.reported_step = std::max(job.reported_step, progress.steps_done);
    NoteProgressLocked(job, reported_before, {});
    for (const auto& [key, value] : progress.metrics) job.pending[key] = value;
    job.pending_step = std::max(job.pending_step, progress.steps_done);
    id = job.id;
    name = job.job_id;
    to_store = TakePendingLocked(job, store_->NowMs(), absl::ToInt64Milliseconds(options_.progress_persist_interval),
                                 false);
  }
  Persist(to_store);
  AppendEvents(id, name, progress.events);
  return absl::OkStatus();
}

void Scheduler::JobCancelled(const JobRecord& job) {
  Sinks sinks;
  const std::string job_id = FormatJobId(job.id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, group] : groups_) {
      if (group.job && group.job->id == job.id && !group.job->stopping) {
        group.job->stopping = true;
        sinks = SinksOf(group);
        for (const auto& sink : sinks) {
          sink->Enqueue(StopOrderOut{job_id, StopReason::kCancelled, job.error});
        }
        LogLine(absl::StrCat(job_id, " cancelled: telling worker group ", id, " to stop"));
      }
    }
  }
  FlushAll(sinks);
  if (metrics_ != nullptr) metrics_->JobEnded(job_id, store_->NowMs());
}

std::vector<GroupStatus> Scheduler::Groups() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<GroupStatus> out;
  for (const auto& [id, group] : groups_) {
    GroupStatus status;
    status.group_id = id;
    status.world_size = group.world_size;
    status.ranks_attached = group.attached;
    if (group.job) {
      status.job_id = group.job->job_id;
      status.reported_step = group.job->reported_step;
      status.planned_until = group.job->run->planned_until();
      status.stopping = group.job->stopping;
    }
    out.push_back(status);
  }
  return out;
}

}  // namespace align::coordinator
