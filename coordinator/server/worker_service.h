#pragma once
// WorkerService over gRPC. This round: group registration and per-rank
// sessions (Hello, protocol check, heartbeats), which drive align_workers_up.
// Handing out jobs, streaming plans and ingesting progress build on
// JobQueue/JobStore next; until then other worker messages are acknowledged
// by silence and logged once per session.

#include "align/v1/worker_service.grpc.pb.h"
#include "coordinator/core/worker_registry.h"
#include "coordinator/server/rpc_scope.h"

namespace align::coordinator {

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(WorkerRegistry* registry, ServiceEnv env) : registry_(registry), env_(env) {}

  grpc::Status RegisterGroup(grpc::ServerContext* context, const v1::RegisterGroupRequest* request,
                             v1::RegisterGroupResponse* response) override;
  grpc::Status Session(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::WorkerMessage>* stream) override;

 private:
  void PublishWorkersUp();

  WorkerRegistry* registry_;
  ServiceEnv env_;
};

}  // namespace align::coordinator
