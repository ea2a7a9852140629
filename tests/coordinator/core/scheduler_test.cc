// The coordinator's scheduler without a network (coordinator/core/scheduler.h):
// sessions are fake sinks that record what they are sent. Assignment of
// queued jobs to ready groups, plan chunks that match the planner and stay
// ahead of progress, curriculum stage boundaries and events, ingestion into
// the store and Prometheus, rejected reports, completion, retryable and final
// failures, lost groups and lease expiry (requeue from the checkpoint),
// cancellation (StopOrder), recovery after a coordinator restart, and a job's
// final step on Prometheus and in the store whatever the order and the
// process its report reached, and store writes that fail while the database
// is busy landing on a later tick.

#include "coordinator/core/scheduler.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "common/dataset/synthetic.h"
#include "common/plan/curriculum_plan.h"
#include "common/plan/pair_plan.h"
#include "common/prepare/prepare_layout.h"
#include "coordinator/core/job_id.h"
#include "coordinator/core/job_manager.h"
#include "tests/support/finished_chunk.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"

namespace align::coordinator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class FakeSink : public SessionSink {
 public:
  void Enqueue(OutboundMessage message) override {
    std::lock_guard<std::mutex> lock(mu);
    queued.push_back(std::move(message));
  }
  void Flush() override {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& m : queued) sent.push_back(std::move(m));
    queued.clear();
  }
  void Close() override { closed = true; }

  template <typename T>
  std::vector<T> Sent() {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<T> out;
    for (const auto& m : sent) {
      if (const T* t = std::get_if<T>(&m)) out.push_back(*t);
    }
    return out;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu);
    sent.clear();
  }

  std::mutex mu;
  std::vector<OutboundMessage> queued, sent;
  std::atomic<bool> closed{false};
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "scheduler_test_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    data::SyntheticOptions data;
    data.train_pairs = 40;
    data.heldout_pairs = 4;
    data.shape = {4, 4, 4, 2, 8, 0};
    data.seed = 1;
    ASSERT_TRUE(data::WriteSyntheticDataset(dir_ + "/data", data).ok());
    JobStoreOptions store_options;
    store_options.now_ms = [this] { return now_ms_.load(); };
    auto store = JobStore::Open(dir_ + "/coordinator.db", store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    registry_ = std::make_unique<WorkerRegistry>(absl::Seconds(10), [this] { return now_ms_.load(); });
    metrics_ = std::make_unique<TrainingMetrics>(prometheus_);
    SchedulerOptions options;
    options.plan_ahead_steps = 8;
    options.chunk_steps = 4;
    options.progress_persist_interval = absl::ZeroDuration();
    scheduler_ = std::make_unique<Scheduler>(store_.get(), registry_.get(), metrics_.get(), options);
  }
  void TearDown() override {
    scheduler_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  std::string Spec(const std::string& name, int steps, const std::string& extra = "") {
    return "name: " + name + "\ntype: train\nmodel: model\ndataset: data\noutput: runs/" + name +
           "\nloss: {type: dpo}\nbatch: {pairs_per_rank: 2, grad_accum: 2}\nseed: 7\nsteps: " + std::to_string(steps) +
           "\n" + extra;
  }
  int64_t Submit(const std::string& name, int steps, const std::string& extra = "") {
    NewJob job{name, "train", Spec(name, steps, extra), dir_, steps};
    auto created = store_->CreateJob(job);
    EXPECT_TRUE(created.ok()) << created.status();
    return created->id;
  }
  // A registered group whose `world` ranks all opened sessions.
  std::string Group(int world, std::vector<std::shared_ptr<FakeSink>>* sinks) {
    GroupRegistration registration{"test", world, std::vector<std::string>(world, "node"), "cpu"};
    auto group = registry_->Register(registration);
    EXPECT_TRUE(group.ok());
    sinks->clear();
    for (int rank = 0; rank < world; ++rank) {
      EXPECT_TRUE(registry_->Attach(group->id, rank).ok());
      sinks->push_back(std::make_shared<FakeSink>());
      scheduler_->Attach(group->id, rank, world, sinks->back());
    }
    return group->id;
  }
  JobRecord Job(int64_t id) { return *store_->GetJob(id); }
  std::vector<std::string> EventKinds(int64_t id) {
    std::vector<std::string> kinds;
    const std::vector<JobEventRecord> events = *store_->ListEvents(id);
    for (const auto& e : events) kinds.push_back(e.kind);
    return kinds;
  }
  double Counter(const std::string& name) {
    for (const auto& family : prometheus_.Collect()) {
      if (family.name == name && !family.metric.empty()) return family.metric[0].counter.value;
    }
    return -1;
  }
  // The sample count of a histogram's series for `job`; -1: no such series.
  double HistogramCount(const std::string& name, const std::string& job) {
    for (const auto& family : prometheus_.Collect()) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          if (label.name == "job" && label.value == job) return static_cast<double>(metric.histogram.sample_count);
        }
      }
    }
    return -1;
  }
  double Gauge(const std::string& name, const std::string& job) {
    for (const auto& family : prometheus_.Collect()) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          if (label.name == "job" && label.value == job) return metric.gauge.value;
        }
      }
    }
    return -1;
  }

  // The gauge of `job` whose label `label` is `value`; -1: none.
  double GaugeWith(const std::string& name, const std::string& job, const std::string& label, const std::string& value) {
    for (const auto& family : prometheus_.Collect()) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        bool job_matches = false, label_matches = false;
        for (const auto& l : metric.label) {
          job_matches |= l.name == "job" && l.value == job;
          label_matches |= l.name == label && l.value == value;
        }
        if (job_matches && label_matches) return metric.gauge.value;
      }
    }
    return -1;
  }

  std::string dir_;
  std::atomic<int64_t> now_ms_{1'000'000};
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<WorkerRegistry> registry_;
  prometheus::Registry prometheus_;
  std::unique_ptr<TrainingMetrics> metrics_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, ReadyGroupTakesTheQueuedJobAndGetsItsPlanAhead) {
  const int64_t id = Submit("first", 20);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(2, &sinks);
  scheduler_->RunOnce();

  const JobRecord job = Job(id);
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.group_id, group);
  plan::PairPlan reference({40, 2, 2, 2, 7});
  for (int rank = 0; rank < 2; ++rank) {
    auto assignments = sinks[rank]->Sent<AssignmentOut>();
    ASSERT_EQ(assignments.size(), 1u);
    EXPECT_EQ(assignments[0].job_id, "job-000001");
    EXPECT_EQ(assignments[0].resume_step, 0);
    EXPECT_EQ(assignments[0].attempt, 1);
    EXPECT_EQ(assignments[0].base_dir, dir_);
    // The first message is the assignment, then chunks [0,4) and [4,8).
    ASSERT_TRUE(std::holds_alternative<AssignmentOut>(sinks[rank]->sent.front()));
    auto chunks = sinks[rank]->Sent<PlanChunkOut>();
    ASSERT_EQ(chunks.size(), 2u);
    EXPECT_EQ(chunks[0].first_step, 0);
    EXPECT_EQ(chunks[1].end_step, 8);
    for (const PlanChunkOut& chunk : chunks) {
      ASSERT_EQ(chunk.steps.size(), 4u);
      for (const StepPlanOut& step : chunk.steps) {
        ASSERT_EQ(step.micro_batches.size(), 2u);  // grad_accum
        for (int64_t micro = 0; micro < 2; ++micro) {
          const plan::MicroBatchPlan want = reference.PairsFor(step.step, rank, micro);
          EXPECT_EQ(step.micro_batches[micro].pairs, want.pairs);
          EXPECT_EQ(step.micro_batches[micro].positions, want.positions);
        }
      }
    }
    EXPECT_TRUE(sinks[rank]->Sent<StageBoundaryOut>().empty());  // no curriculum
  }

  // Progress keeps plans plan_ahead_steps ahead, a chunk at a time, to every rank.
  EXPECT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 1, {{"loss", 0.5}, {"implicit_accuracy", 0.75}}).ok());
  for (int rank = 0; rank < 2; ++rank) {
    auto chunks = sinks[rank]->Sent<PlanChunkOut>();
    ASSERT_EQ(chunks.size(), 3u);
    EXPECT_EQ(chunks[2].first_step, 8);
    EXPECT_EQ(chunks[2].end_step, 12);
  }
  EXPECT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 2, {{"loss", 0.25}, {"step_s", 0.5}}).ok());
  EXPECT_EQ(sinks[0]->Sent<PlanChunkOut>().size(), 3u);  // still 10 ahead: nothing new
  const JobRecord progressed = Job(id);
  EXPECT_EQ(progressed.steps_done, 2);
  EXPECT_DOUBLE_EQ(progressed.metrics.at("loss"), 0.25);
  EXPECT_DOUBLE_EQ(progressed.metrics.at("implicit_accuracy"), 0.75);
  EXPECT_EQ(Gauge("align_train_loss", "job-000001"), 0.25);
  EXPECT_EQ(Gauge("align_train_step", "job-000001"), 2);
  // Plans never run past the last step.
  EXPECT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 18, {}).ok());
  EXPECT_EQ(sinks[1]->Sent<PlanChunkOut>().back().end_step, 20);
  EXPECT_EQ(scheduler_->Groups().front().planned_until, 20);
}

