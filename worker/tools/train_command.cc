#include "worker/tools/train_command.h"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/job_spec.h"
#include "worker/engine/communicator.h"
#include "worker/engine/cpu_threads.h"
#include "worker/engine/trainer.h"
#include "worker/runner/device_choice.h"
#include "worker/runner/rank_communicator.h"
#include "worker/runner/train_runner.h"
#include "worker/runner/torch_errors.h"

namespace align::tools {
TrainExit RunTrain(const TrainOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<JobSpec> spec = LoadJobSpec(options.spec_path);
  if (!spec.ok()) {
    err << "align-worker train: " << spec.status().message() << "\n";
    return {2};
  }
  if (spec->type != JobType::kTrain) {
    err << "align-worker train: " << options.spec_path << " is not a train job (type)\n";
    return {2};
  }
  engine::UseFairShareOfCores();
  // As a served job: the worker's device (CUDA when there is one), unless the spec says cpu.
  runner::DeviceChoice device;
  absl::StatusOr<runner::DeviceChoice> worker = runner::ChooseWorkerDevice("auto");
  if (worker.ok()) {
    // The trainer places the models by the spec: it names the chosen device.
    spec = runner::SpecOnJobDevice(*worker, *spec, &device);
  }
  if (!worker.ok() || !spec.ok()) {
    err << "align-worker train: " << (worker.ok() ? spec.status() : worker.status()).message() << "\n";
    return {2};
  }
  absl::StatusOr<std::unique_ptr<engine::Communicator>> connected = runner::MakeRankCommunicator(device);
  if (!connected.ok()) {
    err << "align-worker train: " << connected.status().message() << "\n";
    return {1};
  }
  std::unique_ptr<engine::Communicator> comm = std::move(*connected);
  const bool lead = comm->rank() == 0;
  engine::TrainerHooks hooks;
  if (lead) {
    hooks.on_step = [&](const engine::StepMetrics& m) {
      out << absl::StrFormat("step %d/%d loss %.4f acc %.3f margin %.4g lr %.3g grad_norm %.3g pairs/s %.2f%s\n",
                             m.step, spec->steps, m.loss, m.implicit_accuracy, m.reward_margin, m.lr, m.grad_norm,
                             m.pairs_per_s, m.skipped ? " (skipped: non-finite)" : "");
      out.flush();
    };
    hooks.on_eval = [&](const engine::EvalMetrics& e) {
      out << absl::StrFormat("eval step %d heldout_implicit_accuracy %.4f over %d pairs\n", e.step,
                             e.heldout_implicit_accuracy, e.heldout_pairs);
      out.flush();
    };
    hooks.on_checkpoint = [&](int64_t step, const std::string& dir) { out << "checkpoint " << dir << "\n"; };
  }
  absl::StatusOr<std::unique_ptr<engine::Trainer>> trainer =
      runner::SetUpTrainer(*spec, *comm, nullptr, std::move(hooks));
  if (!trainer.ok()) {
    err << "align-worker train: " << trainer.status().message() << "\n";
    return {2};
  }
  if (lead && (*trainer)->start_step() > 0) out << "resuming from step " << (*trainer)->start_step() << "\n";
  const absl::Status status = runner::CatchTorchErrors([&] { return (*trainer)->Run(); });
  if (!status.ok()) {
    // One write: the ranks' lines reach mpirun's output whole, not interleaved piece by piece.
    err << absl::StrCat("align-worker train: job failed: ", status.message(), "\n") << std::flush;
    return {1, absl::IsAborted(status)};
  }
  if (lead) out << "done: " << spec->output << "\n";
  return {0};
}

}  // namespace align::tools
