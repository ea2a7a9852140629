// A rank's job mailbox without a network or MPI (worker/control/job_mailbox.h):
// what the session's reader files in, and the waits of the serve loop and the
// trainer on it, released by arrival, by a stop order and by a lost session.
// Waits run on threads (std::async); a wait that must still block is checked
// with a zero timeout before the message that releases it, never with sleeps.

#include "worker/control/job_mailbox.h"

#include <chrono>
#include <cstdint>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::control {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Assignment AssignmentOf(const std::string& job_id) {
  Assignment assignment;
  assignment.job_id = job_id;
  assignment.spec_yaml = "name: " + job_id + "\n";
  assignment.base_dir = "/submit";
  assignment.resume_step = 0;
  assignment.attempt = 1;
  return assignment;
}

// One step whose micro-batches hold the pairs given (one pair each).
PlannedStep StepOf(int64_t step, std::vector<int64_t> pairs) {
  PlannedStep planned;
  planned.step = step;
  for (int64_t pair : pairs) planned.micro_batches.push_back({{pair}, {pair * 10}});
  return planned;
}

template <typename T>
bool StillWaiting(const std::future<T>& future) {
  return future.wait_for(std::chrono::seconds(0)) == std::future_status::timeout;
}

TEST(JobMailbox, AssignmentReleasesTheWaitInOrder) {
  JobMailbox mailbox;
  std::future<std::optional<Assignment>> first = std::async(std::launch::async, [&] { return mailbox.WaitForAssignment(); });
  EXPECT_TRUE(StillWaiting(first));
  mailbox.AddAssignment(AssignmentOf("job-a"));
  mailbox.AddAssignment(AssignmentOf("job-b"));
  std::optional<Assignment> a = first.get();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->job_id, "job-a");
  EXPECT_EQ(a->spec_yaml, "name: job-a\n");
  EXPECT_EQ(a->base_dir, "/submit");
  std::optional<Assignment> b = mailbox.WaitForAssignment();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->job_id, "job-b");
}

TEST(JobMailbox, LossReleasesTheAssignmentWait) {
  JobMailbox mailbox;
  std::future<std::optional<Assignment>> waiting =
      std::async(std::launch::async, [&] { return mailbox.WaitForAssignment(); });
  EXPECT_TRUE(StillWaiting(waiting));
  mailbox.MarkLost("the coordinator closed the session");
  EXPECT_FALSE(waiting.get().has_value());
  EXPECT_TRUE(mailbox.lost());
  // The first reason stays.
  mailbox.MarkLost("the stream broke while sending");
  EXPECT_EQ(mailbox.lost_reason(), "the coordinator closed the session");
}

TEST(JobMailbox, PlanChunkReleasesThePlanWait) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  std::future<bool> waiting = std::async(std::launch::async, [&] { return mailbox.WaitForPlan("job-a", 3); });
  EXPECT_TRUE(StillWaiting(waiting));
  mailbox.AddPlanChunk("job-a", {StepOf(2, {7})});  // not the step waited for
  EXPECT_TRUE(StillWaiting(waiting));
  mailbox.AddPlanChunk("job-a", {StepOf(3, {8, 9}), StepOf(4, {10})});
  EXPECT_TRUE(waiting.get());

  absl::StatusOr<plan::MicroBatchPlan> micro = mailbox.MicroBatch("job-a", 3, 1);
  ASSERT_TRUE(micro.ok()) << micro.status();
  EXPECT_THAT(micro->pairs, ElementsAre(9));
  EXPECT_THAT(micro->positions, ElementsAre(90));
}

TEST(JobMailbox, MicroBatchWaitsForItsStep) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  std::future<absl::StatusOr<plan::MicroBatchPlan>> waiting =
      std::async(std::launch::async, [&] { return mailbox.MicroBatch("job-a", 0, 0); });
  EXPECT_TRUE(StillWaiting(waiting));
  mailbox.AddPlanChunk("job-a", {StepOf(0, {5})});
  absl::StatusOr<plan::MicroBatchPlan> micro = waiting.get();
  ASSERT_TRUE(micro.ok()) << micro.status();
  EXPECT_THAT(micro->pairs, ElementsAre(5));
}

TEST(JobMailbox, StopOrderReleasesThePlanWait) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  std::future<bool> waiting = std::async(std::launch::async, [&] { return mailbox.WaitForPlan("job-a", 0); });
  EXPECT_TRUE(StillWaiting(waiting));
  mailbox.AddStopOrder("job-a");
  EXPECT_FALSE(waiting.get());
  EXPECT_TRUE(mailbox.StopRequested("job-a"));
  EXPECT_FALSE(mailbox.lost());

  absl::StatusOr<plan::MicroBatchPlan> micro = mailbox.MicroBatch("job-a", 0, 0);
  EXPECT_TRUE(absl::IsUnavailable(micro.status())) << micro.status();
  EXPECT_THAT(micro.status().message(), HasSubstr("the job is stopping"));
}