TEST_F(SchedulerTest, ReportsForJobsTheGroupDoesNotHoldAreRefused) {
  Submit("only", 10);
  std::vector<std::shared_ptr<FakeSink>> sinks, idle_sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  const std::string idle = Group(1, &idle_sinks);  // registered after the queue emptied

  absl::Status other = scheduler_->OnProgress(group, 0, "job-000042", 1, {{"loss", 1}});
  EXPECT_TRUE(absl::IsFailedPrecondition(other)) << other;
  EXPECT_THAT(other.message(), HasSubstr("does not hold job job-000042"));
  EXPECT_THAT(other.message(), HasSubstr("it runs job-000001"));
  absl::Status idle_report = scheduler_->OnCompleted(idle, "job-000001", 10, "/x");
  EXPECT_TRUE(absl::IsFailedPrecondition(idle_report)) << idle_report;
  EXPECT_THAT(idle_report.message(), HasSubstr("has no job"));
  EXPECT_TRUE(absl::IsNotFound(scheduler_->OnProgress("group-nope", 0, "job-000001", 1, {})));
  EXPECT_TRUE(absl::IsInvalidArgument(scheduler_->OnProgress(group, 0, "job-000001", 11, {})));
  EXPECT_TRUE(absl::IsInvalidArgument(scheduler_->OnProgress(group, 0, "not-a-job", 1, {})));
  // Nothing changed; the group still runs its job.
  EXPECT_EQ(Job(1).state, JobState::kRunning);
  EXPECT_EQ(Job(1).steps_done, 0);
  EXPECT_TRUE(scheduler_->OnProgress(group, 0, "job-1", 3, {{"loss", 1}}).ok());  // any id spelling
  EXPECT_EQ(Job(1).steps_done, 3);
}

TEST_F(SchedulerTest, CompletionRecordsTheCheckpointAndFreesTheGroupForTheNextJob) {
  const int64_t first = Submit("a", 8), second = Submit("b", 8);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  EXPECT_TRUE(scheduler_->OnCheckpoint(group, "job-000001", 4, "/runs/a/checkpoint-4").ok());
  EXPECT_EQ(Job(first).last_checkpoint_step, 4);
  EXPECT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 8, {{"loss", 0.1}}).ok());
  EXPECT_TRUE(scheduler_->OnCompleted(group, "job-000001", 8, "/runs/a/checkpoint-8").ok());
  EXPECT_EQ(Job(first).state, JobState::kSucceeded);
  EXPECT_EQ(Job(first).last_checkpoint_step, 8);
  EXPECT_EQ(Job(first).last_checkpoint_path, "/runs/a/checkpoint-8");
  // A late report about the finished job is not refused.
  EXPECT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 8, {}).ok());
  scheduler_->RunOnce();
  EXPECT_EQ(Job(second).state, JobState::kRunning);
  auto assignments = sinks[0]->Sent<AssignmentOut>();
  ASSERT_EQ(assignments.size(), 2u);
  EXPECT_EQ(assignments[1].job_id, "job-000002");
  EXPECT_EQ(EventKinds(first), (std::vector<std::string>{"submitted", "started", "checkpoint", "checkpoint", "succeeded"}));
}

