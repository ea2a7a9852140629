// The coordinator's SQLite job store: the state machine, persistence across a
// reopen of a real file, event order, and the queue operations the scheduler
// builds on (TakeNextQueued, InterruptGroup, RequeueInterrupted).

#include "coordinator/core/job_store.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "coordinator/core/job_id.h"
#include "coordinator/core/job_state.h"
#include "coordinator/core/progress.h"
#include "coordinator/core/store_schema.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace align::coordinator {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using align::testing::TempDir;

NewJob MakeJob(const std::string& name, int64_t steps = 100) {
  NewJob job;
  job.name = name;
  job.type = "train";
  job.spec_yaml = "name: " + name + "\n";
  job.base_dir = "/tmp";
  job.total_steps = steps;
  return job;
}

class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    store_.reset();
    JobStoreOptions options;
    options.now_ms = [this] { return now_ms_.load(); };
    auto store = JobStore::Open(dir_.File("coordinator.db"), options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  // Closes the store and runs `sql` on its file directly (to turn it back
  // into an older schema's file).
  void RewriteFile(const std::string& sql) {
    store_.reset();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.File("coordinator.db").c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  std::vector<std::string> EventKinds(int64_t id) {
    auto events = store_->ListEvents(id);
    EXPECT_TRUE(events.ok()) << events.status();
    std::vector<std::string> kinds;
    for (const auto& event : *events) kinds.push_back(event.kind);
    return kinds;
  }

  TempDir dir_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
  std::unique_ptr<JobStore> store_;
};

TEST(JobStateTest, TransitionTable) {
  EXPECT_TRUE(CanTransition(JobState::kQueued, JobState::kRunning));
  EXPECT_TRUE(CanTransition(JobState::kQueued, JobState::kCancelled));
  EXPECT_TRUE(CanTransition(JobState::kRunning, JobState::kInterrupted));
  EXPECT_TRUE(CanTransition(JobState::kInterrupted, JobState::kQueued));
  EXPECT_FALSE(CanTransition(JobState::kQueued, JobState::kSucceeded));
  EXPECT_FALSE(CanTransition(JobState::kInterrupted, JobState::kRunning));
  for (JobState final_state : {JobState::kSucceeded, JobState::kFailed, JobState::kCancelled}) {
    EXPECT_TRUE(IsFinal(final_state));
    for (JobState to : kAllJobStates) EXPECT_FALSE(CanTransition(final_state, to));
  }
  for (JobState state : kAllJobStates) EXPECT_EQ(ParseJobState(JobStateName(state)), state);
  EXPECT_EQ(ParseJobState("done"), std::nullopt);
}

TEST(JobIdTest, FormatsAndParses) {
  EXPECT_EQ(FormatJobId(42), "job-000042");
  EXPECT_EQ(FormatJobId(1234567), "job-1234567");
  EXPECT_EQ(*ParseJobId("job-000042"), 42);
  EXPECT_EQ(*ParseJobId("job-42"), 42);
  EXPECT_EQ(*ParseJobId("42"), 42);
  for (const char* bad : {"", "job-", "job-x", "job--1", "job-0", "jobs-1", "1e3", "99999999999999999999"}) {
    absl::StatusOr<int64_t> id = ParseJobId(bad);
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    if (!id.ok()) EXPECT_THAT(id.status().message(), HasSubstr("job_id"));
  }
}

TEST_F(JobStoreTest, CreatesQueuedJobsWithIncreasingIds) {
  auto a = store_->CreateJob(MakeJob("a", 10));
  auto b = store_->CreateJob(MakeJob("b", 20));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id, 1);
  EXPECT_EQ(b->id, 2);
  EXPECT_EQ(a->state, JobState::kQueued);
  EXPECT_EQ(a->total_steps, 10);
  EXPECT_EQ(a->created_ms, now_ms_.load());
  EXPECT_EQ(a->spec_yaml, "name: a\n");
  EXPECT_EQ(a->base_dir, "/tmp");
  EXPECT_EQ(a->revision, 1);

  auto got = store_->GetJob(2);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->name, "b");
  EXPECT_EQ(store_->GetJob(3).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(store_->GetJob(3).status().message()), HasSubstr("job-000003"));
}

