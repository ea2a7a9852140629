#include "coordinator/server/worker_service.h"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

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
using Stream = grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::WorkerMessage>;

void SetVersion(v1::ProtocolVersion* version) {
  version->set_major(kProtocolMajor);
  version->set_minor(kProtocolMinor);
}

void ToProto(const OutboundMessage& message, v1::CoordinatorMessage* out) {
  std::visit(
      [out](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, AssignmentOut>) {
          v1::JobAssignment* a = out->mutable_job_assignment();
          a->set_job_id(m.job_id);
          a->set_spec_yaml(m.spec_yaml);
          a->set_base_dir(m.base_dir);
          a->set_resume_step(m.resume_step);
          a->set_attempt(m.attempt);
        } else if constexpr (std::is_same_v<T, PlanChunkOut>) {
          v1::PlanChunk* chunk = out->mutable_plan_chunk();
          chunk->set_job_id(m.job_id);
          chunk->set_first_step(m.first_step);
          chunk->set_end_step(m.end_step);
          for (const StepPlanOut& step : m.steps) {
            v1::StepPlan* plan = chunk->add_steps();
            plan->set_step(step.step);
            for (const plan::MicroBatchPlan& micro : step.micro_batches) {
              v1::MicroBatch* batch = plan->add_micro_batches();
              batch->mutable_pair_indices()->Add(micro.pairs.begin(), micro.pairs.end());
              batch->mutable_stream_positions()->Add(micro.positions.begin(), micro.positions.end());
            }
          }
        } else if constexpr (std::is_same_v<T, WorkChunksOut>) {
          v1::PrepareChunks* chunks = out->mutable_prepare_chunks();
          chunks->set_job_id(m.job_id);
          chunks->mutable_positions()->Add(m.positions.begin(), m.positions.end());
          chunks->set_total_chunks(m.total_chunks);
        } else if constexpr (std::is_same_v<T, StageBoundaryOut>) {
          v1::StageBoundary* stage = out->mutable_stage_boundary();
          stage->set_job_id(m.job_id);
          stage->set_stage(m.stage);
          stage->set_start_step(m.start_step);
        } else if constexpr (std::is_same_v<T, StopOrderOut>) {
          v1::StopOrder* stop = out->mutable_stop_order();
          stop->set_job_id(m.job_id);
          stop->set_reason(m.reason == StopReason::kCancelled   ? v1::StopOrder::REASON_CANCELLED
                           : m.reason == StopReason::kPreempted ? v1::StopOrder::REASON_PREEMPTED
                                                                : v1::StopOrder::REASON_SHUTDOWN);
          stop->set_message(m.message);
        } else if constexpr (std::is_same_v<T, RejectionOut>) {
          v1::Rejection* rejection = out->mutable_rejection();
          rejection->set_job_id(m.job_id);
          rejection->set_code(static_cast<int32_t>(m.code));
          rejection->set_message(m.message);
        }
      },
      message);
}

std::map<std::string, double> ToMap(const google::protobuf::Map<std::string, double>& values) {
  return std::map<std::string, double>(values.begin(), values.end());
}

// One rank's stream as the scheduler writes to it. Messages queue in order;
// whoever flushes writes them (one writer at a time, as gRPC requires). After
// the handler returns, the stream is gone: Finish() makes later flushes drop.
class GrpcSessionSink : public SessionSink {
 public:
  GrpcSessionSink(grpc::ServerContext* context, Stream* stream) : context_(context), stream_(stream) {}

  void Enqueue(OutboundMessage message) override {
    std::lock_guard<std::mutex> lock(queue_mu_);
    queue_.push_back(std::move(message));
  }

  void Flush() override {
    std::lock_guard<std::mutex> write(write_mu_);
    while (true) {
      OutboundMessage next;
      {
        std::lock_guard<std::mutex> lock(queue_mu_);
        if (queue_.empty()) return;
        next = std::move(queue_.front());
        queue_.pop_front();
      }
      if (finished_ || broken_) continue;
      v1::CoordinatorMessage out;
      ToProto(next, &out);
      if (!stream_->Write(out)) broken_ = true;
    }
  }

  bool WriteNow(const v1::CoordinatorMessage& message) {
    std::lock_guard<std::mutex> write(write_mu_);
    if (finished_ || broken_) return false;
    if (!stream_->Write(message)) broken_ = true;
    return !broken_;
  }

  void Close() override {
    std::lock_guard<std::mutex> write(cancel_mu_);
    if (!finished_) context_->TryCancel();
  }

  // The handler is about to return.
  void Finish() {
    std::lock_guard<std::mutex> cancel(cancel_mu_);
    std::lock_guard<std::mutex> write(write_mu_);
    finished_ = true;
  }

 private:
  grpc::ServerContext* context_;
  Stream* stream_;
  std::mutex queue_mu_;
  std::deque<OutboundMessage> queue_;
  std::mutex write_mu_;
  std::mutex cancel_mu_;
  bool finished_ = false;  // guarded by write_mu_ and cancel_mu_
  bool broken_ = false;    // guarded by write_mu_
};

