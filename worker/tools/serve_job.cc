#include "worker/tools/serve_job.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "worker/engine/communicator.h"
#include "worker/engine/cpu_threads.h"
#include "worker/engine/local_rank.h"
#include "worker/engine/metrics_log.h"
#include "worker/engine/trainer.h"
#include "worker/prepare/prepare_job.h"

namespace align::tools {
namespace {



std::map<std::string, double> StepValues(const engine::StepMetrics& m) {
  return {{"loss", m.loss},
          {"implicit_accuracy", m.implicit_accuracy},
          {"reward_margin", m.reward_margin},
          {"lr", m.lr},
          {"grad_norm", m.grad_norm},
          {"pairs_per_s", m.pairs_per_s},
          {"step_s", m.step_s},
          {"policy_mse_w", m.policy_mse_w},
          {"policy_mse_l", m.policy_mse_l},
          {"reference_mse_w", m.reference_mse_w},
          {"reference_mse_l", m.reference_mse_l},
          {"gpu_memory_bytes", static_cast<double>(m.gpu_memory_bytes)},
          {"stage", static_cast<double>(m.stage)},
          {"skipped", m.skipped ? 1.0 : 0.0}};
}

class AssignedJob : public control::PreparedJob {
 public:
  AssignedJob(JobSpec spec, std::unique_ptr<engine::Communicator> comm, control::JobReporter* reporter)
      : spec_(std::move(spec)), comm_(std::move(comm)), reporter_(reporter) {}

  absl::Status Init(std::unique_ptr<engine::PlanSource> plan) {
    engine::TrainerHooks hooks;
    hooks.on_step = [this](const engine::StepMetrics& m) {
      steps_done_ = m.step;
      trained_ = true;
      reporter_->Step({m.step, StepValues(m), m.gpu_memory_bytes});
    };
    hooks.on_eval = [this](const engine::EvalMetrics& e) {
      reporter_->Eval({e.step,
                       {{"heldout_implicit_accuracy", e.heldout_implicit_accuracy},
                        {"heldout_loss", e.heldout_loss},
                        {"heldout_pairs", static_cast<double>(e.heldout_pairs)}}});
    };
    hooks.on_checkpoint = [this](int64_t step, const std::string& dir) {
      last_checkpoint_ = dir;
      reporter_->Checkpoint(step, dir);
    };
    hooks.should_stop = [this] { return reporter_->ShouldStop(); };
    absl::StatusOr<std::unique_ptr<engine::Trainer>> trainer;
    try {
      trainer = engine::CreateTrainer(spec_, *comm_, std::move(plan), std::move(hooks));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("setting up the trainer failed: ", e.what()));
    }
    if (!trainer.ok()) return trainer.status();
    trainer_ = std::move(*trainer);
    steps_done_ = trainer_->start_step();
    return absl::OkStatus();
  }

  int64_t start_step() const override { return trainer_->start_step(); }

  control::JobOutcome Run() override {
    control::JobOutcome outcome;
    absl::Status status;
    try {
      status = trainer_->Run();
    } catch (const c10::Error& e) {
      status = absl::InternalError(e.what_without_backtrace());
    } catch (const std::exception& e) {
      status = absl::InternalError(e.what());
    }
    outcome.step = steps_done_;
    if (status.ok()) {
      if (!trained_) ReportLoggedFinalStep();
      outcome.end = control::JobEnd::kCompleted;
      outcome.checkpoint_path = last_checkpoint_;
    } else if (absl::IsCancelled(status)) {
      outcome.end = control::JobEnd::kStopped;
      outcome.message = std::string(status.message());
    } else {
      outcome.end = control::JobEnd::kFailed;
      outcome.message = std::string(status.message());
      // max_bad_steps is decided on all-reduced numbers: every rank ends there.
      outcome.agreed = absl::IsAborted(status);
    }
    return outcome;
  }

