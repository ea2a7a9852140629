// Where a worker process computes and where each of its jobs runs
// (worker/runner/device_choice.h), as pure decisions over --device, the CUDA
// devices a process sees and its local rank.

#include "worker/runner/device_choice.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace align::runner {
namespace {

TEST(DecideDevice, AutoTakesCudaWhenThereIsADevice) {
  absl::StatusOr<DeviceChoice> with = DecideDevice("auto", 2, 3);
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->kind, DeviceKind::kCuda);
  EXPECT_EQ(with->index, 1);  // local rank 3 of a host with 2 devices
  EXPECT_EQ(with->name(), "cuda");

  absl::StatusOr<DeviceChoice> without = DecideDevice("auto", 0, 3);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->kind, DeviceKind::kCpu);
  EXPECT_EQ(without->name(), "cpu");
}

TEST(DecideDevice, CpuIgnoresDevices) {
  absl::StatusOr<DeviceChoice> choice = DecideDevice("cpu", 8, 0);
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->kind, DeviceKind::kCpu);
}

TEST(DecideDevice, CudaNeedsADevice) {
  absl::StatusOr<DeviceChoice> choice = DecideDevice("cuda", 1, 0);
  ASSERT_TRUE(choice.ok()) << choice.status();
  EXPECT_EQ(choice->kind, DeviceKind::kCuda);
  EXPECT_EQ(choice->index, 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(DecideDevice("cuda", 0, 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DecideDevice("tpu", 1, 0).status()));
}

TEST(JobDevice, SpecMayAskForTheCpu) {
  const DeviceChoice gpu{DeviceKind::kCuda, 1};
  absl::StatusOr<DeviceChoice> cpu = JobDevice(gpu, "cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ(cpu->kind, DeviceKind::kCpu);
  for (const char* spec : {"auto", "cuda"}) {
    absl::StatusOr<DeviceChoice> job = JobDevice(gpu, spec);
    ASSERT_TRUE(job.ok()) << job.status();
    EXPECT_EQ(job->kind, DeviceKind::kCuda);
    EXPECT_EQ(job->index, 1);
  }
}

TEST(JobDevice, CpuWorkerRunsAutoOnTheCpuAndRefusesCuda) {
  const DeviceChoice cpu_worker;
  absl::StatusOr<DeviceChoice> job = JobDevice(cpu_worker, "auto");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->kind, DeviceKind::kCpu);
  absl::StatusOr<DeviceChoice> cuda = JobDevice(cpu_worker, "cuda");
  EXPECT_TRUE(absl::IsFailedPrecondition(cuda.status())) << cuda.status();
}

}  // namespace
}  // namespace align::runner
