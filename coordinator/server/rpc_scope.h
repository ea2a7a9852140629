#pragma once
// The first line of every handler: checks the caller's token and, when the
// handler returns, records its duration and status code in Prometheus.
//
//   RpcScope rpc(env_, context, "SubmitJob", auth::Role::kClient);
//   if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
//   ...
//   return rpc.Finish(status);

#include <chrono>
#include <string>

#include "common/auth/token_file.h"
#include "coordinator/core/coordinator_metrics.h"
#include "coordinator/server/authenticator.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace align::coordinator {

// What every service class needs besides its core object.
struct ServiceEnv {
  const Authenticator* authenticator = nullptr;
  CoordinatorMetrics* metrics = nullptr;  // may be null
};

class RpcScope {
 public:
  RpcScope(const ServiceEnv& env, const grpc::ServerContext* context, std::string method, auth::Role role);
  ~RpcScope();
  RpcScope(const RpcScope&) = delete;
  RpcScope& operator=(const RpcScope&) = delete;

  bool authorized() const { return auth_status_.ok(); }
  const grpc::Status& auth_status() const { return auth_status_; }
  // The token's holder, once authorized().
  const Requester& requester() const { return requester_; }
  // Remembers the code for the metrics and passes the status through.
  grpc::Status Finish(grpc::Status status);

 private:
  const ServiceEnv& env_;
  const grpc::ServerContext* context_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
  grpc::Status auth_status_;
  Requester requester_;
  grpc::StatusCode code_ = grpc::StatusCode::UNKNOWN;
};

}  // namespace align::coordinator