TEST_F(SchedulerTest, ALostGroupsJobResumesFromItsCheckpointOnTheNextGroup) {
  const int64_t id = Submit("resume", 30);
  std::vector<std::shared_ptr<FakeSink>> first_sinks, second_sinks;
  const std::string first = Group(2, &first_sinks);
  scheduler_->RunOnce();
  EXPECT_TRUE(scheduler_->OnProgress(first, 0, "job-000001", 4, {}).ok());
  EXPECT_TRUE(scheduler_->OnCheckpoint(first, "job-000001", 4, "/ckpt-4").ok());
  EXPECT_TRUE(scheduler_->OnProgress(first, 0, "job-000001", 6, {}).ok());

  scheduler_->SessionEnded(first, 1, "broken");
  EXPECT_TRUE(first_sinks[0]->closed);
  EXPECT_TRUE(first_sinks[1]->closed);
  EXPECT_FALSE(registry_->Contains(first));
  const JobRecord requeued = Job(id);
  EXPECT_EQ(requeued.state, JobState::kQueued);
  EXPECT_EQ(requeued.steps_done, 4);  // steps after the checkpoint are redone
  EXPECT_TRUE(absl::IsNotFound(scheduler_->OnProgress(first, 0, "job-000001", 7, {})));

  const std::string second = Group(2, &second_sinks);
  scheduler_->RunOnce();
  EXPECT_EQ(Job(id).group_id, second);
  EXPECT_EQ(Job(id).attempts, 2);
  auto assignment = second_sinks[1]->Sent<AssignmentOut>();
  ASSERT_EQ(assignment.size(), 1u);
  EXPECT_EQ(assignment[0].resume_step, 4);
  EXPECT_EQ(assignment[0].attempt, 2);
  auto chunks = second_sinks[1]->Sent<PlanChunkOut>();
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.front().first_step, 4);
  EXPECT_EQ(chunks.back().end_step, 12);
  EXPECT_EQ(EventKinds(id), (std::vector<std::string>{"submitted", "started", "checkpoint", "interrupted", "requeued",
                                                      "started"}));
}

TEST_F(SchedulerTest, AGroupSilentForItsLeaseIsLost) {
  const int64_t id = Submit("lease", 30);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  now_ms_ += 9000;
  registry_->Touch(group);  // a heartbeat
  now_ms_ += 9000;
  scheduler_->RunOnce();
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  now_ms_ += 10'001;
  scheduler_->RunOnce();
  EXPECT_TRUE(sinks[0]->closed);
  EXPECT_EQ(Job(id).state, JobState::kQueued);
  EXPECT_THAT(store_->ListEvents(id)->at(2).message, HasSubstr("lease"));
  EXPECT_TRUE(scheduler_->Groups().empty());
}

// A rank hung in a collective: its peers' heartbeats keep the lease, but no
// step comes. The watchdog takes the job from the group and requeues it.
TEST_F(SchedulerTest, AGroupWhoseJobMakesNoProgressLosesItDespiteHeartbeats) {
  SchedulerOptions options;
  options.progress_persist_interval = absl::ZeroDuration();
  options.first_progress_timeout = absl::Seconds(60);
  options.progress_timeout_floor = absl::Seconds(10);
  options.progress_timeout_steps = 20;
  scheduler_ = std::make_unique<Scheduler>(store_.get(), registry_.get(), metrics_.get(), options);
  const int64_t id = Submit("hung", 30);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(2, &sinks);
  scheduler_->RunOnce();
  // Loading the models: the first step may take up to first_progress_timeout.
  for (int i = 0; i < 11; ++i) {
    now_ms_ += 5000;
    registry_->Touch(group);
    scheduler_->RunOnce();
  }
  EXPECT_EQ(Job(id).state, JobState::kRunning);  // 55 s
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 1, {{"step_s", 0.2}}).ok());
  // Then the longer of the floor (10 s) and 20 steps (4 s).
  now_ms_ += 5000;
  registry_->Touch(group);
  scheduler_->RunOnce();
  now_ms_ += 5000;
  registry_->Touch(group);
  scheduler_->RunOnce();
  EXPECT_EQ(Job(id).state, JobState::kRunning);  // 10 s after step 1
  now_ms_ += 1000;
  registry_->Touch(group);
  scheduler_->RunOnce();
  EXPECT_TRUE(sinks[0]->closed);
  EXPECT_EQ(Job(id).state, JobState::kQueued);
  bool named = false;
  for (const JobEventRecord& event : *store_->ListEvents(id)) {
    named = named || (event.message.find("progress watchdog") != std::string::npos &&
                      event.message.find("after step 1") != std::string::npos);
  }
  EXPECT_TRUE(named);
}

TEST_F(SchedulerTest, AJobThatStallsInEveryAttemptFails) {
  SchedulerOptions options;
  options.progress_persist_interval = absl::ZeroDuration();
  options.max_attempts = 2;
  scheduler_ = std::make_unique<Scheduler>(store_.get(), registry_.get(), metrics_.get(), options);
  const int64_t id = Submit("stalls", 30, "progress_timeout_s: 2\n");
  for (int attempt = 1; attempt <= 2; ++attempt) {
    std::vector<std::shared_ptr<FakeSink>> sinks;
    const std::string group = Group(1, &sinks);
    scheduler_->RunOnce();
    ASSERT_EQ(Job(id).attempts, attempt);
    now_ms_ += 3000;
    registry_->Touch(group);
    scheduler_->RunOnce();
    EXPECT_TRUE(sinks[0]->closed) << "attempt " << attempt;
    EXPECT_EQ(Job(id).state, attempt < 2 ? JobState::kQueued : JobState::kFailed) << "attempt " << attempt;
  }
  EXPECT_THAT(Job(id).error, HasSubstr("stalled in attempt 2 of max_attempts 2"));
}

TEST_F(SchedulerTest, TheSpecsProgressTimeoutReplacesTheCoordinatorsDeadline) {
  const int64_t id = Submit("impatient", 30, "progress_timeout_s: 3\n");
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  now_ms_ += 3000;
  registry_->Touch(group);
  scheduler_->RunOnce();
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  now_ms_ += 1000;
  registry_->Touch(group);
  scheduler_->RunOnce();
  EXPECT_EQ(Job(id).state, JobState::kQueued);
  EXPECT_THAT(store_->ListEvents(id)->at(2).message, HasSubstr("progress_timeout_s"));
}

TEST_F(SchedulerTest, CancellingARunningJobStopsItsGroup) {
  const int64_t id = Submit("cancel", 30);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(2, &sinks);
  scheduler_->RunOnce();
  auto cancelled = store_->CancelJob(id, "no longer needed");
  ASSERT_TRUE(cancelled.ok());
  scheduler_->JobCancelled(*cancelled);
  for (auto& sink : sinks) {
    auto stops = sink->Sent<StopOrderOut>();
    ASSERT_EQ(stops.size(), 1u);
    EXPECT_EQ(stops[0].job_id, "job-000001");
    EXPECT_EQ(stops[0].reason, StopReason::kCancelled);
    EXPECT_EQ(stops[0].message, "no longer needed");
  }
  // No more plans while stopping; progress until then is still accepted.
  const size_t chunks = sinks[0]->Sent<PlanChunkOut>().size();
  EXPECT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 5, {}).ok());
  EXPECT_EQ(sinks[0]->Sent<PlanChunkOut>().size(), chunks);
  EXPECT_TRUE(scheduler_->OnStopped(group, "job-000001", 5).ok());
  EXPECT_EQ(Job(id).state, JobState::kCancelled);
  EXPECT_TRUE(scheduler_->Groups().front().job_id.empty());
}