TEST_F(JobStoreTest, ListsFilterByStateAndKeepTheNewest) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->CreateJob(MakeJob("j" + std::to_string(i))).ok());
  ASSERT_TRUE(store_->CancelJob(2, "").ok());
  ASSERT_TRUE(store_->CancelJob(4, "").ok());

  auto all = store_->ListJobs({});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ(all->front().id, 1);  // oldest first
  EXPECT_EQ(all->front().spec_yaml, "");  // listings leave the spec out

  JobFilter cancelled;
  cancelled.states = {JobState::kCancelled};
  auto only = store_->ListJobs(cancelled);
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->size(), 2u);
  EXPECT_EQ((*only)[0].id, 2);
  EXPECT_EQ((*only)[1].id, 4);

  JobFilter newest;
  newest.limit = 2;
  newest.include_spec = true;
  auto last_two = store_->ListJobs(newest);
  ASSERT_TRUE(last_two.ok());
  ASSERT_EQ(last_two->size(), 2u);
  EXPECT_EQ((*last_two)[0].id, 4);
  EXPECT_EQ((*last_two)[1].id, 5);
  EXPECT_EQ((*last_two)[1].spec_yaml, "name: j4\n");

  auto counts = store_->CountByState();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->at(JobState::kQueued), 3);
  EXPECT_EQ(counts->at(JobState::kCancelled), 2);
  EXPECT_EQ(counts->at(JobState::kRunning), 0);
}

TEST_F(JobStoreTest, CancelIsValidatedAgainstTheState) {
  ASSERT_TRUE(store_->CreateJob(MakeJob("a")).ok());
  now_ms_ += 5000;
  auto cancelled = store_->CancelJob(1, "no longer needed");
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state, JobState::kCancelled);
  EXPECT_EQ(cancelled->error, "no longer needed");
  EXPECT_EQ(cancelled->finished_ms, now_ms_.load());
  EXPECT_EQ(cancelled->revision, 2);

  auto again = store_->CancelJob(1, "");
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(again.status().message(), "cannot cancel job-000001: it has already been cancelled");

  // A succeeded job cannot be cancelled either, and says so.
  ASSERT_TRUE(store_->CreateJob(MakeJob("b")).ok());
  ASSERT_TRUE(store_->TakeNextQueued("g1").ok());
  ASSERT_TRUE(store_->Transition(2, JobState::kSucceeded, "done").ok());
  auto late = store_->CancelJob(2, "");
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(late.status().message(), "cannot cancel job-000002: it has already succeeded");
  EXPECT_EQ(store_->GetJob(2)->state, JobState::kSucceeded);  // nothing changed

  // Other illegal moves name both states.
  ASSERT_TRUE(store_->CreateJob(MakeJob("c")).ok());
  auto skip = store_->Transition(3, JobState::kSucceeded, "");
  EXPECT_EQ(skip.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(skip.status().message()), HasSubstr("queued and cannot become succeeded"));
  // Running and requeueing go through the queue operations only.
  EXPECT_EQ(store_->Transition(3, JobState::kRunning, "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->CancelJob(99, "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobStoreTest, EventsAreOrderedAndIncremental) {
  ASSERT_TRUE(store_->CreateJob(MakeJob("a", 100)).ok());
  ASSERT_TRUE(store_->CreateJob(MakeJob("other")).ok());
  ASSERT_TRUE(store_->TakeNextQueued("g1").ok());
  ASSERT_TRUE(store_->RecordCheckpoint(1, 40, "/runs/a/checkpoint-40").ok());
  ASSERT_TRUE(store_->AppendEvent(1, "stage", "stage 1 starts at step 40").ok());
  ASSERT_TRUE(store_->CancelJob(2, "").ok());
  ASSERT_TRUE(store_->Transition(1, JobState::kFailed, "NaN loss for 5 steps").ok());

  EXPECT_THAT(EventKinds(1), ElementsAre("submitted", "started", "checkpoint", "stage", "failed"));
  EXPECT_THAT(EventKinds(2), ElementsAre("submitted", "cancelled"));
  auto events = store_->ListEvents(1);
  ASSERT_TRUE(events.ok());
  for (size_t i = 1; i < events->size(); ++i) EXPECT_LT((*events)[i - 1].seq, (*events)[i].seq);
  EXPECT_EQ(events->back().message, "NaN loss for 5 steps");
  EXPECT_EQ(events->at(2).message, "checkpoint at step 40: /runs/a/checkpoint-40");

  auto later = store_->ListEvents(1, (*events)[2].seq);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->size(), 2u);
  EXPECT_EQ(later->front().kind, "stage");
  EXPECT_EQ(store_->ListEvents(7).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->AppendEvent(7, "x", "y").code(), absl::StatusCode::kNotFound);
}

