#include "coordinator/server/job_service.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/core/job_id.h"
#include "coordinator/core/log.h"
#include "coordinator/server/grpc_status.h"
#include "coordinator/server/job_proto.h"

namespace align::coordinator {

using auth::Role;

grpc::Status JobServiceImpl::SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                                       v1::SubmitJobResponse* response) {
  RpcScope rpc(env_, context, "SubmitJob", Role::kClient);
  if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
  absl::StatusOr<JobRecord> job =
      manager_->Submit(request->spec_yaml(), request->base_dir(), rpc.requester(), request->submit_key());
  if (!job.ok()) {
    LogLine(absl::StrCat("SubmitJob from ", context->peer(), " rejected: ", job.status().message()));
    return rpc.Finish(ToGrpcStatus(job.status()));
  }
  LogLine(absl::StrCat("queued ", FormatJobId(job->id), " \"", job->name, "\" for ", rpc.requester().name, " from ",
                       context->peer()));
  response->set_job_id(FormatJobId(job->id));
  ToProto(*job, manager_->store().NowMs(), response->mutable_job());
  return rpc.Finish(grpc::Status::OK);
}

grpc::Status JobServiceImpl::SubmitJobs(grpc::ServerContext* context, const v1::SubmitJobsRequest* request,
                                        v1::SubmitJobsResponse* response) {
  RpcScope rpc(env_, context, "SubmitJobs", Role::kClient);
  if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
  const std::vector<std::string> specs(request->spec_yaml().begin(), request->spec_yaml().end());
  absl::StatusOr<std::vector<JobRecord>> jobs =
      manager_->SubmitJobs(specs, request->base_dir(), rpc.requester(), request->submit_key());
  if (!jobs.ok()) {
    LogLine(absl::StrCat("SubmitJobs from ", context->peer(), " rejected: ", jobs.status().message()));
    return rpc.Finish(ToGrpcStatus(jobs.status()));
  }
  std::vector<std::string> queued;
  for (const JobRecord& job : *jobs) queued.push_back(absl::StrCat(FormatJobId(job.id), " \"", job.name, "\""));
  LogLine(absl::StrCat("queued ", absl::StrJoin(queued, ", "), " for ", rpc.requester().name, " from ",
                       context->peer()));
  const int64_t now = manager_->store().NowMs();
  for (const JobRecord& job : *jobs) ToProto(job, now, response->add_jobs());
  return rpc.Finish(grpc::Status::OK);
}

grpc::Status JobServiceImpl::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                    v1::GetJobResponse* response) {
  RpcScope rpc(env_, context, "GetJob", Role::kClient);
  if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
  absl::StatusOr<JobRecord> job = manager_->Get(request->job_id());
  if (!job.ok()) return rpc.Finish(ToGrpcStatus(job.status()));
  ToProto(*job, manager_->store().NowMs(), response->mutable_job());
  return rpc.Finish(grpc::Status::OK);
}

grpc::Status JobServiceImpl::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                      v1::ListJobsResponse* response) {
  RpcScope rpc(env_, context, "ListJobs", Role::kClient);
  if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
  std::vector<JobState> states;
  for (int state : request->states()) {
    std::optional<JobState> parsed = FromProto(static_cast<v1::JobState>(state));
    if (!parsed.has_value()) {
      return rpc.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                     absl::StrCat("states: ", state, " is not a job state")));
    }
    states.push_back(*parsed);
  }
  absl::StatusOr<std::vector<JobRecord>> jobs = manager_->List(states, request->max_results());
  if (!jobs.ok()) return rpc.Finish(ToGrpcStatus(jobs.status()));
  const int64_t now = manager_->store().NowMs();
  for (const JobRecord& job : *jobs) ToProto(job, now, response->add_jobs());
  return rpc.Finish(grpc::Status::OK);
}

grpc::Status JobServiceImpl::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                                       v1::CancelJobResponse* response) {
  RpcScope rpc(env_, context, "CancelJob", Role::kClient);
  if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
  absl::StatusOr<JobRecord> job = manager_->Cancel(request->job_id(), request->reason(), rpc.requester());
  if (!job.ok()) return rpc.Finish(ToGrpcStatus(job.status()));
  LogLine(absl::StrCat("cancelled ", FormatJobId(job->id), " at the request of ", rpc.requester().name, " from ",
                       context->peer()));
  ToProto(*job, manager_->store().NowMs(), response->mutable_job());
  return rpc.Finish(grpc::Status::OK);
}

grpc::Status JobServiceImpl::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                      grpc::ServerWriter<v1::WatchJobResponse>* writer) {
  RpcScope rpc(env_, context, "WatchJob", Role::kClient);
  if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
  // Each stream holds a server thread for as long as it is open: past the cap
  // a flood of watchers is refused instead of exhausting the process.
  struct StreamSlot {
    std::atomic<int>& open;
    ~StreamSlot() { open.fetch_sub(1); }
  } slot{watch_streams_};
  if (watch_streams_.fetch_add(1) >= max_watch_streams_) {
    return rpc.Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                   absl::StrCat("WatchJob: ", max_watch_streams_,
                                                " streams are open, the most this coordinator serves "
                                                "(--max-watch-streams); retry later, or poll with alignctl status")));
  }
  const absl::Status status = manager_->Watch(
      request->job_id(),
      [&](const JobRecord& job) {
        v1::WatchJobResponse update;
        ToProto(job, manager_->store().NowMs(), update.mutable_job());
        return writer->Write(update);
      },
      [&] { return context->IsCancelled(); });
  return rpc.Finish(ToGrpcStatus(status));
}

grpc::Status JobServiceImpl::ListEvents(grpc::ServerContext* context, const v1::ListEventsRequest* request,
                                        v1::ListEventsResponse* response) {
  RpcScope rpc(env_, context, "ListEvents", Role::kClient);
  if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
  absl::StatusOr<std::vector<JobEventRecord>> events = manager_->Events(request->job_id(), request->after_seq());
  if (!events.ok()) return rpc.Finish(ToGrpcStatus(events.status()));
  for (const JobEventRecord& event : *events) ToProto(event, response->add_events());
  return rpc.Finish(grpc::Status::OK);
}

}  // namespace align::coordinator
