// The kinds of job a worker runs (worker/runner/job_runner.h): which one the
// serve loop finds for a type, what each waits for before its job can begin,
// and which agree on their outcome after the ranks finish. No network, no
// MPI: the mailbox is filled by hand, as the session's reader would.

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/control/job_mailbox.h"
#include "worker/control/worker_job_kind.h"
#include "worker/runner/job_runner.h"
#include "worker/runner/prepare_runner.h"
#include "worker/runner/train_runner.h"

namespace align::runner {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

template <typename T>
bool StillWaiting(const std::future<T>& future) {
  return future.wait_for(std::chrono::seconds(0)) == std::future_status::timeout;
}

control::Assignment AssignmentOf(const std::string& job_id, int64_t resume_step = 0) {
  control::Assignment assignment;
  assignment.job_id = job_id;
  assignment.resume_step = resume_step;
  return assignment;
}

TEST(WorkerJobKinds, EveryBuiltInTypeHasOneKind) {
  absl::StatusOr<control::WorkerJobKinds> kinds = BuiltInWorkerJobKinds(DeviceChoice{});
  ASSERT_TRUE(kinds.ok()) << kinds.status();
  for (JobType type : {JobType::kTrain, JobType::kPrepare}) {
    absl::StatusOr<const control::WorkerJobKind*> kind = kinds->Find(type);
    ASSERT_TRUE(kind.ok()) << kind.status();
    EXPECT_EQ((*kind)->type(), type);
  }
  EXPECT_FALSE((*kinds->Find(JobType::kTrain))->ranks_finish_apart());
  EXPECT_TRUE((*kinds->Find(JobType::kPrepare))->ranks_finish_apart());

  control::WorkerJobKinds registry;
  absl::StatusOr<const control::WorkerJobKind*> missing = registry.Find(JobType::kPrepare);
  EXPECT_TRUE(absl::IsInvalidArgument(missing.status()));
  EXPECT_THAT(missing.status().message(), HasSubstr("runs no prepare jobs"));
  ASSERT_TRUE(registry.Register(std::make_unique<TrainWorkerKind>(DeviceChoice{})).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(registry.Register(std::make_unique<TrainWorkerKind>(DeviceChoice{}))));
}

TEST(WorkerJobKinds, ATrainJobBeginsWhenItsFirstStepsPlanIsHere) {
  const TrainWorkerKind kind(DeviceChoice{});
  control::JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-a", 3));
  JobSpec spec;
  spec.steps = 10;
  std::vector<int64_t> units;
  std::future<bool> ready = std::async(std::launch::async, [&] {
    return kind.WaitForWork(mailbox, AssignmentOf("job-a", 3), spec, &units);
  });
  mailbox.AddPlanChunk("job-a", {{2, {}}});  // an earlier step's plan is not enough
  EXPECT_TRUE(StillWaiting(ready));
  mailbox.AddPlanChunk("job-a", {{3, {{{1}, {10}}}}});
  EXPECT_TRUE(ready.get());
  EXPECT_TRUE(units.empty());

  // Resumed at its last step, it trains none and waits for nothing.
  spec.steps = 3;
  control::JobMailbox idle;
  EXPECT_TRUE(kind.WaitForWork(idle, AssignmentOf("job-b", 3), spec, &units));
}

TEST(WorkerJobKinds, APrepareJobBeginsWithItsShareOfTheChunks) {
  const PrepareWorkerKind kind(DeviceChoice{});
  control::JobMailbox mailbox;
  mailbox.AddAssignment(AssignmentOf("job-p"));
  std::vector<int64_t> units;
  std::future<bool> ready =
      std::async(std::launch::async, [&] { return kind.WaitForWork(mailbox, AssignmentOf("job-p"), {}, &units); });
  EXPECT_TRUE(StillWaiting(ready));
  mailbox.AddWorkChunks("job-p", {4, 1, 7});
  EXPECT_TRUE(ready.get());
  EXPECT_THAT(units, ElementsAre(4, 1, 7));
}

TEST(WorkerJobKinds, AStopOrderOrALossReleasesTheWait) {
  const PrepareWorkerKind prepare(DeviceChoice{});
  control::JobMailbox stopped;
  stopped.AddAssignment(AssignmentOf("job-p"));
  std::vector<int64_t> units;
  std::future<bool> ready =
      std::async(std::launch::async, [&] { return prepare.WaitForWork(stopped, AssignmentOf("job-p"), {}, &units); });
  stopped.AddStopOrder("job-p");
  EXPECT_TRUE(ready.get());  // begins, only to stop at once

  const TrainWorkerKind train(DeviceChoice{});
  control::JobMailbox lost;
  lost.AddAssignment(AssignmentOf("job-a"));
  JobSpec spec;
  spec.steps = 5;
  std::future<bool> waiting =
      std::async(std::launch::async, [&] { return train.WaitForWork(lost, AssignmentOf("job-a"), spec, &units); });
  lost.MarkLost("stream broke");
  EXPECT_FALSE(waiting.get());
}

TEST(WorkerJobKinds, AJobAskingForCudaOnACpuWorkerFailsAtSetUp) {
  const TrainWorkerKind kind(DeviceChoice{});
  control::JobTicket ticket;
  ticket.job_id = "job-a";
  ticket.spec.device = "cuda";
  absl::StatusOr<std::unique_ptr<control::PreparedJob>> job = kind.SetUp(ticket);
  EXPECT_TRUE(absl::IsFailedPrecondition(job.status()));
  EXPECT_THAT(job.status().message(), HasSubstr("device: cuda"));
}

}  // namespace
}  // namespace align::runner