 private:
  // A job that resumed at its final checkpoint trains no step, so its final
  // step was reported by an earlier attempt, maybe to a coordinator process
  // that is gone (it restarted after the ranks wrote the checkpoint but
  // before it heard of the job's end). The completion must not reach the
  // coordinator before that step's metrics: rank 0 reports them again from
  // metrics.jsonl, before Run() returns and the completion is sent.
  void ReportLoggedFinalStep() {
    if (comm_->rank() != 0) return;
    absl::StatusOr<engine::LoggedStep> logged =
        engine::MetricsLog::ReadStep(spec_.output + "/metrics.jsonl", steps_done_);
    if (!logged.ok()) {
      // The completion still carries the step; only its values are missing.
      std::cerr << "align-worker: " << spec_.name << ": cannot report the final step again: "
                << logged.status().message() << std::endl;
      return;
    }
    if (logged->train) {
      auto memory = logged->train->find("gpu_memory_bytes");
      reporter_->Step({steps_done_, *logged->train,
                       memory == logged->train->end() ? 0 : static_cast<int64_t>(memory->second)});
    }
    if (logged->eval) reporter_->Eval({steps_done_, *logged->eval});
  }

  JobSpec spec_;
  std::unique_ptr<engine::Communicator> comm_;
  control::JobReporter* reporter_;
  std::unique_ptr<engine::Trainer> trainer_;
  int64_t steps_done_ = 0;
  bool trained_ = false;  // a step ran in this attempt (its report went out)
  std::string last_checkpoint_;
};

// A prepare job's share on this rank: the chunks the coordinator assigned it.
// Ranks share nothing but storage, so there is no communicator; the control
// loop agrees on the outcome once every rank is done.
class AssignedPrepareJob : public control::PreparedJob {
 public:
  AssignedPrepareJob(JobSpec spec, const control::JobTicket& ticket)
      : spec_(std::move(spec)),
        chunks_(ticket.prepare_chunks.begin(), ticket.prepare_chunks.end()),
        rank_(ticket.rank),
        world_(ticket.world_size),
        reporter_(ticket.reporter) {}

  int64_t start_step() const override { return 0; }

  control::JobOutcome Run() override {
    int64_t chunks_done = 0;
    prepare::PrepareContext context;
    context.rank = rank_;
    context.world = world_;
    context.out = &std::cout;
    context.assigned_chunks = chunks_;
    context.on_chunk_done = [&](size_t position, const prepare::ChunkRecord& record) {
      ++chunks_done;
      reporter_->ChunkDone(static_cast<int64_t>(position), record.pairs, static_cast<int64_t>(record.problems.size()));
    };
    context.should_stop = [this] { return reporter_->ShouldStop(); };
    absl::Status status;
    try {
      status = prepare::RunPrepareJob(spec_, context);
    } catch (const c10::Error& e) {
      status = absl::InternalError(e.what_without_backtrace());
    } catch (const std::exception& e) {
      status = absl::InternalError(e.what());
    }
    control::JobOutcome outcome;
    outcome.step = chunks_done;
    if (status.ok()) {
      outcome.end = control::JobEnd::kCompleted;
    } else {
      outcome.end = absl::IsCancelled(status) ? control::JobEnd::kStopped : control::JobEnd::kFailed;
      outcome.message = absl::StrCat("rank ", rank_, ": ", status.message());
    }
    return outcome;
  }

 private:
  JobSpec spec_;
  std::vector<size_t> chunks_;
  int rank_;
  int world_;
  control::JobReporter* reporter_;
};

}  // namespace

std::string LocalDeviceName() { return torch::cuda::is_available() ? "cuda" : "cpu"; }

absl::StatusOr<std::unique_ptr<control::PreparedJob>> PrepareAssignedJob(const control::JobTicket& ticket) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(ticket.spec_yaml);
  if (!spec.ok()) return spec.status();
  *spec = ResolveJobPaths(std::move(*spec), ticket.base_dir);
  static const bool threads_set = (engine::UseFairShareOfCores(), true);
  (void)threads_set;
  if (spec->type == JobType::kPrepare) {
    return std::unique_ptr<control::PreparedJob>(std::make_unique<AssignedPrepareJob>(*spec, ticket));
  }
  // Every rank gets here for the same spec, so creating the communicator (a
  // collective under NCCL) cannot leave a rank behind.
  const bool on_gpu = spec->device != "cpu" && torch::cuda::is_available();
  std::unique_ptr<engine::Communicator> comm = engine::MakeCommunicatorFor(
      on_gpu ? torch::Device(torch::kCUDA, static_cast<int>(engine::LocalRank() % torch::cuda::device_count()))
             : torch::Device(torch::kCPU));
  auto job = std::make_unique<AssignedJob>(*spec, std::move(comm), ticket.reporter);
  if (absl::Status init = job->Init(ticket.make_plan()); !init.ok()) return init;
  return std::unique_ptr<control::PreparedJob>(std::move(job));
}

}  // namespace align::tools