TEST_F(SchedulerTest, FailuresRetryWhileAttemptsRemainThenFail) {
  const int64_t id = Submit("flaky", 10);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    scheduler_->RunOnce();
    ASSERT_EQ(Job(id).state, JobState::kRunning) << attempt;
    EXPECT_TRUE(scheduler_->OnFailure(group, "job-000001", "disk full", 3, /*retryable=*/true).ok());
  }
  EXPECT_EQ(Job(id).state, JobState::kFailed);
  EXPECT_EQ(Job(id).error, "disk full");

  const int64_t bad = Submit("bad", 10);
  scheduler_->RunOnce();
  EXPECT_TRUE(scheduler_->OnFailure(group, "job-000002", "dataset: no such file", 0, false).ok());
  EXPECT_EQ(Job(bad).state, JobState::kFailed);
  EXPECT_EQ(Job(bad).attempts, 1);
}

TEST_F(SchedulerTest, UnplannableJobsFailAndTheGroupTakesTheNext) {
  NewJob broken{"broken", "train", Spec("broken", 10).replace(Spec("broken", 10).find("dataset: data"), 13,
                                                             "dataset: nowhere"),
                dir_, 10};
  const int64_t bad = store_->CreateJob(broken)->id;
  const int64_t good = Submit("good", 10);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  Group(1, &sinks);
  scheduler_->RunOnce();
  EXPECT_EQ(Job(bad).state, JobState::kFailed);
  EXPECT_THAT(Job(bad).error, HasSubstr("cannot plan"));
  EXPECT_EQ(Job(good).state, JobState::kRunning);
}

TEST_F(SchedulerTest, CurriculumStagesAreStreamedAndAnnouncedOnce) {
  const int64_t id = Submit("curriculum", 20, "curriculum: {stages: 3, steps_per_stage: 4}\n");
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  auto stages = sinks[0]->Sent<StageBoundaryOut>();
  ASSERT_EQ(stages.size(), 2u);  // chunks [0,4) and [4,8)
  EXPECT_EQ(stages[0].stage, 0);
  EXPECT_EQ(stages[0].start_step, 0);
  EXPECT_EQ(stages[1].stage, 1);
  EXPECT_EQ(stages[1].start_step, 4);
  // Each boundary precedes the chunk that starts at it.
  int index = 0;
  for (const auto& m : sinks[0]->sent) {
    if (std::holds_alternative<PlanChunkOut>(m) && std::get<PlanChunkOut>(m).first_step == 4) break;
    ++index;
  }
  ASSERT_TRUE(std::holds_alternative<StageBoundaryOut>(sinks[0]->sent[index - 1]));

  // The streamed pairs are the curriculum planner's: stage 0 only the easiest third.
  auto difficulty = plan::LoadDifficulty(dir_ + "/data", CurriculumDifficulty::kRankGap);
  ASSERT_TRUE(difficulty.ok());
  plan::CurriculumPlan reference({{40, 2, 2, 1, 7}, 3, 4}, *difficulty);
  auto chunks = sinks[0]->Sent<PlanChunkOut>();
  EXPECT_EQ(chunks[1].steps[0].micro_batches[1].pairs, reference.PairsFor(4, 0, 1).pairs);

  for (int64_t step = 1; step <= 9; ++step) ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", step, {}).ok());
  EXPECT_EQ(Gauge("align_curriculum_stage", "job-000001"), 2);
  std::vector<std::string> announced;
  const std::vector<JobEventRecord> events = *store_->ListEvents(id);
  for (const auto& e : events) {
    if (e.kind == "stage") announced.push_back(e.message);
  }
  EXPECT_EQ(announced, (std::vector<std::string>{"stage 0 of 3 starts at step 0", "stage 1 of 3 starts at step 4",
                                                 "stage 2 of 3 starts at step 8"}));

  // Lost after a checkpoint in stage 1: the next group hears which stage it
  // resumes in, and no stage is announced twice.
  ASSERT_TRUE(scheduler_->OnCheckpoint(group, "job-000001", 6, "/ckpt-6").ok());
  scheduler_->SessionEnded(group, 0, "gone");
  std::vector<std::shared_ptr<FakeSink>> next;
  const std::string second = Group(1, &next);
  scheduler_->RunOnce();
  auto resumed = next[0]->Sent<StageBoundaryOut>();
  ASSERT_GE(resumed.size(), 1u);
  EXPECT_EQ(resumed[0].stage, 1);
  EXPECT_EQ(resumed[0].start_step, 4);
  for (int64_t step = 7; step <= 10; ++step) ASSERT_TRUE(scheduler_->OnProgress(second, 0, "job-000001", step, {}).ok());
  int stage_events = 0;
  const std::vector<JobEventRecord> after = *store_->ListEvents(id);
  for (const auto& e : after) stage_events += e.kind == "stage";
  EXPECT_EQ(stage_events, 3);
}

TEST_F(SchedulerTest, RunningJobsOfAPreviousProcessAreRequeued) {
  const int64_t id = Submit("orphan", 10);
  ASSERT_TRUE(store_->TakeNextQueued("group-of-a-dead-coordinator").ok());
  ASSERT_TRUE(store_->RecordCheckpoint(id, 5, "/ckpt-5").ok());
  ASSERT_TRUE(scheduler_->RecoverAfterRestart().ok());
  EXPECT_EQ(Job(id).state, JobState::kQueued);
  EXPECT_EQ(Job(id).steps_done, 5);
  EXPECT_THAT(store_->ListEvents(id)->back().message, HasSubstr("resumes from step 5"));
}

// A job whose start takes the coordinator down (a bug, a spec that slips past
// every bound) would be requeued by each restart and take it down again: a
// restart that finds an attempt without progress counts it, and the attempt
// limit ends the loop.
TEST_F(SchedulerTest, AJobThatKeepsStoppingTheCoordinatorFailsAtTheAttemptLimit) {
  const int64_t id = Submit("fatal", 10);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_TRUE(store_->TakeNextQueued("group-of-a-dead-coordinator").ok());
    ASSERT_TRUE(scheduler_->RecoverAfterRestart().ok());
    EXPECT_EQ(Job(id).state, attempt < 3 ? JobState::kQueued : JobState::kFailed) << "attempt " << attempt;
  }
  EXPECT_THAT(Job(id).error, HasSubstr("max_attempts 3"));

  // An attempt that made progress is a restart, not a loop: requeued.
  const int64_t other = Submit("progressing", 10);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_TRUE(store_->TakeNextQueued("group-of-a-dead-coordinator").ok());
    ASSERT_TRUE(store_->RecordProgress(other, attempt * 2, {}).ok());
    ASSERT_TRUE(scheduler_->RecoverAfterRestart().ok());
    EXPECT_EQ(Job(other).state, JobState::kQueued) << "attempt " << attempt;
  }
}