TEST_F(JobStoreTest, PersistsAcrossReopen) {
  ASSERT_TRUE(store_->CreateJob(MakeJob("a", 10)).ok());
  ASSERT_TRUE(store_->CreateJob(MakeJob("b", 20)).ok());
  ASSERT_TRUE(store_->CreateJob(MakeJob("c", 30)).ok());
  ASSERT_TRUE(store_->CancelJob(2, "user").ok());
  ASSERT_TRUE(store_->TakeNextQueued("g1").ok());
  ASSERT_TRUE(store_->RecordProgress(1, 7, {{"loss", 0.5}, {"implicit_accuracy", 0.75}}).ok());
  ASSERT_TRUE(store_->CancelJob(3, "").ok());
  // Ids are never reused, even for the newest row after a reopen.
  ASSERT_TRUE(store_->CreateJob(MakeJob("d")).ok());

  Reopen();
  auto jobs = store_->ListJobs({});
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 4u);
  EXPECT_EQ((*jobs)[0].state, JobState::kRunning);
  EXPECT_EQ((*jobs)[0].steps_done, 7);
  EXPECT_EQ((*jobs)[0].group_id, "g1");
  EXPECT_DOUBLE_EQ((*jobs)[0].metrics.at("loss"), 0.5);
  EXPECT_EQ((*jobs)[1].state, JobState::kCancelled);
  EXPECT_EQ((*jobs)[1].error, "user");
  EXPECT_EQ((*jobs)[3].state, JobState::kQueued);
  EXPECT_THAT(EventKinds(2), ElementsAre("submitted", "cancelled"));
  auto next = store_->CreateJob(MakeJob("e"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->id, 5);
}

TEST_F(JobStoreTest, FileIsWalWithASchemaVersion) {
  ASSERT_TRUE(store_->CreateJob(MakeJob("a")).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("coordinator.db").c_str(), &db), SQLITE_OK);
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    std::string value;
    if (sqlite3_step(stmt) == SQLITE_ROW) value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return value;
  };
  EXPECT_EQ(scalar("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(scalar("SELECT version FROM schema_version"), std::to_string(kSchemaVersion));
  EXPECT_EQ(scalar("SELECT state FROM jobs WHERE id = 1"), "queued");

  // A file from a newer coordinator is refused, not misread.
  store_.reset();
  ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = JobStore::Open(dir_.File("coordinator.db"));
  EXPECT_EQ(newer.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(newer.status().message()), HasSubstr("schema version 99"));
}

TEST_F(JobStoreTest, AVersionOneFileIsMigratedKeepingItsJobs) {
  ASSERT_TRUE(store_->CreateJob(MakeJob("old")).ok());
  // Back to the first schema: no owner, no submit key (and nothing of later versions).
  RewriteFile(
      "ALTER TABLE jobs DROP COLUMN restart_strikes; ALTER TABLE jobs DROP COLUMN last_checkpoint_attempt; "
      "DROP TABLE job_dependencies; DROP INDEX jobs_by_submission; "
      "ALTER TABLE jobs DROP COLUMN submission_id; "
      "DROP INDEX jobs_by_submit_key; ALTER TABLE jobs DROP COLUMN submit_key; "
      "ALTER TABLE jobs DROP COLUMN owner; UPDATE schema_version SET version = 1");
  auto reopened = JobStore::Open(dir_.File("coordinator.db"));
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  absl::StatusOr<JobRecord> old = (*reopened)->GetJob(1);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->name, "old");
  EXPECT_EQ(old->owner, "");
  NewJob keyed = MakeJob("new");
  keyed.owner = "bob";
  keyed.submit_key = "k";
  absl::StatusOr<JobRecord> first = (*reopened)->CreateJob(keyed);
  absl::StatusOr<JobRecord> again = (*reopened)->CreateJob(keyed);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(first->owner, "bob");
}

