#include "worker/control/session_reporter.h"

#include "absl/strings/str_format.h"
#include "common/step_metrics.h"

namespace align::control {

void SessionReporter::Step(const StepReport& report) {
  session_->SetActivity(job_id_, report.step, report.device_memory_bytes);
  if (rank_ != 0) return;
  session_->SendProgress(job_id_, report.step, report.values);
  auto value = [&](const char* name) {
    auto it = report.values.find(name);
    return it == report.values.end() ? 0.0 : it->second;
  };
  out_ << absl::StrFormat("%s step %d/%d loss %.4f acc %.3f pairs/s %.2f\n", job_id_, report.step, total_steps_,
                          value(metric_names::kLoss), value(metric_names::kImplicitAccuracy),
                          value(metric_names::kPairsPerSecond))
       << std::flush;
}

void SessionReporter::Eval(const EvalReport& report) {
  if (rank_ == 0) session_->SendEval(job_id_, report.step, report.values);
}

void SessionReporter::Checkpoint(int64_t step, const std::string& dir) {
  if (rank_ != 0) return;
  session_->SendCheckpoint(job_id_, step, dir);
  out_ << job_id_ << " checkpoint " << dir << "\n" << std::flush;
}

bool SessionReporter::ShouldStop() {
  return session_->mailbox().lost() || session_->mailbox().StopRequested(job_id_);
}

void SessionReporter::ChunkDone(int64_t position, int64_t pairs, int64_t failed_items) {
  session_->SetActivity(job_id_, ++chunks_done_, 0);
  session_->SendChunkDone(job_id_, position, pairs, failed_items);
}

}  // namespace align::control