TEST(JobMailbox, LossReleasesThePlanWait) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  std::future<bool> waiting = std::async(std::launch::async, [&] { return mailbox.WaitForPlan("job-a", 0); });
  EXPECT_TRUE(StillWaiting(waiting));
  mailbox.MarkLost("gone");
  EXPECT_FALSE(waiting.get());
}

TEST(JobMailbox, MicroBatchOfAMissingStepAfterLossIsUnavailable) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  mailbox.AddPlanChunk("job-a", {StepOf(0, {1}), StepOf(1, {2})});
  std::future<absl::StatusOr<plan::MicroBatchPlan>> waiting =
      std::async(std::launch::async, [&] { return mailbox.MicroBatch("job-a", 2, 0); });
  EXPECT_TRUE(StillWaiting(waiting));
  mailbox.MarkLost("gone");
  absl::StatusOr<plan::MicroBatchPlan> micro = waiting.get();
  EXPECT_TRUE(absl::IsUnavailable(micro.status())) << micro.status();
  EXPECT_THAT(micro.status().message(), HasSubstr("no plan for step 2 of job-a"));
  EXPECT_THAT(micro.status().message(), HasSubstr("the coordinator session was lost"));
  // A step that is here is still handed out: the trainer finishes the step it is in.
  absl::StatusOr<plan::MicroBatchPlan> here = mailbox.MicroBatch("job-a", 1, 0);
  ASSERT_TRUE(here.ok()) << here.status();
  EXPECT_THAT(here->pairs, ElementsAre(2));
}

TEST(JobMailbox, MicroBatchBeyondThePlanNamesTheMismatch) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  mailbox.AddPlanChunk("job-a", {StepOf(0, {1, 2})});
  absl::StatusOr<plan::MicroBatchPlan> micro = mailbox.MicroBatch("job-a", 0, 2);
  EXPECT_TRUE(absl::IsInvalidArgument(micro.status())) << micro.status();
  EXPECT_THAT(micro.status().message(), HasSubstr("has 2 micro-batches; micro-batch 2 was asked for"));
}

TEST(JobMailbox, StepsBeforeThePreviousOneAreForgotten) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  mailbox.AddPlanChunk("job-a", {StepOf(0, {1}), StepOf(1, {2}), StepOf(2, {3})});
  ASSERT_TRUE(mailbox.MicroBatch("job-a", 2, 0).ok());
  mailbox.MarkLost("gone");
  EXPECT_TRUE(mailbox.WaitForPlan("job-a", 1));
  EXPECT_FALSE(mailbox.WaitForPlan("job-a", 0));
}

TEST(JobMailbox, FinishJobForgetsPlansStagesAndStops) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  mailbox.AddPlanChunk("job-a", {StepOf(0, {1})});
  mailbox.AddStageBoundary("job-a", 0, 2);
  mailbox.AddStopOrder("job-a");
  mailbox.FinishJob("job-a");
  EXPECT_FALSE(mailbox.StopRequested("job-a"));
  EXPECT_EQ(mailbox.StageOf("job-a", 5), 0);
  // Chunks of a job this rank no longer holds are dropped.
  mailbox.AddPlanChunk("job-a", {StepOf(1, {2})});
  mailbox.MarkLost("gone");
  EXPECT_FALSE(mailbox.WaitForPlan("job-a", 0));
  EXPECT_FALSE(mailbox.WaitForPlan("job-a", 1));
}

TEST(JobMailbox, AssigningTheSameJobAgainStartsItAfresh) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  mailbox.AddPlanChunk("job-a", {StepOf(0, {1})});
  mailbox.AddStopOrder("job-a");
  mailbox.AddAssignment(AssignmentOf("job-a"));
  EXPECT_FALSE(mailbox.StopRequested("job-a"));
  std::future<bool> waiting = std::async(std::launch::async, [&] { return mailbox.WaitForPlan("job-a", 0); });
  EXPECT_TRUE(StillWaiting(waiting));
  mailbox.AddPlanChunk("job-a", {StepOf(0, {4})});
  EXPECT_TRUE(waiting.get());
  absl::StatusOr<plan::MicroBatchPlan> micro = mailbox.MicroBatch("job-a", 0, 0);
  ASSERT_TRUE(micro.ok()) << micro.status();
  EXPECT_THAT(micro->pairs, ElementsAre(4));
}