TEST_F(JobStoreTest, TakeNextQueuedIsFifoAndSkipsOtherStates) {
  for (const char* name : {"a", "b", "c"}) ASSERT_TRUE(store_->CreateJob(MakeJob(name)).ok());
  ASSERT_TRUE(store_->CancelJob(2, "").ok());

  auto first = store_->TakeNextQueued("g1");
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->id, 1);
  EXPECT_EQ((*first)->state, JobState::kRunning);
  EXPECT_EQ((*first)->group_id, "g1");
  EXPECT_EQ((*first)->attempts, 1);
  EXPECT_EQ((*first)->started_ms, now_ms_.load());
  EXPECT_EQ((*first)->spec_yaml, "name: a\n");  // the worker needs the spec

  auto second = store_->TakeNextQueued("g2");
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->id, 3);
  auto none = store_->TakeNextQueued("g3");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(store_->TakeNextQueued("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(JobStoreTest, ConcurrentTakersNeverShareAJob) {
  constexpr int kJobs = 40;
  for (int i = 0; i < kJobs; ++i) ASSERT_TRUE(store_->CreateJob(MakeJob("j" + std::to_string(i))).ok());
  std::vector<std::vector<int64_t>> taken(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      while (true) {
        auto job = store_->TakeNextQueued("g" + std::to_string(t));
        if (!job.ok() || !job->has_value()) return;
        taken[t].push_back((*job)->id);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<int64_t> all;
  size_t total = 0;
  for (const auto& ids : taken) {
    total += ids.size();
    all.insert(ids.begin(), ids.end());
  }
  EXPECT_EQ(total, static_cast<size_t>(kJobs));
  EXPECT_EQ(all.size(), static_cast<size_t>(kJobs));
}

TEST_F(JobStoreTest, LostGroupsJobsAreRequeuedFromTheirCheckpoint) {
  ASSERT_TRUE(store_->CreateJob(MakeJob("a", 100)).ok());
  ASSERT_TRUE(store_->CreateJob(MakeJob("b", 100)).ok());
  ASSERT_TRUE(store_->TakeNextQueued("g1").ok());
  ASSERT_TRUE(store_->TakeNextQueued("g2").ok());
  ASSERT_TRUE(store_->RecordCheckpoint(1, 40, "/runs/a/checkpoint-40").ok());
  ASSERT_TRUE(store_->RecordProgress(1, 55, {{"loss", 0.3}}).ok());

  auto interrupted = store_->InterruptGroup("g1", "no heartbeat for 30 s");
  ASSERT_TRUE(interrupted.ok()) << interrupted.status();
  ASSERT_EQ(interrupted->size(), 1u);
  EXPECT_EQ((*interrupted)[0].id, 1);
  EXPECT_EQ((*interrupted)[0].state, JobState::kInterrupted);
  EXPECT_EQ(store_->GetJob(2)->state, JobState::kRunning);  // the other group's job is untouched
  // Reports from the lost group no longer land.
  EXPECT_EQ(store_->RecordProgress(1, 56, {}).status().code(), absl::StatusCode::kFailedPrecondition);

  auto requeued = store_->RequeueInterrupted();
  ASSERT_TRUE(requeued.ok()) << requeued.status();
  ASSERT_EQ(requeued->size(), 1u);
  EXPECT_EQ((*requeued)[0].state, JobState::kQueued);
  EXPECT_EQ((*requeued)[0].steps_done, 40);  // steps after the checkpoint are redone
  EXPECT_EQ((*requeued)[0].last_checkpoint_step, 40);
  EXPECT_EQ((*requeued)[0].last_checkpoint_path, "/runs/a/checkpoint-40");

  auto again = store_->TakeNextQueued("g3");
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->id, 1);
  EXPECT_EQ((*again)->attempts, 2);
  EXPECT_EQ((*again)->group_id, "g3");
  EXPECT_EQ((*again)->run_start_step, 40);
  EXPECT_THAT(EventKinds(1), ElementsAre("submitted", "started", "checkpoint", "interrupted", "requeued", "started"));
  auto events = store_->ListEvents(1);
  EXPECT_THAT(events->back().message, HasSubstr("resuming from step 40"));
  EXPECT_THAT(events->at(3).message, HasSubstr("no heartbeat for 30 s"));
  auto nothing = store_->RequeueInterrupted();
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());
}

TEST_F(JobStoreTest, ProgressKeepsTheLatestMetricsAndGivesAnEta) {
  ASSERT_TRUE(store_->CreateJob(MakeJob("a", 110)).ok());
  EXPECT_EQ(store_->RecordProgress(1, 1, {}).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(store_->TakeNextQueued("g1").ok());
  const int64_t start = now_ms_.load();

  now_ms_ += 20'000;
  ASSERT_TRUE(store_->RecordProgress(1, 10, {{"loss", 0.69}, {"implicit_accuracy", 0.5}, {"pairs_per_s", 8.0},
                                             {"grad_norm", NAN}})
                  .ok());
  // A late message about an older step changes nothing.
  auto job = store_->RecordProgress(1, 9, {{"loss", 5.0}});
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->steps_done, 10);
  EXPECT_DOUBLE_EQ(job->metrics.at("loss"), 0.69);
  EXPECT_TRUE(std::isnan(job->metrics.at("grad_norm")));

  ProgressView view = ComputeProgress(*job, start + 20'000);
  EXPECT_EQ(view.step, 10);
  EXPECT_EQ(view.total_steps, 110);
  EXPECT_DOUBLE_EQ(*view.loss, 0.69);
  EXPECT_DOUBLE_EQ(*view.implicit_accuracy, 0.5);
  EXPECT_DOUBLE_EQ(*view.pairs_per_s, 8.0);
  EXPECT_DOUBLE_EQ(*view.eta_seconds, 100 * 2.0);  // 2 s a step so far

  // The workers' own step time wins over the wall-clock average.
  job = store_->RecordProgress(1, 20, {{"step_s", 0.5}});
  ASSERT_TRUE(job.ok());
  view = ComputeProgress(*job, start + 30'000);
  EXPECT_DOUBLE_EQ(*view.eta_seconds, 90 * 0.5);

  ASSERT_TRUE(store_->Transition(1, JobState::kSucceeded, "").ok());
  EXPECT_FALSE(ComputeProgress(*store_->GetJob(1), start).eta_seconds.has_value());
}

TEST_F(JobStoreTest, ChangesWakeWatchers) {
  const uint64_t before = store_->changes().version();
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(store_->CreateJob(MakeJob("a")).ok());
  });
  const uint64_t after = store_->changes().WaitForChange(before, absl::Seconds(10));
  writer.join();
  EXPECT_NE(after, before);
  // A failed change does not wake anyone.
  const uint64_t now = store_->changes().version();
  EXPECT_FALSE(store_->CancelJob(42, "").ok());
  EXPECT_EQ(store_->changes().version(), now);
}

// ---- job chains: jobs that wait for others ----

NewSubmission Chain(const std::vector<std::string>& names) {
  NewSubmission submission;
  for (const std::string& name : names) submission.jobs.push_back(MakeJob(name));
  return submission;
}

std::vector<std::string> DependencyStates(const JobRecord& job) {
  std::vector<std::string> states;
  for (const JobDependency& dependency : job.after) {
    states.push_back(FormatJobId(dependency.id) + " " + JobStateName(dependency.state));
  }
  return states;
}

TEST_F(JobStoreTest, AChainIsHeldUntilItsDependenciesSucceed) {
  NewSubmission chain = Chain({"gen", "score", "train"});
  chain.jobs[1].after_new = {0};
  chain.jobs[2].after_new = {0, 1};
  absl::StatusOr<std::vector<JobRecord>> created = store_->CreateJobs(chain);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->size(), 3u);
  EXPECT_THAT(DependencyStates((*created)[2]), ElementsAre("job-000001 queued", "job-000002 queued"));
  EXPECT_TRUE(IsWaiting((*created)[2]));
  EXPECT_FALSE(IsWaiting((*created)[0]));
  auto events = store_->ListEvents(3);
  ASSERT_TRUE(events.ok());
  EXPECT_THAT(events->front().message, HasSubstr("runs after job-000001, job-000002"));

  // An unrelated job submitted later is not held behind the chain.
  ASSERT_TRUE(store_->CreateJob(MakeJob("other")).ok());
  const int64_t revision = store_->GetJob(2)->revision;
  auto first = store_->TakeNextQueued("g1");
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->id, 1);
  auto second = store_->TakeNextQueued("g2");
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ((*second)->id, 4);
  auto none = store_->TakeNextQueued("g3");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  // A dependency's start shows on the job that waits for it.
  EXPECT_GT(store_->GetJob(2)->revision, revision);

  // Held state lives in the file: a restarted coordinator holds them too.
  Reopen();
  EXPECT_THAT(DependencyStates(*store_->GetJob(2)), ElementsAre("job-000001 running"));
  ASSERT_TRUE(store_->Transition(1, JobState::kSucceeded, "").ok());
  EXPECT_THAT(EventKinds(2), ElementsAre("submitted", "ready"));
  EXPECT_THAT(EventKinds(3), ElementsAre("submitted"));  // still waits for score
  auto score = store_->TakeNextQueued("g1");
  ASSERT_TRUE(score.ok() && score->has_value());
  EXPECT_EQ((*score)->id, 2);
  ASSERT_TRUE(store_->Transition(2, JobState::kSucceeded, "").ok());
  auto train = store_->TakeNextQueued("g1");
  ASSERT_TRUE(train.ok() && train->has_value());
  EXPECT_EQ((*train)->id, 3);
  EXPECT_THAT(DependencyStates(**train), ElementsAre("job-000001 succeeded", "job-000002 succeeded"));
}

