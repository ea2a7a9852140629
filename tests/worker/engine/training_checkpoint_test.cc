// Training checkpoints (worker/engine/training_checkpoint.h): written whole or
// not at all, found again for resuming, and never written over: a worker
// group that lost its job and went on cannot replace the checkpoint of the
// group that has the job now.

#include "worker/engine/training_checkpoint.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"
#include "worker/models/unet_io.h"

namespace align::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(TrainingCheckpointTest, WritesWholeCheckpointsAndFindsTheNewest) {
  align::testing::TempDir dir("training_checkpoint_test");
  auto unet = models::LoadUNet(kTiny + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(unet.ok()) << unet.status();
  const std::map<std::string, torch::Tensor> optimizer = {{"step", torch::tensor({4.0})}};
  ASSERT_TRUE(TrainingCheckpoint::Write(dir.path(), 4, *unet, optimizer, {{"step", 4}}).ok());
  ASSERT_TRUE(TrainingCheckpoint::Write(dir.path(), 8, *unet, optimizer, {{"step", 8}}).ok());
  std::optional<TrainingCheckpoint> latest = TrainingCheckpoint::FindLatest(dir.path());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step(), 8);
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr("partial")));
  }
}

TEST(TrainingCheckpointTest, AnExistingCheckpointIsNeverReplaced) {
  align::testing::TempDir dir("training_checkpoint_test");
  auto unet = models::LoadUNet(kTiny + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(unet.ok()) << unet.status();
  // The group that holds the job now wrote step 9.
  ASSERT_TRUE(TrainingCheckpoint::Write(dir.path(), 9, *unet, {}, {{"step", 9}, {"by", "new group"}}).ok());
  const fs::path state = fs::path(TrainingCheckpoint::Dir(dir.path(), 9)) / "trainer_state.json";
  const std::string before = ReadAll(state);

  // The stale group reaches step 9 too.
  const absl::Status stale = TrainingCheckpoint::Write(dir.path(), 9, *unet, {}, {{"step", 9}, {"by", "stale group"}});
  EXPECT_TRUE(absl::IsFailedPrecondition(stale)) << stale;
  EXPECT_THAT(stale.message(), HasSubstr("another attempt of this job"));
  EXPECT_EQ(ReadAll(state), before);
  EXPECT_THAT(before, HasSubstr("new group"));
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr("partial")));
  }
}

TEST(TrainingCheckpointTest, AJobResumesOnlyItsOwnCheckpointsUnlessItSaysAny) {
  align::testing::TempDir dir("training_checkpoint_test");
  auto unet = models::LoadUNet(kTiny + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(unet.ok()) << unet.status();
  ASSERT_TRUE(
      TrainingCheckpoint::Write(dir.path(), 4, *unet, {}, {{"step", 4}, {"job_id", "job-000003"}, {"attempt", 2}})
          .ok());
  std::optional<TrainingCheckpoint> latest = TrainingCheckpoint::FindLatest(dir.path());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->WrittenByJob(), "job-000003");
  EXPECT_TRUE(latest->CheckMayResume("job-000003", ResumePolicy::kOwn).ok());
  const absl::Status foreign = latest->CheckMayResume("job-000005", ResumePolicy::kOwn);
  EXPECT_TRUE(absl::IsFailedPrecondition(foreign)) << foreign;
  EXPECT_THAT(foreign.message(), HasSubstr("written by job-000003, not by this job (job-000005)"));
  EXPECT_THAT(foreign.message(), HasSubstr("resume: any"));
  EXPECT_TRUE(latest->CheckMayResume("job-000005", ResumePolicy::kAny).ok());
  EXPECT_TRUE(latest->CheckMayResume("", ResumePolicy::kOwn).ok());  // outside a coordinator

  // A checkpoint that does not say who wrote it (older, or a local run) is resumed.
  ASSERT_TRUE(TrainingCheckpoint::Write(dir.path(), 6, *unet, {}, {{"step", 6}}).ok());
  latest = TrainingCheckpoint::FindLatest(dir.path());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->WrittenByJob(), "");
  EXPECT_TRUE(latest->CheckMayResume("job-000005", ResumePolicy::kOwn).ok());
}

}  // namespace
}  // namespace align::engine
