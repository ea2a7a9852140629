#include "common/plan/step_planner.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/dataset/manifest.h"
#include "common/dataset/reader.h"
#include "common/plan/curriculum_plan.h"
#include "common/status_macros.h"

namespace align::plan {

absl::StatusOr<std::vector<float>> LoadDifficulty(const std::string& dataset_dir, CurriculumDifficulty kind) {
  ASSIGN_OR_RETURN(std::unique_ptr<data::PairReader> reader, data::PairReader::Open(dataset_dir, "train"));
  if (kind == CurriculumDifficulty::kRankGap) return reader->Difficulties();
  ASSIGN_OR_RETURN(std::vector<float> w, reader->PerPairValues("score_w"));
  ASSIGN_OR_RETURN(std::vector<float> l, reader->PerPairValues("score_l"));
  std::vector<float> difficulty(w.size());
  for (size_t i = 0; i < w.size(); ++i) difficulty[i] = -(w[i] - l[i]);
  return difficulty;
}

absl::StatusOr<std::unique_ptr<StepPlanner>> MakeStepPlanner(const JobSpec& spec, const std::string& dataset_dir,
                                                             int world_size) {
  absl::StatusOr<data::Manifest> manifest = data::LoadManifest(dataset_dir);
  if (!manifest.ok()) return absl::InvalidArgumentError(absl::StrCat("dataset: ", manifest.status().message()));
  auto train = manifest->splits.find("train");
  if (train == manifest->splits.end() || train->second.pairs < 1) {
    return absl::InvalidArgumentError(absl::StrCat("dataset: ", dataset_dir, " has no training pairs"));
  }
  if (world_size < 1) return absl::InvalidArgumentError("world_size: must be >= 1");
  PairPlanConfig config{train->second.pairs, spec.batch.pairs_per_rank, spec.batch.grad_accum, world_size, spec.seed};
  if (!spec.curriculum.has_value()) return std::unique_ptr<StepPlanner>(new UniformPlanner(config));
  absl::StatusOr<std::vector<float>> difficulty = LoadDifficulty(dataset_dir, spec.curriculum->difficulty);
  if (!difficulty.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("curriculum.difficulty: ", difficulty.status().message()));
  }
  CurriculumConfig curriculum{config, spec.curriculum->stages, spec.curriculum->steps_per_stage};
  curriculum.pools_by_level = spec.curriculum->pools == CurriculumPools::kLevels;
  if (curriculum.pools_by_level && DifficultyLevels(*difficulty) > curriculum.stages) {
    return absl::InvalidArgumentError(absl::StrCat(
        "curriculum.pools: levels needs at most ", curriculum.stages, " distinct difficulty values (one per stage); ",
        dataset_dir, " has ", DifficultyLevels(*difficulty),
        " (a pairs job with pairs.stages = curriculum.stages writes one level per stage)"));
  }
  return std::unique_ptr<StepPlanner>(new CurriculumPlan(curriculum, *difficulty));
}

}  // namespace align::plan