TEST_F(JobStoreTest, AFailedDependencyFailsTheJobsThatWaitForItTransitively) {
  NewSubmission chain = Chain({"gen", "score", "train", "side"});
  chain.jobs[1].after_new = {0};
  chain.jobs[2].after_new = {1};
  ASSERT_TRUE(store_->CreateJobs(chain).ok());
  ASSERT_TRUE(store_->TakeNextQueued("g1").ok());
  auto failed = store_->Transition(1, JobState::kFailed, "rank 0: out of memory");
  ASSERT_TRUE(failed.ok()) << failed.status();
  auto score = store_->GetJob(2);
  auto train = store_->GetJob(3);
  ASSERT_TRUE(score.ok() && train.ok());
  EXPECT_EQ(score->state, JobState::kFailed);
  EXPECT_EQ(score->error, "dependency job-000001 (gen) failed: rank 0: out of memory");
  EXPECT_EQ(train->state, JobState::kFailed);
  EXPECT_EQ(train->error,
            "dependency job-000002 (score) failed: dependency job-000001 (gen) failed: rank 0: out of memory");
  EXPECT_EQ(store_->GetJob(4)->state, JobState::kQueued);  // not in the chain's path
}

TEST_F(JobStoreTest, CancellingAMemberCancelsOnlyItAndTheJobsThatWaitForIt) {
  NewSubmission chain = Chain({"gen", "score", "train"});
  chain.jobs[1].after_new = {0};
  chain.jobs[2].after_new = {1};
  ASSERT_TRUE(store_->CreateJobs(chain).ok());
  ASSERT_TRUE(store_->CancelJob(2, "wrong scorer").ok());
  EXPECT_EQ(store_->GetJob(1)->state, JobState::kQueued);
  auto train = store_->GetJob(3);
  ASSERT_TRUE(train.ok());
  EXPECT_EQ(train->state, JobState::kCancelled);
  EXPECT_EQ(train->error, "dependency job-000002 (score) was cancelled: wrong scorer");
  // A job that waits for a job already cancelled could never run.
  NewJob late = MakeJob("late");
  late.after_existing = {2};
  absl::StatusOr<JobRecord> refused = store_->CreateJob(late);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("job-000002 was cancelled, so the job could never run"));
  NewJob dangling = MakeJob("dangling");
  dangling.after_existing = {99};
  refused = store_->CreateJob(dangling);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("there is no job job-000099"));
  // Waiting for an existing job that has not ended is fine.
  NewJob after_gen = MakeJob("after-gen");
  after_gen.after_existing = {1};
  absl::StatusOr<JobRecord> waiting = store_->CreateJob(after_gen);
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_THAT(DependencyStates(*waiting), ElementsAre("job-000001 queued"));
}

