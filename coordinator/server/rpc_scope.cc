#include "coordinator/server/rpc_scope.h"

#include "absl/strings/str_cat.h"
#include "coordinator/core/log.h"
#include "coordinator/server/grpc_status.h"

namespace align::coordinator {

RpcScope::RpcScope(const ServiceEnv& env, const grpc::ServerContext* context, std::string method, auth::Role role)
    : env_(env), context_(context), method_(std::move(method)), start_(std::chrono::steady_clock::now()) {
  auth_status_ = env_.authenticator->Check(*context, role, &requester_);
  if (!auth_status_.ok()) {
    // Never the token itself: only who called what and why it was refused.
    LogLine(absl::StrCat(method_, " from ", context_->peer(), " refused: ", auth_status_.error_message()));
  }
}

RpcScope::~RpcScope() {
  if (env_.metrics == nullptr) return;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  env_.metrics->ObserveRpc(method_, GrpcCodeName(code_), seconds);
}

grpc::Status RpcScope::Finish(grpc::Status status) {
  code_ = status.error_code();
  return status;
}

}  // namespace align::coordinator
