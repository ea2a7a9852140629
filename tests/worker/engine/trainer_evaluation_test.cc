// Evaluation during training (evaluate_every) on the tiny models, one rank in
// process: a LoRA run (adapter dropout on, so a policy left in eval mode or a
// moved torch generator would change what it trains) with evaluate_every: 2
// over 4 steps writes one evaluation record at step 2 and one at step 4, with
// finite figures, and ends with the same adapters and the same per-step
// losses as the same run without it. Resuming at the final checkpoint does
// not evaluate again; with that evaluation missing from the log it runs once
// more and gives the same figures (the same noise, the same weights).

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "common/step_metrics.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"
#include "tests/support/tiny_models.h"
#include "worker/engine/communicator.h"
#include "worker/engine/trainer.h"
#include "worker/engine/training_checkpoint.h"
#include "worker/models/lora_io.h"

namespace align::engine {
namespace {

namespace fs = std::filesystem;

std::vector<nlohmann::json> Lines(const fs::path& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

std::vector<nlohmann::json> Evaluations(const fs::path& log) {
  std::vector<nlohmann::json> evaluations;
  for (const nlohmann::json& line : Lines(log)) {
    if (line.contains(metric_names::kEvaluation)) evaluations.push_back(line);
  }
  return evaluations;
}

class TrainerEvaluationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string golden = ALIGN_GOLDEN_DIR;
    ASSERT_TRUE(align::testing::WriteTinySdxlModel(golden, (root() / "model").string()).ok());
    ASSERT_TRUE(align::testing::WriteTinyClipRewardModel(golden, (root() / "clip").string()).ok());
    const std::string make = absl::StrCat(ALIGN_ALIGNCTL_BIN, " make-synthetic --model ", (root() / "model").string(),
                                          " --pairs 8 --heldout 0 --tokens 8 --out ", (root() / "data").string(),
                                          " > /dev/null 2>&1");
    ASSERT_EQ(std::system(make.c_str()), 0) << make;
    std::ofstream(root() / "prompts.txt") << "a red cube\na blue ball\na green cone\nnot in the subset\n";
  }
  fs::path root() const { return dir_.path(); }

  JobSpec Spec(const std::string& output, const std::string& extra) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(absl::StrCat(
        "name: tiny\ntype: train\nmodel: ", (root() / "model").string(), "\ndataset: ", (root() / "data").string(),
        "\noutput: ", (root() / output).string(),
        "\nloss: {type: dpo, beta: 5}\noptim: {name: adamw, lr: 1.0e-2, weight_decay: 0}\n"
        "batch: {pairs_per_rank: 2, grad_accum: 1}\nsteps: 4\ncheckpoint_every: 2\nseed: 3\ndevice: cpu\n"
        "lora: {rank: 2, alpha: 2, dropout: 0.5}\n",
        extra));
    EXPECT_TRUE(spec.ok()) << spec.status();
    return *spec;
  }
  std::string Evaluation() const {
    return absl::StrCat("evaluate_every: 2\nevaluation: {prompts: ", (root() / "prompts.txt").string(),
                        ", max_prompts: 3, seeds: 2, rewards: [{reward: clipscore, model: ", (root() / "clip").string(),
                        "}], sampling: {inference_steps: 2, guidance_scale: 3.0, resolution: 32, batch_size: 2}}\n");
  }

  align::testing::TempDir dir_{"trainer_evaluation_test"};
};

