// `gradient_checkpointing: auto` through the trainer, one rank in process on
// the tiny SDXL UNet: a budget everything fits recomputes nothing, a budget
// just under that estimate recomputes some blocks and still trains, and a
// budget nothing fits fails the job with the estimate and the budget.

#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <memory>
#include <regex>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"
#include "worker/engine/communicator.h"
#include "worker/engine/trainer.h"

namespace align::engine {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

class TrainerAutoCheckpointingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string make = absl::StrCat(ALIGN_ALIGNCTL_BIN, " make-synthetic --model ", kTiny,
                                          " --pairs 8 --heldout 0 --tokens 8 --out ", (Root() / "data").string(),
                                          " > /dev/null 2>&1");
    ASSERT_EQ(std::system(make.c_str()), 0) << make;
  }

  // A two-step DPO job in `run` with gradient_checkpointing: auto and `budget_gib`.
  JobSpec Job(const std::string& run, const std::string& budget_gib) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(absl::StrCat(
        "name: tiny\ntype: train\nmodel: ", kTiny, "\ndataset: ", (Root() / "data").string(), "\noutput: ",
        (Root() / run).string(),
        "\nloss: {type: dpo, beta: 5}\nbatch: {pairs_per_rank: 2, grad_accum: 1}\nsteps: 2\n"
        "eval_every: 0\nseed: 3\ndevice: cpu\ngradient_checkpointing: auto\nmemory_budget_gib: ",
        budget_gib, "\n"));
    EXPECT_TRUE(spec.ok()) << spec.status();
    return *spec;
  }

  // Creates and runs the trainer; returns its status and what it logged.
  std::pair<absl::Status, std::string> Train(const JobSpec& spec) {
    const std::unique_ptr<Communicator> one_rank = MakeSingleProcessCommunicator();
    ::testing::internal::CaptureStderr();
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = CreateTrainer(spec, *one_rank, nullptr);
    absl::Status status = trainer.status();
    if (trainer.ok()) status = (*trainer)->Run();
    return {status, ::testing::internal::GetCapturedStderr()};
  }

  fs::path Root() const { return dir_.path(); }
  align::testing::TempDir dir_{"trainer_auto_checkpointing_test"};
};

struct LoggedPlan {
  int64_t estimated_bytes = -1;
  int64_t activation_bytes = -1;
};

// "estimated 0.1 GiB (123 bytes, activations 45)": what the trainer logged.
LoggedPlan Logged(const std::string& log) {
  std::smatch m;
  if (!std::regex_search(log, m, std::regex(R"(estimated [0-9.]+ GiB \(([0-9]+) bytes, activations ([0-9]+)\))"))) {
    return {};
  }
  return {std::stoll(m[1]), std::stoll(m[2])};
}

TEST_F(TrainerAutoCheckpointingTest, ABudgetTheStepFitsRecomputesNothingAndOneJustUnderRecomputesSome) {
  const auto [roomy, roomy_log] = Train(Job("roomy", "8"));
  ASSERT_TRUE(roomy.ok()) << roomy << "\n" << roomy_log;
  EXPECT_THAT(roomy_log, HasSubstr("gradient_checkpointing auto: 0 of 16 blocks recomputed"));
  EXPECT_TRUE(fs::exists(Root() / "roomy" / "checkpoint-2"));
  const LoggedPlan everything_kept = Logged(roomy_log);
  ASSERT_GT(everything_kept.activation_bytes, 0) << roomy_log;

  // A quarter of the activations less than that.
  std::ostringstream tight;
  tight << std::setprecision(17)
        << static_cast<double>(everything_kept.estimated_bytes - everything_kept.activation_bytes / 4) /
               (1024.0 * 1024.0 * 1024.0);
  const auto [fitted, fitted_log] = Train(Job("tight", tight.str()));
  ASSERT_TRUE(fitted.ok()) << fitted << "\n" << fitted_log;
  EXPECT_THAT(fitted_log,
              ::testing::ContainsRegex("gradient_checkpointing auto: [1-9][0-9]* of 16 blocks recomputed \\("));
  EXPECT_LT(Logged(fitted_log).activation_bytes, everything_kept.activation_bytes) << fitted_log;
  EXPECT_TRUE(fs::exists(Root() / "tight" / "checkpoint-2"));
}

TEST_F(TrainerAutoCheckpointingTest, ABudgetNothingFitsFailsTheJobWithTheEstimateAndTheBudget) {
  const auto [status, log] = Train(Job("tiny-budget", "0.000001"));
  ASSERT_FALSE(status.ok()) << log;
  EXPECT_THAT(status.message(), HasSubstr("does not fit the memory budget even with every block recomputed"));
  EXPECT_THAT(status.message(), HasSubstr("against a budget of 0.0 GiB (1073 bytes)"));
  EXPECT_THAT(status.message(), HasSubstr("memory_budget_gib"));
  EXPECT_FALSE(fs::exists(Root() / "tiny-budget" / "checkpoint-2"));
}

}  // namespace
}  // namespace align::engine
