#pragma once
// Where the worker's RPC side (worker/control: gRPC, protobuf, MPI control
// collectives) meets its torch side (worker/runner: the trainer and the
// prepare-job driver).
// Plain C++ only: no LibTorch and no generated protobuf headers may be
// included here (docs/architecture.md), so both sides can include it.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "worker/engine/plan_source.h"

namespace align::control {

// One optimizer step's numbers as the trainer reports them (metrics.jsonl's
// names: loss, implicit_accuracy, ..., step_s, stage, skipped).
struct StepReport {
  int64_t step = 0;
  std::map<std::string, double> values;
  int64_t device_memory_bytes = 0;  // this rank's
};

struct EvalReport {
  int64_t step = 0;
  // heldout_implicit_accuracy, heldout_loss, heldout_pairs; or an evaluation
  // during training's figures (common/step_metrics.h, TrainEvaluationValues).
  std::map<std::string, double> values;
};

// Called by the torch side on every rank, on the thread that runs the job.
class JobReporter {
 public:
  virtual ~JobReporter() = default;
  virtual void Step(const StepReport& report) = 0;
  virtual void Eval(const EvalReport& report) = 0;
  // checkpoint-<step>/ is complete on shared storage.
  virtual void Checkpoint(int64_t step, const std::string& dir) = 0;
  // Polled before each step; the trainer all-reduces it, so one rank's true
  // stops every rank at the same step. A prepare job polls it between chunks.
  virtual bool ShouldStop() = 0;
  // A prepare job's chunk `position` is finished on this rank.
  virtual void ChunkDone(int64_t position, int64_t pairs, int64_t failed_items) = 0;
};

// A job the coordinator assigned to this rank's group.
struct JobTicket {
  std::string job_id;
  // Parsed once by the control side, its paths resolved against the
  // submitter's base_dir: the runner never sees the YAML.
  JobSpec spec;
  int64_t resume_step = 0;  // the coordinator's last committed checkpoint
  int attempt = 1;
  // This rank's pairs, streamed by the coordinator (RemotePlanSource).
  std::function<std::unique_ptr<engine::PlanSource>()> make_plan;
  // A chunked job (prepare, generate, score, pairs): this rank's chunk positions, as the coordinator split them.
  std::vector<int64_t> work_chunks;
  int rank = 0;
  int world_size = 1;
  JobReporter* reporter = nullptr;
};

enum class JobEnd {
  kCompleted,  // every step done, final checkpoint written
  kStopped,    // ShouldStop() was true on some rank: every rank stopped at the same step
  kFailed,     // this rank's error; with agreed == false its peers may be stuck in a collective
};

struct JobOutcome {
  JobEnd end = JobEnd::kFailed;
  std::string message;
  int64_t step = 0;             // steps done
  std::string checkpoint_path;  // kCompleted: the final checkpoint
  bool agreed = false;          // kFailed: every rank failed at the same point (no collective pending)
};

// A job set up on this rank (model and data loaded), ready to run.
class PreparedJob {
 public:
  virtual ~PreparedJob() = default;
  virtual int64_t start_step() const = 0;  // the checkpoint it resumes from (0: fresh)
  // A kCompleted run has reported its final step through the JobReporter
  // before it returns, also when it resumed at that step and trained none:
  // the completion is sent after Run() returns, so the coordinator has the
  // final step's metrics before it marks the job succeeded.
  virtual JobOutcome Run() = 0;
};

}  // namespace align::control