std::string JobIdOf(const v1::WorkerMessage& message) {
  switch (message.body_case()) {
    case v1::WorkerMessage::kProgress: return message.progress().job_id();
    case v1::WorkerMessage::kMetricBatch: return message.metric_batch().job_id();
    case v1::WorkerMessage::kCheckpointCommitted: return message.checkpoint_committed().job_id();
    case v1::WorkerMessage::kFailure: return message.failure().job_id();
    case v1::WorkerMessage::kJobCompleted: return message.job_completed().job_id();
    case v1::WorkerMessage::kStopped: return message.stopped().job_id();
    case v1::WorkerMessage::kHeartbeat: return message.heartbeat().job_id();
    case v1::WorkerMessage::kChunkDone: return message.chunk_done().job_id();
    default: return "";
  }
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

grpc::Status WorkerServiceImpl::Session(grpc::ServerContext* context, Stream* stream) {
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
  const int world_size = registry_->WorldSize(group_id);
  PublishWorkersUp();
  const std::string who = absl::StrCat(group_id, " rank ", rank, " (", hello.host(), " pid ", hello.pid(), ")");
  LogLine(absl::StrCat("session opened: ", who));

  auto sink = std::make_shared<GrpcSessionSink>(context, stream);
  v1::CoordinatorMessage accepted;
  SetVersion(accepted.mutable_session_accepted()->mutable_protocol_version());
  *accepted.mutable_session_accepted()->mutable_heartbeat_interval() =
      TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(registry_->lease() / 3));
  grpc::Status status = grpc::Status::OK;
  std::string why = "the worker closed it";
  bool closed_by_worker = false;
  if (sink->WriteNow(accepted)) {
    scheduler_->Attach(group_id, rank, world_size, sink);
    while (stream->Read(&message)) {
      registry_->Touch(group_id);
      absl::Status handled;
      switch (message.body_case()) {
        case v1::WorkerMessage::kHello:
          status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Hello may only be the first session message");
          break;
        case v1::WorkerMessage::kHeartbeat: {
          const v1::Heartbeat& h = message.heartbeat();
          handled = scheduler_->OnHeartbeat(group_id, rank, h.job_id(), h.step(), h.device_memory_bytes());
          break;
        }
        case v1::WorkerMessage::kProgress: {
          const v1::Progress& p = message.progress();
          handled = scheduler_->OnProgress(group_id, rank, p.job_id(), p.step(), ToMap(p.metrics()));
          break;
        }
        case v1::WorkerMessage::kMetricBatch: {
          std::vector<StepMetricsIn> steps;
          for (const v1::StepMetrics& s : message.metric_batch().steps()) {
            steps.push_back({s.step(), ToMap(s.values()), s.evaluation()});
          }
          handled = scheduler_->OnMetricBatch(group_id, rank, message.metric_batch().job_id(), steps);
          break;
        }
        case v1::WorkerMessage::kCheckpointCommitted: {
          const v1::CheckpointCommitted& c = message.checkpoint_committed();
          handled = scheduler_->OnCheckpoint(group_id, c.job_id(), c.step(), c.path());
          break;
        }
        case v1::WorkerMessage::kFailure: {
          const v1::Failure& f = message.failure();
          handled = scheduler_->OnFailure(group_id, f.job_id(), f.message(), f.step(), f.retryable());
          break;
        }
        case v1::WorkerMessage::kJobCompleted: {
          const v1::JobCompleted& c = message.job_completed();
          handled = scheduler_->OnCompleted(group_id, c.job_id(), c.step(), c.checkpoint_path());
          break;
        }
        case v1::WorkerMessage::kStopped: {
          const v1::Stopped& s = message.stopped();
          handled = scheduler_->OnStopped(group_id, s.job_id(), s.step());
          break;
        }
        case v1::WorkerMessage::kChunkDone: {
          const v1::ChunkDone& c = message.chunk_done();
          handled = scheduler_->OnChunkDone(group_id, rank, c.job_id(), c.position(), c.pairs(), c.failed_items());
          break;
        }
        default:
          break;  // a newer worker's message: ignored
      }
      if (!status.ok()) break;
      if (absl::IsNotFound(handled)) {
        status = ToGrpcStatus(handled);
        break;
      }
      if (!handled.ok()) {
        // The report is refused; the session (and the group's job) go on.
        LogLine(absl::StrCat(who, ": refused a report: ", handled.message()));
        sink->Enqueue(RejectionOut{JobIdOf(message), handled.code(), std::string(handled.message())});
        sink->Flush();
      }
    }
    closed_by_worker = status.ok() && !context->IsCancelled();
    if (context->IsCancelled()) why = "cancelled or broken";
    if (!status.ok()) why = status.error_message();
  }
  sink->Finish();
  registry_->Detach(group_id, rank);
  PublishWorkersUp();
  scheduler_->SessionEnded(group_id, rank, why, closed_by_worker);
  LogLine(absl::StrCat("session closed: ", who));
  return rpc.Finish(status);
}

}  // namespace align::coordinator
