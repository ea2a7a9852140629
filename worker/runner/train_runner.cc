#include "worker/runner/train_runner.h"

#include <torch/torch.h>

#include <cstdint>
#include <iostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "worker/engine/communicator.h"
#include "worker/engine/metrics_log.h"
#include "worker/engine/trainer.h"
#include "worker/runner/rank_communicator.h"
#include "worker/runner/torch_errors.h"
#include "worker/runner/trainer_hooks.h"

namespace align::runner {

namespace {

class TrainRunner : public control::PreparedJob {
 public:
  TrainRunner(JobSpec spec, std::unique_ptr<engine::Communicator> comm, control::JobReporter* reporter)
      : spec_(std::move(spec)), comm_(std::move(comm)), reporter_(reporter) {}

  absl::Status Init(std::unique_ptr<engine::PlanSource> plan, engine::RunIdentity identity) {
    absl::StatusOr<std::unique_ptr<engine::Trainer>> trainer =
        SetUpTrainer(spec_, *comm_, std::move(plan), ReportingHooks(*reporter_, progress_), std::move(identity));
    if (!trainer.ok()) return trainer.status();
    trainer_ = std::move(*trainer);
    progress_ = ProgressAtStart(spec_.output, trainer_->start_step());
    return absl::OkStatus();
  }

  int64_t start_step() const override { return trainer_->start_step(); }

  control::JobOutcome Run() override {
    const absl::Status status = CatchTorchErrors([&] { return trainer_->Run(); });
    control::JobOutcome outcome;
    outcome.step = progress_.steps_done;
    if (status.ok()) {
      if (!progress_.trained) ReportLoggedFinalStep();
      outcome.end = control::JobEnd::kCompleted;
      outcome.checkpoint_path = progress_.last_checkpoint;
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
    const int64_t step = progress_.steps_done;
    absl::StatusOr<engine::LoggedStep> logged = engine::MetricsLog::ReadStep(spec_.output + "/metrics.jsonl", step);
    if (!logged.ok()) {
      // The completion still carries the step; only its values are missing.
      std::cerr << "align-worker: " << spec_.name << ": cannot report the final step again: "
                << logged.status().message() << std::endl;
      return;
    }
    if (logged->train) {
      auto memory = logged->train->find("gpu_memory_bytes");
      reporter_->Step(
          {step, *logged->train, memory == logged->train->end() ? 0 : static_cast<int64_t>(memory->second)});
    }
    if (logged->eval) reporter_->Eval({step, *logged->eval});
    if (logged->evaluation) reporter_->Eval({step, *logged->evaluation});
  }

  JobSpec spec_;
  std::unique_ptr<engine::Communicator> comm_;
  control::JobReporter* reporter_;
  TrainProgress progress_;
  std::unique_ptr<engine::Trainer> trainer_;  // after progress_: its hooks point there
};

}  // namespace

absl::StatusOr<std::unique_ptr<engine::Trainer>> SetUpTrainer(const JobSpec& spec, engine::Communicator& comm,
                                                              std::unique_ptr<engine::PlanSource> plan,
                                                              engine::TrainerHooks hooks,
                                                              engine::RunIdentity identity) {
  absl::StatusOr<std::unique_ptr<engine::Trainer>> trainer = absl::UnknownError("trainer not created");
  const absl::Status created = CatchTorchErrors(
      [&] {
        trainer = engine::CreateTrainer(spec, comm, std::move(plan), std::move(hooks), std::move(identity));
        return trainer.status();
      },
      "setting up the trainer failed: ");
  if (!created.ok()) return created;
  return trainer;
}

bool TrainWorkerKind::WaitForWork(control::JobMailbox& mailbox, const control::Assignment& assignment,
                                  const JobSpec& spec, std::vector<int64_t>* /*work_units*/) const {
  // A job resumed at its last step trains none and needs no plan.
  if (assignment.resume_step >= spec.steps) return true;
  return mailbox.WaitForPlan(assignment.job_id, assignment.resume_step) || mailbox.StopRequested(assignment.job_id);
}

absl::StatusOr<std::unique_ptr<control::PreparedJob>> TrainWorkerKind::SetUp(const control::JobTicket& ticket) const {
  DeviceChoice device;
  absl::StatusOr<JobSpec> spec = SpecOnJobDevice(device_, ticket.spec, &device);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<std::unique_ptr<engine::Communicator>> comm = MakeRankCommunicator(device);
  if (!comm.ok()) return comm.status();
  auto job = std::make_unique<TrainRunner>(*std::move(spec), std::move(*comm), ticket.reporter);
  if (absl::Status init = job->Init(ticket.make_plan(), {ticket.job_id, ticket.attempt}); !init.ok()) return init;
  return std::unique_ptr<control::PreparedJob>(std::move(job));
}

}  // namespace align::runner
