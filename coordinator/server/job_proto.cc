#include "coordinator/server/job_proto.h"

#include "coordinator/core/job_id.h"
#include "coordinator/core/progress.h"
#include "google/protobuf/util/time_util.h"

namespace align::coordinator {

namespace {

using google::protobuf::util::TimeUtil;

}  // namespace

v1::JobState ToProto(JobState state) {
  switch (state) {
    case JobState::kQueued: return v1::JOB_STATE_QUEUED;
    case JobState::kRunning: return v1::JOB_STATE_RUNNING;
    case JobState::kInterrupted: return v1::JOB_STATE_INTERRUPTED;
    case JobState::kSucceeded: return v1::JOB_STATE_SUCCEEDED;
    case JobState::kFailed: return v1::JOB_STATE_FAILED;
    case JobState::kCancelled: return v1::JOB_STATE_CANCELLED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

std::optional<JobState> FromProto(v1::JobState state) {
  for (JobState candidate : kAllJobStates) {
    if (ToProto(candidate) == state) return candidate;
  }
  return std::nullopt;
}

void ToProto(const JobRecord& job, int64_t now_ms, v1::Job* out) {
  out->set_id(FormatJobId(job.id));
  out->set_name(job.name);
  out->set_type(job.type);
  out->set_state(ToProto(job.state));
  out->set_spec_yaml(job.spec_yaml);
  out->set_base_dir(job.base_dir);
  *out->mutable_created_at() = TimeUtil::MillisecondsToTimestamp(job.created_ms);
  *out->mutable_updated_at() = TimeUtil::MillisecondsToTimestamp(job.updated_ms);
  if (job.started_ms) *out->mutable_started_at() = TimeUtil::MillisecondsToTimestamp(*job.started_ms);
  if (job.finished_ms) *out->mutable_finished_at() = TimeUtil::MillisecondsToTimestamp(*job.finished_ms);
  out->set_group_id(job.group_id);
  if (job.last_checkpoint_step) out->set_last_checkpoint_step(*job.last_checkpoint_step);
  if (job.last_checkpoint_attempt) out->set_last_checkpoint_attempt(*job.last_checkpoint_attempt);
  out->set_error(job.error);
  out->set_revision(job.revision);
  out->set_attempts(job.attempts);
  out->set_owner(job.owner);
  for (const JobDependency& dependency : job.after) {
    v1::JobDependency* after = out->add_after();
    after->set_job_id(FormatJobId(dependency.id));
    after->set_name(dependency.name);
    after->set_state(ToProto(dependency.state));
  }

  const ProgressView view = ComputeProgress(job, now_ms);
  v1::JobProgress* progress = out->mutable_progress();
  progress->set_step(view.step);
  progress->set_total_steps(view.total_steps);
  if (view.loss) progress->set_loss(*view.loss);
  if (view.implicit_accuracy) progress->set_implicit_accuracy(*view.implicit_accuracy);
  if (view.pairs_per_s) progress->set_pairs_per_s(*view.pairs_per_s);
  if (view.eta_seconds) progress->set_eta_seconds(*view.eta_seconds);
  if (view.stage) progress->set_stage(*view.stage);
  for (const auto& [name, value] : job.metrics) (*progress->mutable_metrics())[name] = value;
  progress->set_metrics_step(job.metrics_step);
}

void ToProto(const JobEventRecord& event, v1::JobEvent* out) {
  out->set_seq(event.seq);
  out->set_job_id(FormatJobId(event.job_id));
  *out->mutable_time() = TimeUtil::MillisecondsToTimestamp(event.time_ms);
  out->set_kind(event.kind);
  out->set_message(event.message);
}

}  // namespace align::coordinator