// A healthy job that lost its groups after progress in earlier attempts has
// used its attempts; one restart while the next attempt starts is not a loop.
TEST_F(SchedulerTest, ARestartDoesNotFailAJobWhoseEarlierAttemptsProgressed) {
  const int64_t id = Submit("unlucky", 10);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    ASSERT_TRUE(store_->TakeNextQueued("group-" + std::to_string(attempt)).ok());
    ASSERT_TRUE(store_->RecordProgress(id, attempt * 2, {}).ok());
    ASSERT_TRUE(store_->RecordCheckpoint(id, attempt * 2, "/runs/unlucky/checkpoint-" + std::to_string(attempt * 2)).ok());
    ASSERT_TRUE(store_->InterruptGroup("group-" + std::to_string(attempt), "lease expired").ok());
    ASSERT_TRUE(store_->RequeueInterrupted().ok());
  }
  ASSERT_TRUE(store_->TakeNextQueued("group-4").ok());
  EXPECT_EQ(Job(id).attempts, 4);
  EXPECT_EQ(Job(id).last_checkpoint_attempt, 3);  // the attempt that wrote checkpoint-6
  ASSERT_TRUE(scheduler_->RecoverAfterRestart().ok());
  EXPECT_EQ(Job(id).state, JobState::kQueued);
  EXPECT_EQ(Job(id).restart_strikes, 1);
  // Two more restarts before any progress make three strikes in a row: failed.
  for (int restart = 2; restart <= 3; ++restart) {
    ASSERT_TRUE(store_->TakeNextQueued("group-4").ok());
    ASSERT_TRUE(scheduler_->RecoverAfterRestart().ok());
  }
  EXPECT_EQ(Job(id).state, JobState::kFailed);
  EXPECT_THAT(Job(id).error, HasSubstr("in each of its last 3 attempts"));
}

TEST_F(SchedulerTest, ProgressIsSavedAtMostOncePerIntervalButNeverLost) {
  SchedulerOptions options;
  options.progress_persist_interval = absl::Seconds(1);
  scheduler_ = std::make_unique<Scheduler>(store_.get(), registry_.get(), metrics_.get(), options);
  const int64_t id = Submit("throttled", 50);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  const int64_t revision = Job(id).revision;
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 1, {{"loss", 1.0}}).ok());
  EXPECT_EQ(Job(id).steps_done, 1);  // the first report is saved at once
  for (int64_t step = 2; step <= 5; ++step) {
    ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", step, {{"loss", 1.0 / step}}).ok());
  }
  EXPECT_EQ(Job(id).steps_done, 1);
  EXPECT_EQ(Job(id).revision, revision + 1);
  EXPECT_EQ(Gauge("align_train_step", "job-000001"), 5);  // Prometheus sees every step
  now_ms_ += 1000;
  scheduler_->RunOnce();  // the background tick saves what is due
  EXPECT_EQ(Job(id).steps_done, 5);
  EXPECT_DOUBLE_EQ(Job(id).metrics.at("loss"), 0.2);
  // A checkpoint, and the end of the job, save first.
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 8, {{"loss", 0.125}}).ok());
  ASSERT_TRUE(scheduler_->OnCheckpoint(group, "job-000001", 8, "/ckpt-8").ok());
  EXPECT_EQ(Job(id).steps_done, 8);
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 9, {{"loss", 0.1}}).ok());
  scheduler_->SessionEnded(group, 0, "gone");
  const JobRecord lost = Job(id);
  EXPECT_EQ(lost.state, JobState::kQueued);
  EXPECT_EQ(lost.steps_done, 8);  // back to the checkpoint, but step 9's metrics were kept until then
}

TEST_F(SchedulerTest, TheBackgroundThreadAssignsWithoutBeingAsked) {
  std::vector<std::shared_ptr<FakeSink>> sinks;
  Group(1, &sinks);
  scheduler_->Start();
  const int64_t id = Submit("async", 10);
  scheduler_->JobSubmitted();
  // Polled up to a deadline far beyond the thread's tick: a busy machine can
  // delay the thread, which is not what this test is about.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Job(id).state != JobState::kRunning && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  scheduler_->Stop();
}

// Rank 0 reports a job's final step, then its completion, on one session:
// once the job has succeeded, that step is on Prometheus and in the store.
TEST_F(SchedulerTest, WhenAJobHasSucceededItsFinalStepIsOnPrometheusAndInTheStore) {
  const int64_t id = Submit("final", 8);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 7, {{"loss", 0.5}, {"step_s", 0.25}}).ok());
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 8, {{"loss", 0.125}, {"step_s", 0.25}}).ok());
  ASSERT_TRUE(scheduler_->OnMetricBatch(group, 0, "job-000001", {{8, {{"heldout_implicit_accuracy", 0.75}}, true}}).ok());
  ASSERT_TRUE(scheduler_->OnCheckpoint(group, "job-000001", 8, "/runs/final/checkpoint-8").ok());
  ASSERT_TRUE(scheduler_->OnCompleted(group, "job-000001", 8, "/runs/final/checkpoint-8").ok());
  const JobRecord done = Job(id);
  ASSERT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.metrics_step, 8);
  EXPECT_DOUBLE_EQ(done.metrics.at("loss"), 0.125);
  EXPECT_DOUBLE_EQ(done.metrics.at("heldout_implicit_accuracy"), 0.75);
  EXPECT_EQ(Gauge("align_train_step", "job-000001"), 8);
  EXPECT_EQ(Gauge("align_train_loss", "job-000001"), 0.125);
  EXPECT_EQ(Gauge("align_eval_heldout_implicit_accuracy", "job-000001"), 0.75);
  EXPECT_EQ(HistogramCount("align_step_duration_seconds", "job-000001"), 2);
}

