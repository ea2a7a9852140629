#include "coordinator/core/evaluate_job_kind.h"

#include <cstddef>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/diffusers/lora_files.h"
#include "common/diffusers/unet_config.h"
#include "common/evaluation/evaluate_layout.h"
#include "common/evaluation/evaluation_report.h"
#include "common/run_fingerprint.h"
#include "common/status_macros.h"
#include "coordinator/core/chunked_job_run.h"
#include "coordinator/core/chunked_work.h"
#include "coordinator/core/storage_checks.h"

namespace align::coordinator {
namespace {

// The figures as gauges, labelled by checkpoint (and reward).
std::vector<ExportedFigure> Figures(const evaluation::EvaluationFigures& figures) {
  std::vector<ExportedFigure> out;
  for (const evaluation::CheckpointFigures& c : figures.checkpoints) {
    for (size_t r = 0; r < figures.rewards.size(); ++r) {
      const std::map<std::string, std::string> labels = {{"checkpoint", c.name}, {"reward", figures.rewards[r]}};
      const evaluation::RewardFigures& f = c.rewards[r];
      out.push_back({"align_eval_reward", labels, f.mean});
      out.push_back({"align_eval_reward_std", labels, f.std});
      out.push_back({"align_eval_prompt_variance", labels, f.prompt_variance});
      out.push_back({"align_eval_win_rate", labels, f.win_rate});
      if (f.win_rate_ci_low) {
        out.push_back({"align_eval_win_rate_ci_low", labels, *f.win_rate_ci_low});
        out.push_back({"align_eval_win_rate_ci_high", labels, *f.win_rate_ci_high});
      }
    }
    if (c.diversity) out.push_back({"align_eval_diversity", {{"checkpoint", c.name}}, *c.diversity});
  }
  return out;
}

class EvaluateWork : public RecordedChunkWork {
 public:
  EvaluateWork(evaluation::EvaluateLayout layout, evaluation::BootstrapOptions bootstrap)
      : RecordedChunkWork(layout.num_chunks()), layout_(std::move(layout)), bootstrap_(bootstrap) {}

  std::string Describe() const override {
    return absl::StrCat(layout_.checkpoints.size(), " checkpoints x ", layout_.prompts.size(), " prompts x ",
                        layout_.seeds, " seeds, ", layout_.rewards.size(), " rewards, in ", total_chunks(), " chunks");
  }

  FinishedJob Finish() override {
    FinishedJob finished;
    finished.final_step = total_chunks();
    absl::StatusOr<evaluation::EvaluationFigures> figures = evaluation::WriteEvaluationReport(layout_, bootstrap_);
    if (!figures.ok()) {
      finished.result = {false, absl::StrCat("cannot write the evaluation report: ", figures.status().message())};
      return finished;
    }
    for (const evaluation::CheckpointFigures& c : figures->checkpoints) {
      std::string line = absl::StrCat(c.name, c.is_base ? " (base):" : ":");
      for (size_t r = 0; r < figures->rewards.size(); ++r) {
        absl::StrAppend(&line, absl::StrFormat(" %s %.4g (win %.3f)", figures->rewards[r], c.rewards[r].mean,
                                               c.rewards[r].win_rate));
      }
      if (c.diversity) absl::StrAppend(&line, absl::StrFormat(", diversity %.4f", *c.diversity));
      finished.events.push_back({"report", line});
    }
    finished.figures = Figures(*figures);
    finished.result = {true, absl::StrCat("evaluated ", layout_.checkpoints.size(), " checkpoints on ",
                                          layout_.prompts.size(), " prompts x ", layout_.seeds, " seeds; report ",
                                          layout_.output, "/", evaluation::kReportFile)};
    return finished;
  }

 protected:
  bool Finished(int64_t position) const override {
    return evaluation::FinishedEvaluateChunk(layout_, position).has_value();
  }
  std::string MissingRecord(int64_t position) const override {
    return absl::StrCat("chunk ", position, "'s record ", layout_.RecordPath(position), " or its embeddings");
  }

 private:
  const evaluation::EvaluateLayout layout_;
  const evaluation::BootstrapOptions bootstrap_;
};

}  // namespace

absl::Status EvaluateJobKind::CheckSubmitted(const JobSpec& resolved) const {
  const EvaluateSpec& e = *resolved.evaluate;
  for (size_t i = 0; i < e.checkpoints.size(); ++i) {
    const EvaluateCheckpoint& checkpoint = e.checkpoints[i];
    const std::string field = absl::StrCat("evaluate.checkpoints[", i, "] (", checkpoint.name, ")");
    if (absl::Status model = CheckSamplingModel(checkpoint.model); !model.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": ", model.message()));
    }
    if (!checkpoint.unet.empty()) {
      const std::string unet = evaluation::UNetFolderOf(checkpoint);
      absl::StatusOr<diffusers::UNetConfig> config = diffusers::LoadUNetConfig(unet + "/config.json");
      if (!config.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".unet: ", checkpoint.unet,
                                                       " is neither a UNet folder nor a checkpoint folder holding "
                                                       "unet/ (",
                                                       config.status().message(), ")"));
      }
    }
    if (!checkpoint.lora.empty()) {
      if (absl::Status lora = diffusers::CheckLoraFiles(checkpoint.lora); !lora.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".lora: ", lora.message()));
      }
    }
  }
  return CheckEvaluationInputs(e.prompts, e.rewards, e.embedder, "evaluate");
}

absl::StatusOr<std::unique_ptr<JobRun>> EvaluateJobKind::Plan(JobToPlan job) const {
  const JobSpec spec = ResolveJobPaths(std::move(job.spec), job.base_dir);
  ASSIGN_OR_RETURN(evaluation::EvaluateLayout layout, evaluation::LayOutEvaluateJob(spec));
  RETURN_IF_ERROR(CheckOrWriteRunFingerprint(
      layout.state_dir(), layout.fingerprint, "evaluate",
      {{"checkpoints", layout.checkpoints.size()}, {"prompts", layout.prompts.size()}, {"seeds", layout.seeds},
       {"chunks", layout.num_chunks()}}));
  auto work = std::make_unique<EvaluateWork>(std::move(layout),
                                             evaluation::BootstrapOptions{spec.evaluate->bootstrap_resamples, spec.seed});
  work->CountFinished();
  return MakeChunkedJobRun(std::move(job.job_id), std::move(work), job.world_size);
}

}  // namespace align::coordinator
