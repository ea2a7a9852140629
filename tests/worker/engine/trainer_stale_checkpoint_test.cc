// Two attempts of one job writing the same checkpoint step: a worker group
// that lost the job and went on can get there before the attempt that holds
// the job now. Whichever comes second finds checkpoint-<step> written: it
// stops (Cancelled, so a coordinator requeues the job rather than failing it)
// and leaves the other attempt's files alone. One rank, in process.

#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"
#include "worker/engine/communicator.h"
#include "worker/engine/trainer.h"
#include "worker/engine/training_checkpoint.h"

namespace align::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A tiny DPO job under `root`: make-synthetic data (8 pairs, `heldout` more
// held out) in root/data, output root/run, a checkpoint every 2 steps.
absl::StatusOr<JobSpec> TinyJob(const fs::path& root, int heldout, int steps) {
  const std::string make = absl::StrCat(ALIGN_ALIGNCTL_BIN, " make-synthetic --model ", kTiny, " --pairs 8 --heldout ",
                                        heldout, " --tokens 8 --out ", (root / "data").string(), " > /dev/null 2>&1");
  if (std::system(make.c_str()) != 0) return absl::InternalError(absl::StrCat("failed: ", make));
  return ParseJobSpec(absl::StrCat(
      "name: tiny\ntype: train\nmodel: ", kTiny, "\ndataset: ", (root / "data").string(), "\noutput: ",
      (root / "run").string(), "\nloss: {type: dpo, beta: 5}\nbatch: {pairs_per_rank: 2, grad_accum: 1}\nsteps: ",
      steps, "\ncheckpoint_every: 2\neval_every: 0\nseed: 3\ndevice: cpu\n"));
}

TEST(TrainerStaleCheckpoint, AnAttemptThatFindsItsCheckpointWrittenStopsAndLeavesIt) {
  align::testing::TempDir dir("trainer_stale_checkpoint_test");
  absl::StatusOr<JobSpec> spec = TinyJob(dir.path(), /*heldout=*/0, /*steps=*/4);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const fs::path output = spec->output;

  // The other attempt renames its checkpoint-2 into place while this one
  // trains step 2.
  const fs::path theirs = TrainingCheckpoint::Dir(output.string(), 2);
  std::vector<int64_t> reported;
  TrainerHooks hooks;
  hooks.on_step = [&](const StepMetrics& m) {
    if (m.step != 2) return;
    fs::create_directories(theirs);
    std::ofstream(theirs / "trainer_state.json") << "{\"step\": 2, \"by\": \"the other attempt\"}\n";
  };
  hooks.on_checkpoint = [&](int64_t step, const std::string& /*dir*/) { reported.push_back(step); };
  const std::unique_ptr<Communicator> one_rank = MakeSingleProcessCommunicator();
  Communicator& comm = *one_rank;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer = CreateTrainer(*spec, comm, nullptr, hooks);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  ASSERT_EQ((*trainer)->start_step(), 0);

  const absl::Status run = (*trainer)->Run();
  EXPECT_TRUE(absl::IsCancelled(run)) << run;
  EXPECT_THAT(run.message(), HasSubstr("stopped at step 2"));
  EXPECT_THAT(run.message(), HasSubstr("another attempt of this job"));
  EXPECT_TRUE(reported.empty()) << "reported a checkpoint it did not write";
  EXPECT_THAT(ReadAll(theirs / "trainer_state.json"), HasSubstr("the other attempt"));
  EXPECT_FALSE(fs::exists(theirs / "unet"));
  EXPECT_FALSE(fs::exists(TrainingCheckpoint::Dir(output.string(), 4))) << "went on past the step it lost";
  for (const auto& entry : fs::directory_iterator(output)) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr("partial")));
  }
}

// A group that lost the job by its lease went on and wrote the final
// checkpoint, and the attempt holding the job died before its final
// evaluation: the next attempt resumes at the final step, trains nothing, and
// still evaluates it once, into metrics.jsonl.
TEST(TrainerStaleCheckpoint, AnAttemptResumedAtTheFinalCheckpointEvaluatesItIfTheLogLacksIt) {
  align::testing::TempDir dir("trainer_final_evaluation_test");
  absl::StatusOr<JobSpec> spec = TinyJob(dir.path(), /*heldout=*/4, /*steps=*/2);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const fs::path output = spec->output;
  const std::unique_ptr<Communicator> one_rank = MakeSingleProcessCommunicator();
  Communicator& comm = *one_rank;
  {
    absl::StatusOr<std::unique_ptr<Trainer>> first = CreateTrainer(*spec, comm, nullptr);
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE((*first)->Run().ok());
  }
  const fs::path log = output / "metrics.jsonl";
  std::string complete = ReadAll(log);
  ASSERT_THAT(complete, HasSubstr("heldout_implicit_accuracy"));
  // The stale writer's run: every step logged, no evaluation line.
  std::string without_eval;
  std::istringstream lines(complete);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("heldout_implicit_accuracy") == std::string::npos) without_eval += line + "\n";
  }
  std::ofstream(log, std::ios::trunc) << without_eval;

  for (int resume = 0; resume < 2; ++resume) {
    absl::StatusOr<std::unique_ptr<Trainer>> again = CreateTrainer(*spec, comm, nullptr);
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_EQ((*again)->start_step(), 2);
    ASSERT_TRUE((*again)->Run().ok());
    const std::string now = ReadAll(log);
    // Once, however often it resumes there; the same numbers as the first run's.
    EXPECT_EQ(now, complete) << "resume " << resume;
  }
}

}  // namespace
}  // namespace align::engine
