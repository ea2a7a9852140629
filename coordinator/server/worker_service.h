#pragma once
// WorkerService over gRPC: group registration and one Session stream per
// rank. After the handshake (Hello -> SessionAccepted) the session belongs to
// the Scheduler (coordinator/core/scheduler.h), which assigns jobs and
// streams plans through a SessionSink; this class only converts messages,
// answers refused reports with a Rejection, and tells the scheduler when a
// stream ends.

#include "align/v1/worker_service.grpc.pb.h"
#include "coordinator/core/scheduler.h"
#include "coordinator/core/worker_registry.h"
#include "coordinator/server/rpc_scope.h"

namespace align::coordinator {

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(WorkerRegistry* registry, Scheduler* scheduler, ServiceEnv env)
      : registry_(registry), scheduler_(scheduler), env_(env) {}

  grpc::Status RegisterGroup(grpc::ServerContext* context, const v1::RegisterGroupRequest* request,
                             v1::RegisterGroupResponse* response) override;
  grpc::Status Session(grpc::ServerContext* context,
                       grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::WorkerMessage>* stream) override;

 private:
  void PublishWorkersUp();

  WorkerRegistry* registry_;
  Scheduler* scheduler_;
  ServiceEnv env_;
};

}  // namespace align::coordinator
