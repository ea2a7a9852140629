#pragma once
// JobService over gRPC: authenticates, converts, and hands every call to the
// JobManager (coordinator/core), which holds the logic.

#include <atomic>

#include "align/v1/job_service.grpc.pb.h"
#include "coordinator/core/job_manager.h"
#include "coordinator/server/rpc_scope.h"

namespace align::coordinator {

class JobServiceImpl final : public v1::JobService::Service {
 public:
  JobServiceImpl(JobManager* manager, ServiceEnv env, int max_watch_streams)
      : manager_(manager), env_(env), max_watch_streams_(max_watch_streams) {}

  grpc::Status SubmitJob(grpc::ServerContext* context, const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override;
  grpc::Status SubmitJobs(grpc::ServerContext* context, const v1::SubmitJobsRequest* request,
                          v1::SubmitJobsResponse* response) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                      v1::GetJobResponse* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::CancelJobResponse* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::WatchJobResponse>* writer) override;
  grpc::Status ListEvents(grpc::ServerContext* context, const v1::ListEventsRequest* request,
                          v1::ListEventsResponse* response) override;

 private:
  JobManager* manager_;
  ServiceEnv env_;
  const int max_watch_streams_;
  std::atomic<int> watch_streams_{0};
};

}  // namespace align::coordinator
