// Which event moves a job from which state to which (coordinator/core/
// job_transitions.h): every move the policy makes is one the transition table
// allows, and a job that is no longer running (cancelled while its group was
// at work) is left as it is.

#include "coordinator/core/job_transitions.h"

#include <optional>

#include "coordinator/core/job_state.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::coordinator {
namespace {

using ::testing::HasSubstr;

// Each of the policy's moves, from every state it may be asked about.
void ExpectAllowed(JobState from, const std::optional<JobTransition>& transition) {
  if (!transition) return;
  EXPECT_TRUE(CanTransition(from, transition->to)) << JobStateName(from) << " -> " << JobStateName(transition->to);
  if (transition->requeue) EXPECT_TRUE(CanTransition(transition->to, JobState::kQueued));
}

TEST(JobTransitionsTest, ACompletedJobSucceedsOrFailsAsItsKindSays) {
  std::optional<JobTransition> done = AfterCompletion(JobState::kRunning, {true, "finished step 8"});
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->to, JobState::kSucceeded);
  EXPECT_EQ(done->message, "finished step 8");
  EXPECT_FALSE(done->requeue);

  std::optional<JobTransition> refused = AfterCompletion(JobState::kRunning, {false, "too many failed items"});
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->to, JobState::kFailed);
  EXPECT_EQ(refused->message, "too many failed items");
}

TEST(JobTransitionsTest, ARetryableFailureRequeuesWhileAttemptsRemain) {
  const WorkerFailure disk_full{"disk full", 3, true};
  std::optional<JobTransition> retry = AfterFailure(JobState::kRunning, disk_full, 2, 3);
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(retry->to, JobState::kInterrupted);
  EXPECT_TRUE(retry->requeue);
  EXPECT_EQ(retry->message, "attempt 2 failed at step 3: disk full (retrying)");

  std::optional<JobTransition> last = AfterFailure(JobState::kRunning, disk_full, 3, 3);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->to, JobState::kFailed);
  EXPECT_FALSE(last->requeue);
  EXPECT_EQ(last->message, "disk full");  // the job's error: the worker's words

  std::optional<JobTransition> final_error =
      AfterFailure(JobState::kRunning, {"dataset: no such file", 0, false}, 1, 3);
  ASSERT_TRUE(final_error.has_value());
  EXPECT_EQ(final_error->to, JobState::kFailed);
  EXPECT_EQ(final_error->message, "dataset: no such file");
}

TEST(JobTransitionsTest, AStopWithoutACancelRequeues) {
  std::optional<JobTransition> preempted = AfterStop(JobState::kRunning, 5);
  ASSERT_TRUE(preempted.has_value());
  EXPECT_EQ(preempted->to, JobState::kInterrupted);
  EXPECT_TRUE(preempted->requeue);
  EXPECT_EQ(preempted->message, "stopped after step 5");
}

TEST(JobTransitionsTest, ACancelledJobStaysCancelledWhateverItsGroupReports) {
  for (JobState state : kAllJobStates) {
    if (state == JobState::kRunning) continue;
    EXPECT_FALSE(AfterCompletion(state, {true, "done"}).has_value()) << JobStateName(state);
    EXPECT_FALSE(AfterFailure(state, {"boom", 1, true}, 1, 3).has_value()) << JobStateName(state);
    EXPECT_FALSE(AfterStop(state, 1).has_value()) << JobStateName(state);
  }
}

TEST(JobTransitionsTest, ALostGroupsJobIsRequeuedAndAnUnplannableJobFails) {
  const JobTransition lost = AfterGroupLoss("group-7", "no message for 10s (lease)");
  EXPECT_EQ(lost.to, JobState::kInterrupted);
  EXPECT_TRUE(lost.requeue);
  EXPECT_EQ(lost.message, "worker group group-7 lost: no message for 10s (lease)");

  const JobTransition unplannable = AfterPlanningError("dataset: /d has no manifest.json");
  EXPECT_EQ(unplannable.to, JobState::kFailed);
  EXPECT_FALSE(unplannable.requeue);
  EXPECT_THAT(unplannable.message, HasSubstr("cannot plan this job: dataset: /d has no manifest.json"));
}

TEST(JobTransitionsTest, ARestartFailsAJobOnlyWhenItsLastAttemptsNeverGotGoing) {
  JobRecord job;
  job.attempts = 3;
  job.restart_strikes = 3;
  std::optional<JobTransition> failed = AfterCoordinatorRestart(job, 3);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->to, JobState::kFailed);
  EXPECT_FALSE(failed->requeue);
  EXPECT_THAT(failed->message, HasSubstr("in each of its last 3 attempts (max_attempts 3)"));
  job.restart_strikes = 2;  // strikes left
  EXPECT_FALSE(AfterCoordinatorRestart(job, 3).has_value());
  // Many attempts (groups lost after progress) and one restart: requeued.
  job.attempts = 7;
  job.restart_strikes = 1;
  EXPECT_FALSE(AfterCoordinatorRestart(job, 3).has_value());
}

TEST(JobTransitionsTest, AStalledJobIsRequeuedWhileAttemptsRemain) {
  const JobTransition again = AfterStall("group-1", "no progress", 1, 3);
  EXPECT_EQ(again.to, JobState::kInterrupted);
  EXPECT_TRUE(again.requeue);
  const JobTransition last = AfterStall("group-1", "no progress", 3, 3);
  EXPECT_EQ(last.to, JobState::kFailed);
  EXPECT_FALSE(last.requeue);
  EXPECT_THAT(last.message, HasSubstr("no progress; it stalled in attempt 3 of max_attempts 3"));
}

TEST(JobTransitionsTest, EveryMoveIsOneTheTableAllows) {
  for (JobState state : kAllJobStates) {
    ExpectAllowed(state, AfterCompletion(state, {true, "ok"}));
    ExpectAllowed(state, AfterCompletion(state, {false, "not ok"}));
    for (bool retryable : {false, true}) {
      for (int attempts : {1, 3}) ExpectAllowed(state, AfterFailure(state, {"x", 1, retryable}, attempts, 3));
    }
    ExpectAllowed(state, AfterStop(state, 1));
  }
  // Both are asked of running jobs only.
  ExpectAllowed(JobState::kRunning, AfterGroupLoss("g", "why"));
  ExpectAllowed(JobState::kRunning, AfterPlanningError("why"));
}

}  // namespace
}  // namespace align::coordinator