TEST_F(JobStoreTest, ARetriedChainSubmitReturnsTheSameJobs) {
  NewSubmission chain = Chain({"a", "b"});
  chain.jobs[1].after_new = {0};
  chain.owner = "alice";
  chain.submit_key = "key-1";
  absl::StatusOr<std::vector<JobRecord>> first = store_->CreateJobs(chain);
  absl::StatusOr<std::vector<JobRecord>> again = store_->CreateJobs(chain);
  ASSERT_TRUE(first.ok() && again.ok()) << first.status() << again.status();
  ASSERT_EQ(again->size(), 2u);
  EXPECT_EQ((*again)[0].id, (*first)[0].id);
  EXPECT_EQ((*again)[1].id, (*first)[1].id);
  EXPECT_EQ((*store_->ListJobs({})).size(), 2u);
  NewSubmission other = chain;
  other.jobs[1].spec_yaml = "name: b2\n";
  absl::StatusOr<std::vector<JobRecord>> reused = store_->CreateJobs(other);
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(reused.status().message()), HasSubstr("job-000001, job-000002"));
}

TEST_F(JobStoreTest, AVersionTwoFileIsMigratedKeepingItsJobs) {
  ASSERT_TRUE(store_->CreateJob(MakeJob("old")).ok());
  // Back to the second schema: no dependencies, no submissions (and nothing of later versions).
  RewriteFile(
      "ALTER TABLE jobs DROP COLUMN restart_strikes; ALTER TABLE jobs DROP COLUMN last_checkpoint_attempt; "
      "DROP TABLE job_dependencies; DROP INDEX jobs_by_submission; "
      "ALTER TABLE jobs DROP COLUMN submission_id; UPDATE schema_version SET version = 2");
  Reopen();
  absl::StatusOr<JobRecord> old = store_->GetJob(1);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->name, "old");
  EXPECT_TRUE(old->after.empty());
  NewJob next = MakeJob("next");
  next.after_existing = {1};
  absl::StatusOr<JobRecord> created = store_->CreateJob(next);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_THAT(DependencyStates(*created), ElementsAre("job-000001 queued"));
}