TEST_F(TrainerEvaluationTest, EvaluatesAtItsStepsWithoutChangingWhatItTrains) {
  const std::unique_ptr<Communicator> one_rank = MakeSingleProcessCommunicator();
  Communicator& comm = *one_rank;
  std::vector<int64_t> reported;
  TrainerHooks hooks;
  hooks.on_evaluation = [&](const TrainEvaluation& e) { reported.push_back(e.step); };
  const JobSpec with = Spec("with", Evaluation());
  {
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = CreateTrainer(with, comm, nullptr, hooks);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    const absl::Status run = (*trainer)->Run();
    ASSERT_TRUE(run.ok()) << run;
  }
  const JobSpec without = Spec("without", "");
  {
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = CreateTrainer(without, comm, nullptr);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    const absl::Status run = (*trainer)->Run();
    ASSERT_TRUE(run.ok()) << run;
  }
  EXPECT_EQ(reported, (std::vector<int64_t>{2, 4}));

  const fs::path log = root() / "with" / "metrics.jsonl";
  const std::vector<nlohmann::json> evaluations = Evaluations(log);
  ASSERT_EQ(evaluations.size(), 2u);
  for (size_t i = 0; i < evaluations.size(); ++i) {
    const nlohmann::json& line = evaluations[i];
    EXPECT_EQ(line[metric_names::kStep], 2 * static_cast<int64_t>(i + 1));
    const nlohmann::json& e = line[metric_names::kEvaluation];
    EXPECT_EQ(e[metric_names::kEvaluationPrompts], 3);
    EXPECT_EQ(e[metric_names::kEvaluationSeeds], 2);
    ASSERT_TRUE(e[metric_names::kEvaluationRewards].contains("clipscore")) << e.dump();
    const nlohmann::json& clipscore = e[metric_names::kEvaluationRewards]["clipscore"];
    for (const char* figure : {metric_names::kEvaluationRewardMean, metric_names::kEvaluationRewardStd}) {
      ASSERT_TRUE(clipscore[figure].is_number()) << e.dump();
      EXPECT_TRUE(std::isfinite(clipscore[figure].get<double>())) << e.dump();
    }
    ASSERT_TRUE(e[metric_names::kEvaluationDiversity].is_number()) << e.dump();
    const double diversity = e[metric_names::kEvaluationDiversity].get<double>();
    EXPECT_TRUE(std::isfinite(diversity) && diversity >= 0 && diversity <= 2) << e.dump();
  }
  // The policy moved between the evaluations, and they saw it.
  EXPECT_NE(evaluations[0][metric_names::kEvaluation].dump(), evaluations[1][metric_names::kEvaluation].dump());

  // The same training: each step's loss, and the adapters at the end.
  std::vector<double> losses_with, losses_without;
  for (const nlohmann::json& line : Lines(log)) {
    if (line.contains(metric_names::kLoss)) losses_with.push_back(line[metric_names::kLoss].get<double>());
  }
  for (const nlohmann::json& line : Lines(root() / "without" / "metrics.jsonl")) {
    if (line.contains(metric_names::kLoss)) losses_without.push_back(line[metric_names::kLoss].get<double>());
  }
  EXPECT_EQ(losses_with.size(), 4u);
  EXPECT_EQ(losses_with, losses_without);
  absl::StatusOr<models::LoraWeights> a = models::ReadLoraWeights(TrainingCheckpoint::Dir(with.output, 4));
  absl::StatusOr<models::LoraWeights> b = models::ReadLoraWeights(TrainingCheckpoint::Dir(without.output, 4));
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(a->layers(), b->layers());
  ASSERT_FALSE(a->layers().empty());
  for (const std::string& layer : a->layers()) {
    EXPECT_TRUE(torch::equal(a->down.at(layer), b->down.at(layer))) << layer;
    EXPECT_TRUE(torch::equal(a->up.at(layer), b->up.at(layer))) << layer;
  }
  EXPECT_FALSE(Evaluations(root() / "without" / "metrics.jsonl").size()) << "evaluated without evaluate_every";
}

TEST_F(TrainerEvaluationTest, AResumedRunDoesNotRepeatALoggedEvaluation) {
  const std::unique_ptr<Communicator> one_rank = MakeSingleProcessCommunicator();
  Communicator& comm = *one_rank;
  const JobSpec spec = Spec("run", Evaluation());
  {
    absl::StatusOr<std::unique_ptr<Trainer>> trainer = CreateTrainer(spec, comm, nullptr);
    ASSERT_TRUE(trainer.ok()) << trainer.status();
    ASSERT_TRUE((*trainer)->Run().ok());
  }
  const fs::path log = root() / "run" / "metrics.jsonl";
  const std::vector<nlohmann::json> complete = Evaluations(log);
  ASSERT_EQ(complete.size(), 2u);
  {
    absl::StatusOr<std::unique_ptr<Trainer>> again = CreateTrainer(spec, comm, nullptr);
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_EQ((*again)->start_step(), 4);
    ASSERT_TRUE((*again)->Run().ok());
  }
  EXPECT_EQ(Evaluations(log).size(), 2u) << "the final evaluation ran again";

  // A stale attempt wrote the final checkpoint without the evaluation: the
  // next attempt runs it once, and from the same noise gets the same figures.
  std::string kept;
  for (const nlohmann::json& line : Lines(log)) {
    if (!(line.contains(metric_names::kEvaluation) && line[metric_names::kStep] == 4)) kept += line.dump() + "\n";
  }
  std::ofstream(log, std::ios::trunc) << kept;
  ASSERT_EQ(Evaluations(log).size(), 1u);
  for (int resume = 0; resume < 2; ++resume) {
    absl::StatusOr<std::unique_ptr<Trainer>> again = CreateTrainer(spec, comm, nullptr);
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_TRUE((*again)->Run().ok());
    const std::vector<nlohmann::json> now = Evaluations(log);
    ASSERT_EQ(now.size(), 2u) << "resume " << resume;
    nlohmann::json figures = now[1][metric_names::kEvaluation], before = complete[1][metric_names::kEvaluation];
    figures.erase(metric_names::kEvaluationSeconds);
    before.erase(metric_names::kEvaluationSeconds);
    EXPECT_EQ(now[1][metric_names::kStep], 4);
    EXPECT_EQ(figures, before) << "resume " << resume;
  }
}

}  // namespace
}  // namespace align::engine