// An evaluation during training reaches Prometheus by job, reward and step:
// align_train_eval_reward{reward}, _reward_std{reward}, _diversity and the
// step they are of; the held-out gauges are left alone.
TEST_F(SchedulerTest, AnEvaluationDuringTrainingIsOnPrometheusByRewardAndStep) {
  const int64_t id = Submit("evaluated", 8);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 2, {{"loss", 0.5}, {"step_s", 0.25}}).ok());
  ASSERT_TRUE(scheduler_->OnMetricBatch(group, 0, "job-000001",
                                        {{2,
                                          {{"train_eval_reward/pickscore", 21.5},
                                           {"train_eval_reward_std/pickscore", 0.25},
                                           {"train_eval_reward/clipscore", 30.5},
                                           {"train_eval_reward_std/clipscore", 1.5},
                                           {"train_eval_diversity", 0.125}},
                                          true}})
                  .ok());
  EXPECT_EQ(GaugeWith("align_train_eval_reward", "job-000001", "reward", "pickscore"), 21.5);
  EXPECT_EQ(GaugeWith("align_train_eval_reward", "job-000001", "reward", "clipscore"), 30.5);
  EXPECT_EQ(GaugeWith("align_train_eval_reward_std", "job-000001", "reward", "clipscore"), 1.5);
  EXPECT_EQ(Gauge("align_train_eval_diversity", "job-000001"), 0.125);
  EXPECT_EQ(Gauge("align_train_eval_step", "job-000001"), 2);
  EXPECT_EQ(Gauge("align_eval_heldout_implicit_accuracy", "job-000001"), -1) << "no held-out evaluation ran";
  EXPECT_EQ(Gauge("align_train_step", "job-000001"), 2) << "an evaluation is not a step";

  ASSERT_TRUE(scheduler_->OnMetricBatch(group, 0, "job-000001", {{4, {{"train_eval_reward/pickscore", 22.0}}, true}}).ok());
  EXPECT_EQ(GaugeWith("align_train_eval_reward", "job-000001", "reward", "pickscore"), 22.0);
  EXPECT_EQ(Gauge("align_train_eval_step", "job-000001"), 4);
  EXPECT_DOUBLE_EQ(Job(id).metrics.at("train_eval_reward/pickscore"), 22.0);
}

// The coordinator restarted after the final step's report and checkpoint but
// before the completion: the completion reaches a process that never saw the
// step, and still brings it, with the values the store kept.
TEST_F(SchedulerTest, ACompletionAfterARestartPutsTheFinalStepOnPrometheus) {
  const int64_t id = Submit("restarted", 8);
  ASSERT_TRUE(store_->TakeNextQueued("group-of-a-dead-coordinator").ok());
  ASSERT_TRUE(store_->RecordProgress(id, 8, {{"loss", 0.125}, {"implicit_accuracy", 1.0}}).ok());
  ASSERT_TRUE(store_->RecordCheckpoint(id, 8, "/runs/restarted/checkpoint-8").ok());
  ASSERT_TRUE(scheduler_->RecoverAfterRestart().ok());
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  ASSERT_EQ(sinks[0]->Sent<AssignmentOut>().at(0).resume_step, 8);
  EXPECT_EQ(Gauge("align_train_step", "job-000001"), -1);  // this process has seen no step of it

  // The worker resumed at its final checkpoint: no step to train.
  ASSERT_TRUE(scheduler_->OnCompleted(group, "job-000001", 8, "").ok());
  EXPECT_EQ(Job(id).state, JobState::kSucceeded);
  EXPECT_EQ(Gauge("align_train_step", "job-000001"), 8);
  EXPECT_EQ(Gauge("align_train_loss", "job-000001"), 0.125);
  EXPECT_EQ(Gauge("align_train_implicit_accuracy", "job-000001"), 1.0);
}

// A worker resends its final step when it resumed there and trained none. A
// coordinator that already counted the step (it lost the group right after
// the final checkpoint) shows it again but counts it once.
TEST_F(SchedulerTest, AFinalStepReportedAgainByTheNextAttemptIsCountedOnce) {
  const int64_t id = Submit("again", 8);
  std::vector<std::shared_ptr<FakeSink>> first_sinks, second_sinks;
  const std::string first = Group(1, &first_sinks);
  scheduler_->RunOnce();
  ASSERT_TRUE(scheduler_->OnProgress(first, 0, "job-000001", 8, {{"loss", 0.125}, {"step_s", 0.5}, {"skipped", 1}}).ok());
  ASSERT_TRUE(scheduler_->OnCheckpoint(first, "job-000001", 8, "/runs/again/checkpoint-8").ok());
  scheduler_->SessionEnded(first, 0, "broken");
  ASSERT_EQ(Job(id).state, JobState::kQueued);

  const std::string second = Group(1, &second_sinks);
  scheduler_->RunOnce();
  ASSERT_EQ(second_sinks[0]->Sent<AssignmentOut>().at(0).resume_step, 8);
  ASSERT_TRUE(scheduler_->OnProgress(second, 0, "job-000001", 8, {{"loss", 0.125}, {"step_s", 0.5}, {"skipped", 1}}).ok());
  ASSERT_TRUE(scheduler_->OnCompleted(second, "job-000001", 8, "").ok());
  EXPECT_EQ(Job(id).state, JobState::kSucceeded);
  EXPECT_EQ(Gauge("align_train_step", "job-000001"), 8);
  EXPECT_EQ(HistogramCount("align_step_duration_seconds", "job-000001"), 1);
  EXPECT_EQ(Counter("align_train_skipped_steps_total"), 1);
}

// Metrics that arrive after the completion, for the final step, from the
// group that completed the job, are taken; anything else late is dropped
// (not refused): an older step, or a job that ended otherwise and may run
// elsewhere by now.
TEST_F(SchedulerTest, FinalStepMetricsAfterTheCompletionAreTakenFromTheCompletingGroupOnly) {
  const int64_t id = Submit("late", 8);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 7, {{"loss", 0.5}}).ok());
  ASSERT_TRUE(scheduler_->OnCompleted(group, "job-000001", 8, "/runs/late/checkpoint-8").ok());
  ASSERT_EQ(Job(id).state, JobState::kSucceeded);
  EXPECT_EQ(Gauge("align_train_step", "job-000001"), 8);  // the completion carries the step

  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 8, {{"loss", 0.125}}).ok());
  ASSERT_TRUE(scheduler_->OnMetricBatch(group, 0, "job-000001", {{8, {{"heldout_implicit_accuracy", 0.75}}, true}}).ok());
  EXPECT_EQ(Gauge("align_train_loss", "job-000001"), 0.125);
  EXPECT_EQ(Gauge("align_eval_heldout_implicit_accuracy", "job-000001"), 0.75);
  JobRecord done = Job(id);
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.steps_done, 8);
  EXPECT_EQ(done.metrics_step, 8);
  EXPECT_DOUBLE_EQ(done.metrics.at("loss"), 0.125);
  EXPECT_DOUBLE_EQ(done.metrics.at("heldout_implicit_accuracy"), 0.75);

  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 7, {{"loss", 9.0}}).ok());
  EXPECT_EQ(Gauge("align_train_loss", "job-000001"), 0.125);
  EXPECT_EQ(Gauge("align_train_step", "job-000001"), 8);
  EXPECT_DOUBLE_EQ(Job(id).metrics.at("loss"), 0.125);

  const int64_t stopped = Submit("stopped", 8);
  scheduler_->RunOnce();
  ASSERT_EQ(Job(stopped).state, JobState::kRunning);
  ASSERT_TRUE(scheduler_->OnStopped(group, "job-000002", 3).ok());  // preempted: requeued
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000002", 3, {{"loss", 1.0}}).ok());
  EXPECT_EQ(Gauge("align_train_loss", "job-000002"), -1);
  EXPECT_EQ(Job(stopped).metrics.count("loss"), 0u);

  // Taken late, the first job's series still go once the retention after its end has passed.
  now_ms_ += absl::ToInt64Milliseconds(absl::Minutes(10)) + 1;
  scheduler_->RunOnce();
  EXPECT_EQ(Gauge("align_train_loss", "job-000001"), -1);
}