TEST_F(JobStoreTest, AVersionThreeFileIsMigratedAndCountsCheckpointAttempts) {
  ASSERT_TRUE(store_->CreateJob(MakeJob("old")).ok());
  ASSERT_TRUE(store_->TakeNextQueued("group-1").ok());
  // Back to the third schema: no restart strikes, no checkpoint attempts.
  RewriteFile(
      "ALTER TABLE jobs DROP COLUMN restart_strikes; ALTER TABLE jobs DROP COLUMN last_checkpoint_attempt; "
      "UPDATE schema_version SET version = 3");
  Reopen();
  absl::StatusOr<JobRecord> old = store_->GetJob(1);
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->restart_strikes, 0);
  EXPECT_FALSE(old->last_checkpoint_attempt.has_value());
  // The checkpoint records the attempt that holds the job; an older step
  // reported late keeps the newer checkpoint's attempt.
  ASSERT_TRUE(store_->RecordCheckpoint(1, 8, "/runs/old/checkpoint-8").ok());
  EXPECT_EQ(store_->GetJob(1)->last_checkpoint_attempt, 1);
  ASSERT_TRUE(store_->InterruptGroup("group-1", "lease expired").ok());
  ASSERT_TRUE(store_->RequeueInterrupted().ok());
  ASSERT_TRUE(store_->TakeNextQueued("group-2").ok());
  ASSERT_TRUE(store_->RecordCheckpoint(1, 12, "/runs/old/checkpoint-12").ok());
  ASSERT_TRUE(store_->RecordCheckpoint(1, 10, "/runs/old/checkpoint-10").ok());
  EXPECT_EQ(store_->GetJob(1)->last_checkpoint_attempt, 2);
  EXPECT_EQ(store_->GetJob(1)->last_checkpoint_step, 12);
  // A restart during an attempt without progress is a strike; progress clears it.
  EXPECT_EQ(store_->CountRestartStrike(1)->restart_strikes, 1);
  ASSERT_TRUE(store_->RecordProgress(1, 13, {}).ok());
  EXPECT_EQ(store_->CountRestartStrike(1)->restart_strikes, 0);
}

}  // namespace
}  // namespace align::coordinator
