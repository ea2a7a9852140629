#include "coordinator/server/worker_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/core/log.h"
#include "coordinator/core/protocol_version.h"
#include "coordinator/server/grpc_status.h"
#include "google/protobuf/util/time_util.h"

namespace align::coordinator {

namespace {

using auth::Role;
using google::protobuf::util::TimeUtil;

void SetVersion(v1::ProtocolVersion* version) {
  version->set_major(kProtocolMajor);
  version->set_minor(kProtocolMinor);
}

}  // namespace

void WorkerServiceImpl::PublishWorkersUp() {
  if (env_.metrics != nullptr) env_.metrics->SetWorkersUp(static_cast<double>(registry_->RanksUp()));
}

grpc::Status WorkerServiceImpl::RegisterGroup(grpc::ServerContext* context, const v1::RegisterGroupRequest* request,
                                              v1::RegisterGroupResponse* response) {
  RpcScope rpc(env_, context, "RegisterGroup", Role::kWorker);
  if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
  const absl::Status version =
      CheckProtocolVersion(request->protocol_version().major(), request->protocol_version().minor());
  if (!version.ok()) return rpc.Finish(ToGrpcStatus(version));
  GroupRegistration registration;
  registration.name = request->group_name();
  registration.world_size = request->world_size();
  registration.hosts.assign(request->hosts().begin(), request->hosts().end());
  registration.device = request->capabilities().device();
  absl::StatusOr<GroupInfo> group = registry_->Register(registration);
  if (!group.ok()) return rpc.Finish(ToGrpcStatus(group.status()));
  LogLine(absl::StrCat("worker group ", group->id, " \"", registration.name, "\" registered: ",
                       registration.world_size, " ranks on ", absl::StrJoin(registration.hosts, ",")));
  response->set_group_id(group->id);
  *response->mutable_lease() = TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(registry_->lease()));
  SetVersion(response->mutable_protocol_version());
  return rpc.Finish(grpc::Status::OK);
}

grpc::Status WorkerServiceImpl::Session(
    grpc::ServerContext* context, grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::WorkerMessage>* stream) {
  RpcScope rpc(env_, context, "Session", Role::kWorker);
  if (!rpc.authorized()) return rpc.Finish(rpc.auth_status());
  v1::WorkerMessage message;
  if (!stream->Read(&message)) return rpc.Finish(grpc::Status::OK);  // the worker left before saying hello
  if (!message.has_hello()) {
    return rpc.Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first session message must be Hello"));
  }
  const v1::Hello& hello = message.hello();
  const absl::Status version = CheckProtocolVersion(hello.protocol_version().major(), hello.protocol_version().minor());
  if (!version.ok()) return rpc.Finish(ToGrpcStatus(version));
  const std::string group_id = hello.group_id();
  const int rank = hello.rank();
  if (absl::Status attached = registry_->Attach(group_id, rank); !attached.ok()) {
    return rpc.Finish(ToGrpcStatus(attached));
  }
  PublishWorkersUp();
  const std::string who = absl::StrCat(group_id, " rank ", rank, " (", hello.host(), " pid ", hello.pid(), ")");
  LogLine(absl::StrCat("session opened: ", who));

  v1::CoordinatorMessage accepted;
  SetVersion(accepted.mutable_session_accepted()->mutable_protocol_version());
  *accepted.mutable_session_accepted()->mutable_heartbeat_interval() =
      TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(registry_->lease() / 3));
  grpc::Status status = grpc::Status::OK;
  if (stream->Write(accepted)) {
    bool warned = false;
    while (stream->Read(&message)) {
      registry_->Touch(group_id);
      if (message.has_hello()) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Hello may only be the first session message");
        break;
      }
      if (!message.has_heartbeat() && !warned) {
        LogLine(absl::StrCat(who, " sent a job message; this coordinator does not assign jobs yet"));
        warned = true;
      }
    }
  }
  registry_->Detach(group_id, rank);
  PublishWorkersUp();
  LogLine(absl::StrCat("session closed: ", who));
  return rpc.Finish(status);
}

}  // namespace align::coordinator