// A prepare job: the coordinator plans the chunks, gives each rank a
// contiguous share, counts finished chunks as progress (failed items become
// events), and writes the report and manifest when the group completes.
TEST_F(SchedulerTest, PrepareJobsAreSplitOverRanksAndFinishedByTheCoordinator) {
  {
    std::ofstream jsonl(dir_ + "/pairs.jsonl");
    for (int i = 0; i < 10; ++i) {
      jsonl << "{\"caption\": \"c" << i << "\", \"image_0\": \"a.jpg\", \"image_1\": \"b.jpg\", \"label_0\": 1}\n";
    }
  }
  const std::string yaml =
      "name: prep\ntype: prepare\nmodel: model\ndataset: prepared\noutput: runs/prep\nseed: 3\n"
      "prepare: {input: pairs.jsonl, pairs_per_shard: 3, max_error_ratio: 0.2}\n";
  auto created = store_->CreateJob(NewJob{"prep", "prepare", yaml, dir_, 0});
  ASSERT_TRUE(created.ok()) << created.status();
  const int64_t id = created->id;
  const std::string job_id = FormatJobId(id);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(2, &sinks);
  scheduler_->RunOnce();

  const std::vector<std::vector<int64_t>> expected = {{0, 1}, {2, 3}};  // 10 items in chunks of 3: 4 chunks
  for (int rank = 0; rank < 2; ++rank) {
    ASSERT_EQ(sinks[rank]->Sent<AssignmentOut>().size(), 1u);
    auto chunks = sinks[rank]->Sent<WorkChunksOut>();
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0].positions, expected[rank]);
    EXPECT_EQ(chunks[0].total_chunks, 4);
    EXPECT_TRUE(sinks[rank]->Sent<PlanChunkOut>().empty());
  }
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  EXPECT_EQ(Job(id).total_steps, 4);
  EXPECT_THAT(EventKinds(id), ::testing::Contains("planned"));

  const JobSpec spec = ResolveJobPaths(*ParseJobSpec(yaml), dir_);
  absl::StatusOr<prepare::PrepareLayout> layout = prepare::LayOutPrepareJob(spec);
  ASSERT_TRUE(layout.ok()) << layout.status();
  const data::PairShape shape{4, 4, 4, 2, 8, 0};
  // A report for a chunk whose record is not there is refused.
  EXPECT_EQ(scheduler_->OnChunkDone(group, 1, job_id, 2, 3, 0).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(testing::WriteFinishedChunk(spec, *layout, 0, /*failed_items=*/1, shape).ok());
  ASSERT_TRUE(scheduler_->OnChunkDone(group, 0, job_id, 0, 2, 1).ok());
  EXPECT_EQ(Job(id).steps_done, 1);
  EXPECT_THAT(EventKinds(id), ::testing::Contains("items_failed"));
  for (size_t position : {1, 2, 3}) {
    ASSERT_TRUE(testing::WriteFinishedChunk(spec, *layout, position, 0, shape).ok());
    ASSERT_TRUE(scheduler_->OnChunkDone(group, position < 2 ? 0 : 1, job_id, position, 3, 0).ok());
  }
  EXPECT_EQ(Job(id).steps_done, 4);
  EXPECT_EQ(Job(id).metrics.at("pairs"), 9);

  ASSERT_TRUE(scheduler_->OnCompleted(group, job_id, 2, "").ok());
  const JobRecord done = Job(id);
  EXPECT_EQ(done.state, JobState::kSucceeded) << done.error;
  EXPECT_THAT(EventKinds(id), ::testing::Contains("report"));
  absl::StatusOr<data::Manifest> manifest = data::LoadManifest(dir_ + "/prepared");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->splits.at("train").pairs, 9);
  // Late chunk reports for the finished job are dropped, not refused.
  EXPECT_TRUE(scheduler_->OnChunkDone(group, 1, job_id, 3, 3, 0).ok());
}

TEST_F(SchedulerTest, APrepareJobWhoseInputVanishedFailsWithTheReason) {
  const std::string yaml =
      "name: prep\ntype: prepare\nmodel: model\ndataset: prepared\noutput: runs/prep\n"
      "prepare: {input: gone.jsonl}\n";
  auto created = store_->CreateJob(NewJob{"prep", "prepare", yaml, dir_, 0});
  ASSERT_TRUE(created.ok());
  std::vector<std::shared_ptr<FakeSink>> sinks;
  Group(1, &sinks);
  scheduler_->RunOnce();
  const JobRecord job = Job(created->id);
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_THAT(job.error, HasSubstr("gone.jsonl"));
  EXPECT_TRUE(sinks[0]->Sent<AssignmentOut>().empty());
}

// A group that closes its sessions while idle (it ran its last job) has left;
// one whose session breaks, or that closes it while holding a job, is lost.
TEST_F(SchedulerTest, AnIdleGroupClosingItsSessionLeavesWithoutCountingAsLost) {
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string idle = Group(1, &sinks);
  scheduler_->RunOnce();
  scheduler_->SessionEnded(idle, 0, "the worker closed it", /*closed_by_worker=*/true);
  EXPECT_EQ(Counter("align_worker_groups_lost_total"), 0);
  EXPECT_TRUE(scheduler_->Groups().empty());

  const std::string broken = Group(1, &sinks);
  scheduler_->SessionEnded(broken, 0, "cancelled or broken");
  EXPECT_EQ(Counter("align_worker_groups_lost_total"), 1);

  const int64_t id = Submit("a", 8);
  const std::string busy = Group(1, &sinks);
  scheduler_->RunOnce();
  ASSERT_EQ(Job(id).state, JobState::kRunning);
  scheduler_->SessionEnded(busy, 0, "the worker closed it", /*closed_by_worker=*/true);
  EXPECT_EQ(Counter("align_worker_groups_lost_total"), 2);
  EXPECT_EQ(Job(id).state, JobState::kQueued);  // requeued
}

