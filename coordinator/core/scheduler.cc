#include "coordinator/core/scheduler.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "coordinator/core/job_id.h"
#include "coordinator/core/log.h"
#include "common/status_macros.h"

namespace align::coordinator {

namespace {

// The highest stage a job's events already announce (-1: none), so a resumed
// job does not announce a stage twice.
int64_t AnnouncedStage(JobStore& store, int64_t id) {
  absl::StatusOr<std::vector<JobEventRecord>> events = store.ListEvents(id);
  int64_t stage = -1;
  if (!events.ok()) return stage;
  for (const JobEventRecord& event : *events) {
    long long value = 0;
    if (event.kind == "stage" && std::sscanf(event.message.c_str(), "stage %lld", &value) == 1) {
      stage = std::max<int64_t>(stage, value);
    }
  }
  return stage;
}

}  // namespace

Scheduler::Scheduler(JobStore* store, WorkerRegistry* registry, TrainingMetrics* metrics, SchedulerOptions options)
    : store_(store), registry_(registry), metrics_(metrics), options_(options) {}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::RecoverAfterRestart() {
  JobFilter filter;
  filter.states = {JobState::kRunning};
  filter.limit = 0;
  absl::StatusOr<std::vector<JobRecord>> running = store_->ListJobs(filter);
  if (!running.ok()) return running.status();
  std::set<std::string> groups;
  for (const JobRecord& job : *running) groups.insert(job.group_id);
  for (const std::string& group : groups) {
    absl::StatusOr<std::vector<JobRecord>> interrupted = store_->InterruptGroup(group, "the coordinator restarted");
    if (!interrupted.ok()) return interrupted.status();
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
  ExpireLeases();
  AssignIdleGroups();
  PersistDueProgress();
  if (metrics_ != nullptr) metrics_->DropExpired(store_->NowMs());
}

void Scheduler::ExpireLeases() {
  for (const std::string& group : registry_->Expired()) {
    LoseGroup(group, absl::StrCat("no message for ", absl::FormatDuration(registry_->lease()), " (lease)"));
  }
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

void Scheduler::LoseGroup(const std::string& group_id, const std::string& why, bool left) {
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
  absl::StatusOr<std::vector<JobRecord>> interrupted = store_->InterruptGroup(group_id, why);
  if (!interrupted.ok()) {
    LogLine(absl::StrCat("cannot interrupt the jobs of ", group_id, ": ", interrupted.status().ToString()));
  } else if (!interrupted->empty()) {
    absl::StatusOr<std::vector<JobRecord>> requeued = store_->RequeueInterrupted();
    if (!requeued.ok()) LogLine(absl::StrCat("cannot requeue: ", requeued.status().ToString()));
    for (const JobRecord& job : *interrupted) {
      LogLine(absl::StrCat(FormatJobId(job.id), " interrupted and requeued; resumes from step ",
                           job.last_checkpoint_step.value_or(0)));
    }
  }
  for (const auto& sink : sinks) sink->Close();
  if (metrics_ != nullptr) {
    if (!left) metrics_->CountGroupLost();
    metrics_->SetGroups(static_cast<int64_t>(groups));
    if (!job_id.empty()) metrics_->JobEnded(job_id, store_->NowMs());
  }
  Kick();
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
      if (!counts.ok() || (*counts)[JobState::kQueued] == 0) {
        queue_empty = true;
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
      absl::StatusOr<std::unique_ptr<JobPlan>> plan = JobPlan::Create(job, world_size);
      if (!plan.ok()) {
        const std::string message =
            absl::StrCat("the coordinator cannot plan this job: ", plan.status().message());
        LogLine(absl::StrCat(job_id, " failed: ", message));
        absl::StatusOr<JobRecord> failed = store_->Transition(job.id, JobState::kFailed, message);
        if (!failed.ok()) LogLine(absl::StrCat("cannot fail ", job_id, ": ", failed.status().ToString()));
        continue;  // the group tries the next queued job
      }
      const std::shared_ptr<PrepareWork> prepare_work = (*plan)->prepare_work();
      const int64_t resume = job.last_checkpoint_step.value_or(0);
      const int64_t announced = (*plan)->num_stages() > 1 ? AnnouncedStage(*store_, job.id) : -1;
      Sinks sinks;
      int64_t sent = 0;
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
          active.resume_step = resume;
          active.reported_step = resume;
          active.planned_until = resume;
          active.announced_stage = announced;
          active.plan = std::move(*plan);
          const JobPlan& job_plan = *active.plan;
          group.job = std::move(active);
          sinks = SinksOf(group);
          for (const auto& sink : sinks) {
            sink->Enqueue(AssignmentOut{job_id, job.spec_yaml, job.base_dir, resume, job.attempts});
          }
          // The stage the job resumes in, when it started before the resume step
          // (later boundaries go out with the chunks that reach them).
          if (job_plan.num_stages() > 1) {
            const int64_t stage = job_plan.StageOf(resume);
            if (job_plan.StageStart(stage) < resume) {
              for (const auto& sink : sinks) {
                sink->Enqueue(StageBoundaryOut{job_id, static_cast<int>(stage), job_plan.StageStart(stage)});
                ++sent;
              }
            }
          }
          if (const std::shared_ptr<PrepareWork>& work = job_plan.prepare_work()) {
            const std::vector<std::vector<int64_t>> parts = work->SplitPending(world_size);
            for (int rank = 0; rank < world_size; ++rank) {
              if (!group.sinks[rank]) continue;
              group.sinks[rank]->Enqueue(PrepareChunksOut{job_id, parts[rank], work->total_chunks()});
              ++sent;
            }
            group.job->reported_step = work->done_chunks();
          }
          sent += TopUpLocked(group);
          installed = true;
        }
      }
      if (!installed) {
        // The group went away between taking the job and installing it.
        absl::StatusOr<std::vector<JobRecord>> back = store_->InterruptGroup(group_id, "lost before the job started");
        if (back.ok()) (void)store_->RequeueInterrupted();
        break;
      }
      FlushAll(sinks);
      if (const std::shared_ptr<PrepareWork>& work = prepare_work) {
        (void)store_->RecordPlannedSize(job.id, work->total_chunks(), work->done_chunks());
        (void)store_->AppendEvent(job.id, "planned",
                                  absl::StrCat(work->total_chunks(), " chunks, ", work->done_chunks(),
                                               " already done, split over ", world_size, " ranks"));
      }
      LogLine(absl::StrCat(job_id, " (attempt ", job.attempts, ") assigned to worker group ", group_id,
                           resume > 0 ? absl::StrCat(", resuming from step ", resume) : ""));
      if (metrics_ != nullptr) {
        metrics_->CountAssignment();
        metrics_->CountPlanMessages(sent);
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

int64_t Scheduler::TopUpLocked(Group& group) {
  ActiveJob& job = *group.job;
  if (!job.plan->has_plan() || job.stopping) return 0;
  const int64_t total = job.plan->total_steps();
  const int64_t target = std::min(total, std::max(job.reported_step, job.resume_step) + options_.plan_ahead_steps);
  int64_t sent = 0;
  while (job.planned_until < target) {
    const int64_t end = std::min(total, job.planned_until + options_.chunk_steps);
    const std::vector<StageBoundaryOut> stages = job.plan->StagesStartingIn(job.planned_until, end);
    for (int rank = 0; rank < group.world_size; ++rank) {
      const auto& sink = group.sinks[rank];
      if (!sink) continue;
      for (const StageBoundaryOut& stage : stages) sink->Enqueue(stage);
      sink->Enqueue(job.plan->Chunk(rank, job.planned_until, end));
      sent += static_cast<int64_t>(stages.size()) + 1;
    }
    job.planned_until = end;
  }
  return sent;
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
      metrics_->ObserveEval(job_id, entry.values);
    } else {
      metrics_->ObserveStep(job_id, entry.step, entry.values);
    }
  }
  // Observing revived the ended job's series: they go `retention` from now.
  metrics_->JobEnded(job_id, store_->NowMs());
}

void Scheduler::RecordStepLocked(ActiveJob& job, int64_t step, bool* announce_stage, int64_t* stage) {
  job.reported_step = std::max(job.reported_step, step);
  *stage = job.plan->StageOf(std::max<int64_t>(step - 1, 0));
  if (job.plan->num_stages() > 1 && step >= 1 && *stage > job.announced_stage) {
    job.announced_stage = *stage;
    *announce_stage = true;
  }
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
  absl::StatusOr<JobRecord> recorded = store_->RecordProgress(pending->id, pending->step, pending->metrics);
  if (!recorded.ok() && !absl::IsFailedPrecondition(recorded.status())) {
    LogLine(absl::StrCat("cannot record progress of ", FormatJobId(pending->id), ": ", recorded.status().ToString()));
  }
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
  bool announce = false;
  int64_t stage = 0, num_stages = 1, stage_start = 0, sent = 0;
  int64_t last_step = -1;
  std::map<std::string, double> merged;
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
      const int64_t total = job.plan->total_steps();
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
      for (const StepMetricsIn* entry : ordered) {
        last_step = std::max(last_step, entry->step);
        for (const auto& [key, value] : entry->values) merged[key] = value;
        if (!entry->evaluation) RecordStepLocked(job, entry->step, &announce, &stage);
      }
      num_stages = job.plan->num_stages();
      stage_start = job.plan->StageStart(stage);
      sent = TopUpLocked(**holder);
      id = job.id;
      name = job.job_id;
      if (sent > 0) sinks = SinksOf(**holder);
      for (const auto& [key, value] : merged) job.pending[key] = value;
      job.pending_step = std::max(job.pending_step, last_step);
      to_store = TakePendingLocked(job, store_->NowMs(),
                                   absl::ToInt64Milliseconds(options_.progress_persist_interval), announce);
    }
  }
  if (late) {
    ApplyLateFinalStep(name, late_final);
    return absl::OkStatus();
  }
  FlushAll(sinks);
  Persist(to_store);
  if (announce) {
    (void)store_->AppendEvent(id, "stage",
                              absl::StrCat("stage ", stage, " of ", num_stages, " starts at step ", stage_start));
  }
  if (metrics_ != nullptr) {
    metrics_->CountPlanMessages(sent);
    for (const StepMetricsIn& entry : steps) {
      if (entry.evaluation) {
        metrics_->ObserveEval(name, entry.values);
      } else {
        metrics_->ObserveStep(name, entry.step, entry.values);
      }
    }
    if (num_stages > 1) metrics_->SetStage(name, stage);
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

std::pair<JobState, std::string> Scheduler::FinishPrepareJob(const ActiveJob& job) {
  PrepareWork& work = *job.plan->prepare_work();
  absl::StatusOr<prepare::PrepareReport> report = work.Finish();
  if (!report.ok()) {
    return {JobState::kFailed, absl::StrCat("cannot finish the dataset: ", report.status().message())};
  }
  const std::string summary = absl::StrCat(
      report->total, " items: ", report->pairs_written(), " pairs (train ", report->pairs.at("train"), ", heldout ",
      report->pairs.at("heldout"), "), ", report->ties, " ties dropped, ", report->swapped, " swapped, ",
      report->failed, " failed, ", report->captions_truncated, " captions truncated");
  (void)store_->AppendEvent(job.id, "report", summary);
  if (!report->ok()) return {JobState::kFailed, prepare::FailureMessage(*report)};
  return {JobState::kSucceeded, absl::StrCat("prepared ", summary, "; dataset ", work.dataset())};
}

absl::Status Scheduler::OnCompleted(const std::string& group_id, const std::string& job_id, int64_t step,
                                    const std::string& checkpoint_path) {
  // Everything the group reported before this is applied (one session's
  // reports are handled in order), its final step's metrics included.
  ASSIGN_OR_RETURN(std::optional<ActiveJob> job, EndHeldJob(group_id, job_id, step));
  if (!job) return absl::OkStatus();
  absl::StatusOr<JobRecord> record = store_->GetJob(job->id);
  JobState outcome = JobState::kSucceeded;
  std::string message =
      absl::StrCat("finished step ", step, checkpoint_path.empty() ? "" : "; final checkpoint ", checkpoint_path);
  if (job->plan->prepare_work()) {
    // Not after a cancel: the job is over, and its dataset stays unfinished.
    if (record.ok() && record->state == JobState::kRunning) {
      (void)store_->RecordProgress(job->id, job->plan->total_steps(), {});
      std::tie(outcome, message) = FinishPrepareJob(*job);
    }
  } else if (record.ok() && record->state == JobState::kRunning) {
    if (record->steps_done < step) (void)store_->RecordProgress(job->id, step, {});
    if (!checkpoint_path.empty() && (!record->last_checkpoint_step || *record->last_checkpoint_step < step)) {
      (void)store_->RecordCheckpoint(job->id, step, checkpoint_path);
    }
  }
  if (metrics_ != nullptr && !job->plan->prepare_work()) {
    // The final step's report normally came first and is on /metrics; when it
    // went to a coordinator process that is gone, the completion still brings
    // the step, with the values the store has for it.
    std::map<std::string, double> stored;
    if (record.ok() && record->metrics_step == step) stored = record->metrics;
    metrics_->ObserveCompletion(job->job_id, step, stored);
  }
  absl::StatusOr<JobRecord> done = store_->Transition(job->id, outcome, message);
  if (!done.ok()) {
    LogLine(absl::StrCat(job->job_id, " completed but: ", done.status().message()));
  } else if (outcome == JobState::kSucceeded) {
    LogLine(absl::StrCat(job->job_id, " succeeded on worker group ", group_id));
  } else {
    LogLine(absl::StrCat(job->job_id, " failed after its group completed: ", message));
  }
  if (metrics_ != nullptr) metrics_->JobEnded(job->job_id, store_->NowMs());
  Kick();
  return absl::OkStatus();
}

absl::Status Scheduler::OnFailure(const std::string& group_id, const std::string& job_id, const std::string& message,
                                  int64_t step, bool retryable) {
  ASSIGN_OR_RETURN(std::optional<ActiveJob> job, EndHeldJob(group_id, job_id));
  if (!job) return absl::OkStatus();
  absl::StatusOr<JobRecord> record = store_->GetJob(job->id);
  const int attempts = record.ok() ? record->attempts : options_.max_attempts;
  if (retryable && attempts < options_.max_attempts && record.ok() && record->state == JobState::kRunning) {
    (void)store_->Transition(job->id, JobState::kInterrupted,
                             absl::StrCat("attempt ", attempts, " failed at step ", step, ": ", message, " (retrying)"));
    (void)store_->RequeueInterrupted();
    LogLine(absl::StrCat(job->job_id, " failed on ", group_id, " (retryable): ", message));
  } else {
    absl::StatusOr<JobRecord> failed = store_->Transition(job->id, JobState::kFailed, message);
    if (!failed.ok()) LogLine(absl::StrCat(job->job_id, " failed but: ", failed.status().message()));
    LogLine(absl::StrCat(job->job_id, " failed on ", group_id, " at step ", step, ": ", message));
  }
  if (metrics_ != nullptr) metrics_->JobEnded(job->job_id, store_->NowMs());
  Kick();
  return absl::OkStatus();
}

absl::Status Scheduler::OnStopped(const std::string& group_id, const std::string& job_id, int64_t step) {
  ASSIGN_OR_RETURN(std::optional<ActiveJob> job, EndHeldJob(group_id, job_id));
  if (!job) return absl::OkStatus();
  absl::StatusOr<JobRecord> record = store_->GetJob(job->id);
  if (record.ok() && record->state == JobState::kRunning) {
    // Stopped without being cancelled (preempted): back to the queue.
    (void)store_->Transition(job->id, JobState::kInterrupted, absl::StrCat("stopped after step ", step));
    (void)store_->RequeueInterrupted();
  }
  LogLine(absl::StrCat(job->job_id, " stopped on worker group ", group_id, " after step ", step));
  if (metrics_ != nullptr) metrics_->JobEnded(job->job_id, store_->NowMs());
  Kick();
  return absl::OkStatus();
}

absl::Status Scheduler::OnChunkDone(const std::string& group_id, int rank, const std::string& job_id,
                                    int64_t position, int64_t pairs, int64_t failed_items) {
  std::shared_ptr<PrepareWork> work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool late = false;
    absl::StatusOr<Group*> holder = HolderLocked(group_id, job_id, &late);
    if (!holder.ok()) return holder.status();
    if (late) return absl::OkStatus();
    work = (*holder)->job->plan->prepare_work();
  }
  if (!work) return absl::InvalidArgumentError(absl::StrCat("chunk_done: ", job_id, " is not a prepare job"));
  // The record on shared storage is the truth; the message's counts are only
  // checked against it.
  ASSIGN_OR_RETURN(const prepare::ChunkRecord record, work->MarkDone(position));
  if (record.pairs != pairs || static_cast<int64_t>(record.problems.size()) != failed_items) {
    LogLine(absl::StrCat(job_id, ": rank ", rank, " reported ", pairs, " pairs / ", failed_items,
                         " failed items for chunk ", position, ", its record says ", record.pairs, " / ",
                         record.problems.size()));
  }
  int64_t id = 0;
  std::optional<PendingProgress> to_store;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool late = false;
    absl::StatusOr<Group*> holder = HolderLocked(group_id, job_id, &late);
    if (!holder.ok() || late) return absl::OkStatus();  // ended meanwhile: the records tell the rest
    ActiveJob& job = *(*holder)->job;
    const PrepareWork::Totals totals = work->totals();
    job.reported_step = std::max(job.reported_step, totals.chunks);
    job.pending["pairs"] = static_cast<double>(totals.pairs);
    job.pending["failed_items"] = static_cast<double>(totals.failed_items);
    job.pending_step = std::max(job.pending_step, totals.chunks);
    id = job.id;
    to_store = TakePendingLocked(job, store_->NowMs(), absl::ToInt64Milliseconds(options_.progress_persist_interval),
                                 false);
  }
  Persist(to_store);
  if (!record.problems.empty()) {
    std::string listed;
    const size_t shown = std::min<size_t>(record.problems.size(), 3);
    for (size_t i = 0; i < shown; ++i) {
      const prepare::ItemProblem& p = record.problems[i];
      absl::StrAppend(&listed, i == 0 ? "" : "; ", p.where, " (", p.reason, ": ", p.detail, ")");
    }
    (void)store_->AppendEvent(
        id, "items_failed",
        absl::StrCat(record.split, "-", record.index, ": ", record.problems.size(), " of ", record.items,
                     " items failed: ", listed, record.problems.size() > shown ? "; ..." : ""));
  }
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
      status.planned_until = group.job->planned_until;
      status.stopping = group.job->stopping;
    }
    out.push_back(status);
  }
  return out;
}

}  // namespace align::coordinator