TEST(JobMailbox, ASecondJobsChunksStayItsOwn) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  mailbox.AddAssignment(AssignmentOf("job-b"));
  std::future<bool> a_waits = std::async(std::launch::async, [&] { return mailbox.WaitForPlan("job-a", 0); });
  mailbox.AddPlanChunk("job-b", {StepOf(0, {7})});
  mailbox.AddStageBoundary("job-b", 0, 1);
  mailbox.AddWorkChunks("job-b", {3, 4});
  EXPECT_TRUE(StillWaiting(a_waits));
  EXPECT_EQ(mailbox.StageOf("job-a", 0), 0);
  EXPECT_EQ(mailbox.StageOf("job-b", 0), 1);

  mailbox.AddStopOrder("job-b");  // stops job-b only
  EXPECT_TRUE(StillWaiting(a_waits));
  EXPECT_FALSE(mailbox.StopRequested("job-a"));

  mailbox.AddPlanChunk("job-a", {StepOf(0, {8})});
  EXPECT_TRUE(a_waits.get());
  absl::StatusOr<plan::MicroBatchPlan> a = mailbox.MicroBatch("job-a", 0, 0);
  absl::StatusOr<plan::MicroBatchPlan> b = mailbox.MicroBatch("job-b", 0, 0);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(a->pairs, ElementsAre(8));
  EXPECT_THAT(b->pairs, ElementsAre(7));

  mailbox.FinishJob("job-b");
  mailbox.MarkLost("gone");
  EXPECT_TRUE(mailbox.WaitForPlan("job-a", 0));
  EXPECT_FALSE(mailbox.WaitForWorkChunks("job-b").has_value());
}

TEST(JobMailbox, StageBoundariesHoldUntilTheNext) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  mailbox.AddStageBoundary("job-a", 10, 1);
  mailbox.AddStageBoundary("job-a", 20, 2);
  EXPECT_EQ(mailbox.StageOf("job-a", 0), 0);
  EXPECT_EQ(mailbox.StageOf("job-a", 10), 1);
  EXPECT_EQ(mailbox.StageOf("job-a", 19), 1);
  EXPECT_EQ(mailbox.StageOf("job-a", 25), 2);
  EXPECT_EQ(mailbox.StageOf("job-unknown", 25), 0);
}

TEST(JobMailbox, PrepareChunksReleaseTheirWait) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("prep"));
  std::future<std::optional<std::vector<int64_t>>> waiting =
      std::async(std::launch::async, [&] { return mailbox.WaitForWorkChunks("prep"); });
  EXPECT_TRUE(StillWaiting(waiting));
  mailbox.AddWorkChunks("prep", {0, 2, 4});
  std::optional<std::vector<int64_t>> chunks = waiting.get();
  ASSERT_TRUE(chunks.has_value());
  EXPECT_THAT(*chunks, ElementsAre(0, 2, 4));
}

TEST(JobMailbox, StopOrderAndLossReleaseThePrepareChunksWait) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("prep"));
  mailbox.AddAssignment(AssignmentOf("prep-2"));
  std::future<std::optional<std::vector<int64_t>>> stopped =
      std::async(std::launch::async, [&] { return mailbox.WaitForWorkChunks("prep"); });
  std::future<std::optional<std::vector<int64_t>>> lost =
      std::async(std::launch::async, [&] { return mailbox.WaitForWorkChunks("prep-2"); });
  EXPECT_TRUE(StillWaiting(stopped));
  mailbox.AddStopOrder("prep");
  EXPECT_FALSE(stopped.get().has_value());
  EXPECT_TRUE(StillWaiting(lost));
  mailbox.MarkLost("gone");
  EXPECT_FALSE(lost.get().has_value());
}

TEST(RemotePlanSource, AsksTheMailboxForItsJob) {
  JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a"));
  mailbox.AddAssignment(AssignmentOf("job-b"));
  mailbox.AddPlanChunk("job-a", {StepOf(0, {1})});
  mailbox.AddPlanChunk("job-b", {StepOf(0, {2})});
  mailbox.AddStageBoundary("job-b", 0, 3);
  RemotePlanSource source(&mailbox, "job-b");
  absl::StatusOr<plan::MicroBatchPlan> micro = source.MicroBatch(0, 0);
  ASSERT_TRUE(micro.ok()) << micro.status();
  EXPECT_THAT(micro->pairs, ElementsAre(2));
  EXPECT_EQ(source.StageOf(0), 3);
}

}  // namespace
}  // namespace align::control