// Another process holds the database's write lock while the group completes
// its job: the completion's writes wait, and land in order on the next tick.
TEST_F(SchedulerTest, WritesThatFailWhileTheDatabaseIsBusyLandOnALaterTick) {
  scheduler_.reset();
  store_.reset();
  JobStoreOptions store_options;
  store_options.now_ms = [this] { return now_ms_.load(); };
  store_options.busy_timeout_ms = 10;
  auto store = JobStore::Open(dir_ + "/coordinator.db", store_options);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = std::move(*store);
  SchedulerOptions options;
  options.progress_persist_interval = absl::ZeroDuration();
  scheduler_ = std::make_unique<Scheduler>(store_.get(), registry_.get(), metrics_.get(), options);
  const int64_t id = Submit("busy", 8);
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 8, {{"loss", 0.125}}).ok());

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/coordinator.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  ASSERT_TRUE(scheduler_->OnCompleted(group, "job-000001", 8, "/runs/busy/checkpoint-8").ok());
  scheduler_->RunOnce();  // still locked: nothing lands, nothing is lost
  EXPECT_EQ(Job(id).state, JobState::kRunning);
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);

  scheduler_->RunOnce();
  const JobRecord done = Job(id);
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.last_checkpoint_step, 8);
  EXPECT_EQ(EventKinds(id), (std::vector<std::string>{"submitted", "started", "checkpoint", "succeeded"}));
}

// ---- job chains: a job that waits for others is held until they succeed ----

class SchedulerChainTest : public SchedulerTest {
 protected:
  // Submits through the JobManager, as JobService does (no path checks: the
  // test's model folder is a name only).
  std::vector<JobRecord> SubmitChain(const std::vector<std::string>& specs) {
    JobManagerOptions options;
    options.spec_check.check_paths = false;
    options.on_submitted = [this](const JobRecord&) { scheduler_->JobSubmitted(); };
    JobManager manager(store_.get(), options);
    absl::StatusOr<std::vector<JobRecord>> jobs = manager.SubmitJobs(specs, dir_);
    EXPECT_TRUE(jobs.ok()) << jobs.status();
    return jobs.ok() ? *jobs : std::vector<JobRecord>();
  }
  void WithoutReleasedPathChecks() {
    SchedulerOptions options;
    options.plan_ahead_steps = 8;
    options.chunk_steps = 4;
    options.progress_persist_interval = absl::ZeroDuration();
    options.check_released_paths = false;
    scheduler_ = std::make_unique<Scheduler>(store_.get(), registry_.get(), metrics_.get(), options);
  }
};

TEST_F(SchedulerChainTest, AWaitingJobRunsOnlyAfterItsDependencySucceeded) {
  WithoutReleasedPathChecks();
  std::string train = Spec("train", 8, "after: [prep]\n");
  train.replace(train.find("dataset: data"), 13, "dataset: ${jobs.prep.dataset}");
  const std::vector<JobRecord> jobs = SubmitChain({Spec("prep", 8), train});
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[1].spec_yaml.find("${jobs."), std::string::npos);
  EXPECT_THAT(jobs[1].spec_yaml, HasSubstr("dataset: " + dir_ + "/data\n"));
  // Two idle groups: the waiting job goes to neither.
  std::vector<std::shared_ptr<FakeSink>> sinks, spare;
  Group(1, &sinks);
  Group(1, &spare);
  scheduler_->RunOnce();
  scheduler_->RunOnce();
  EXPECT_EQ(Job(1).state, JobState::kRunning);
  EXPECT_EQ(Job(2).state, JobState::kQueued);
  EXPECT_TRUE(IsWaiting(Job(2)));
  // Whichever group took job 1, neither was handed job 2.
  std::vector<AssignmentOut> assigned = sinks[0]->Sent<AssignmentOut>();
  for (const AssignmentOut& a : spare[0]->Sent<AssignmentOut>()) assigned.push_back(a);
  ASSERT_EQ(assigned.size(), 1u);
  EXPECT_EQ(assigned[0].job_id, "job-000001");

  ASSERT_TRUE(scheduler_->OnProgress(Job(1).group_id, 0, "job-000001", 8, {{"loss", 0.1}}).ok());
  ASSERT_TRUE(scheduler_->OnCompleted(Job(1).group_id, "job-000001", 8, "").ok());
  EXPECT_FALSE(IsWaiting(Job(2)));
  scheduler_->RunOnce();
  EXPECT_EQ(Job(2).state, JobState::kRunning);
  EXPECT_EQ(EventKinds(2), (std::vector<std::string>{"submitted", "ready", "started"}));
}

TEST_F(SchedulerChainTest, AFailedDependencyFailsTheWaitingJobWithItsReason) {
  WithoutReleasedPathChecks();
  SubmitChain({Spec("prep", 8), Spec("train", 8, "after: [prep]\n"), Spec("eval", 8, "after: [train]\n")});
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  ASSERT_TRUE(scheduler_->OnFailure(group, "job-000001", "dataset: no such file", 0, /*retryable=*/false).ok());
  EXPECT_EQ(Job(1).state, JobState::kFailed);
  EXPECT_EQ(Job(2).state, JobState::kFailed);
  EXPECT_THAT(Job(2).error, HasSubstr("dependency job-000001 (prep) failed: dataset: no such file"));
  EXPECT_EQ(Job(3).state, JobState::kFailed);
  EXPECT_THAT(Job(3).error, HasSubstr("dependency job-000002 (train) failed: dependency job-000001 (prep)"));
  scheduler_->RunOnce();
  EXPECT_EQ(sinks[0]->Sent<AssignmentOut>().size(), 1u);
}

TEST_F(SchedulerChainTest, AReleasedJobsInputsAreCheckedWhenAGroupTakesIt) {
  // check_released_paths is on: "model" names no model folder in dir_.
  SubmitChain({Spec("prep", 8), Spec("train", 8, "after: [prep]\n")});
  std::vector<std::shared_ptr<FakeSink>> sinks;
  const std::string group = Group(1, &sinks);
  scheduler_->RunOnce();
  ASSERT_TRUE(scheduler_->OnProgress(group, 0, "job-000001", 8, {}).ok());
  ASSERT_TRUE(scheduler_->OnCompleted(group, "job-000001", 8, "").ok());
  scheduler_->RunOnce();
  EXPECT_EQ(Job(2).state, JobState::kFailed);
  EXPECT_THAT(Job(2).error, HasSubstr("its inputs, checked once the jobs it waited for had succeeded: model"));
}

}  // namespace
}  // namespace align::coordinator
