#include "worker/control/rank_session.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "align/v1/worker_service.grpc.pb.h"
#include "common/file_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace align::control {

namespace {

using google::protobuf::util::TimeUtil;

// This build's WorkerService contract (coordinator/core/protocol_version.h).
constexpr uint32_t kProtocolMajor = 1;
constexpr uint32_t kProtocolMinor = 2;

absl::Status FromGrpc(const grpc::Status& status, const std::string& what) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

void SetVersion(v1::ProtocolVersion* version) {
  version->set_major(kProtocolMajor);
  version->set_minor(kProtocolMinor);
}

}  // namespace

struct RankSession::Impl {
  std::unique_ptr<v1::WorkerService::Stub> stub;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>> stream;
  absl::Duration heartbeat_interval = absl::Seconds(10);
  std::string who;

  JobMailbox mailbox;

  // Guards what heartbeats carry and when they end.
  mutable std::mutex mu;
  std::condition_variable wake;  // closing or lost
  bool closing = false;
  bool lost = false;  // mirrors mailbox.lost() for the heartbeat's wait
  std::string activity_job;
  int64_t activity_step = 0;
  int64_t activity_memory = 0;
  int64_t rejections = 0;

  std::mutex write_mu;
  bool write_closed = false;

  std::thread reader;
  std::thread heartbeat;

  void MarkLost(const std::string& why) {
    mailbox.MarkLost(why);
    {
      std::lock_guard<std::mutex> lock(mu);
      lost = true;
    }
    wake.notify_all();
  }

  bool Write(const v1::WorkerMessage& message) {
    std::lock_guard<std::mutex> lock(write_mu);
    if (write_closed) return false;
    if (!stream->Write(message)) {
      write_closed = true;
      MarkLost("the stream broke while sending");
      return false;
    }
    return true;
  }

  // Files one message from the coordinator into the mailbox.
  void File(const v1::CoordinatorMessage& message) {
    switch (message.body_case()) {
      case v1::CoordinatorMessage::kJobAssignment: {
        const v1::JobAssignment& a = message.job_assignment();
        mailbox.AddAssignment({a.job_id(), a.spec_yaml(), a.base_dir(), a.resume_step(), a.attempt()});
        break;
      }
      case v1::CoordinatorMessage::kPlanChunk: {
        std::vector<PlannedStep> steps;
        for (const v1::StepPlan& step : message.plan_chunk().steps()) {
          PlannedStep planned;
          planned.step = step.step();
          for (const v1::MicroBatch& batch : step.micro_batches()) {
            plan::MicroBatchPlan mb;
            mb.pairs.assign(batch.pair_indices().begin(), batch.pair_indices().end());
            mb.positions.assign(batch.stream_positions().begin(), batch.stream_positions().end());
            planned.micro_batches.push_back(std::move(mb));
          }
          steps.push_back(std::move(planned));
        }
        mailbox.AddPlanChunk(message.plan_chunk().job_id(), std::move(steps));
        break;
      }
      case v1::CoordinatorMessage::kPrepareChunks:
        mailbox.AddWorkChunks(message.prepare_chunks().job_id(),
                                 std::vector<int64_t>(message.prepare_chunks().positions().begin(),
                                                      message.prepare_chunks().positions().end()));
        break;
      case v1::CoordinatorMessage::kStageBoundary:
        mailbox.AddStageBoundary(message.stage_boundary().job_id(), message.stage_boundary().start_step(),
                                 message.stage_boundary().stage());
        break;
      case v1::CoordinatorMessage::kStopOrder:
        mailbox.AddStopOrder(message.stop_order().job_id());
        std::cerr << who << ": stop order for " << message.stop_order().job_id() << ": "
                  << message.stop_order().message() << std::endl;
        break;
      case v1::CoordinatorMessage::kRejection: {
        std::lock_guard<std::mutex> lock(mu);
        ++rejections;
        std::cerr << who << ": the coordinator refused a report about " << message.rejection().job_id() << ": "
                  << message.rejection().message() << std::endl;
        break;
      }
      default:
        break;  // a newer coordinator's message
    }
  }

  void ReadLoop() {
    v1::CoordinatorMessage message;
    while (stream->Read(&message)) File(message);
    MarkLost("the coordinator closed the session or became unreachable");
  }

  void HeartbeatLoop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!closing && !lost) {
      wake.wait_for(lock, absl::ToChronoMilliseconds(heartbeat_interval), [&] { return closing || lost; });
      if (closing || lost) return;
      v1::WorkerMessage message;
      message.mutable_heartbeat()->set_job_id(activity_job);
      message.mutable_heartbeat()->set_step(activity_step);
      message.mutable_heartbeat()->set_device_memory_bytes(activity_memory);
      lock.unlock();
      Write(message);
      lock.lock();
    }
  }
};

absl::StatusOr<std::unique_ptr<CoordinatorLink>> CoordinatorLink::Create(const LinkOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca.empty()) {
    absl::StatusOr<std::string> roots = ReadFileToString(options.tls_ca);
    if (!roots.ok()) return absl::InvalidArgumentError(absl::StrCat("--tls-ca: ", roots.status().message()));
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *roots;
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  // Reconnect quickly after a coordinator restart.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(options.address, credentials, args);
  return std::unique_ptr<CoordinatorLink>(new CoordinatorLink(options, std::move(channel)));
}

absl::StatusOr<GroupRegistration> CoordinatorLink::RegisterGroup(const std::string& name, int world_size,
                                                                 const std::vector<std::string>& hosts,
                                                                 const std::string& device) {
  auto stub = v1::WorkerService::NewStub(channel_);
  grpc::ClientContext context;
  if (!options_.token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::RegisterGroupRequest request;
  SetVersion(request.mutable_protocol_version());
  request.set_group_name(name);
  request.set_world_size(world_size);
  for (const std::string& host : hosts) request.add_hosts(host);
  request.mutable_capabilities()->set_device(device);
  request.mutable_capabilities()->add_precisions("fp32");
  request.mutable_capabilities()->add_precisions("bf16");
  for (const char* loss : {"dpo", "fdpo", "mapo", "sft"}) request.mutable_capabilities()->add_losses(loss);
  v1::RegisterGroupResponse response;
  grpc::Status status = stub->RegisterGroup(&context, request, &response);
  if (!status.ok()) return FromGrpc(status, absl::StrCat("RegisterGroup at ", options_.address));
  return GroupRegistration{response.group_id(), absl::Milliseconds(TimeUtil::DurationToMilliseconds(response.lease()))};
}

absl::StatusOr<std::unique_ptr<RankSession>> CoordinatorLink::OpenSession(const std::string& group_id, int rank,
                                                                          const std::string& host) {
  auto impl = std::make_unique<RankSession::Impl>();
  impl->who = absl::StrCat("align-worker rank ", rank);
  impl->stub = v1::WorkerService::NewStub(channel_);
  if (!options_.token.empty()) impl->context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  impl->stream = impl->stub->Session(&impl->context);
  v1::WorkerMessage hello;
  SetVersion(hello.mutable_hello()->mutable_protocol_version());
  hello.mutable_hello()->set_group_id(group_id);
  hello.mutable_hello()->set_rank(rank);
  hello.mutable_hello()->set_host(host);
  hello.mutable_hello()->set_pid(::getpid());
  v1::CoordinatorMessage reply;
  if (!impl->stream->Write(hello) || !impl->stream->Read(&reply)) {
    impl->stream->WritesDone();
    return FromGrpc(impl->stream->Finish(), "Session");
  }
  if (!reply.has_session_accepted()) {
    impl->context.TryCancel();
    impl->stream->Finish();
    return absl::InternalError("Session: the coordinator did not answer Hello with SessionAccepted");
  }
  const int64_t interval_ms = TimeUtil::DurationToMilliseconds(reply.session_accepted().heartbeat_interval());
  if (interval_ms > 0) impl->heartbeat_interval = absl::Milliseconds(interval_ms);
  RankSession::Impl* raw = impl.get();
  raw->reader = std::thread([raw] { raw->ReadLoop(); });
  raw->heartbeat = std::thread([raw] { raw->HeartbeatLoop(); });
  return std::unique_ptr<RankSession>(new RankSession(std::move(impl)));
}

RankSession::RankSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RankSession::~RankSession() { Close(); }

void RankSession::Close() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->closing = true;
  }
  impl_->wake.notify_all();
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
  {
    std::lock_guard<std::mutex> lock(impl_->write_mu);
    impl_->write_closed = true;
  }
  impl_->context.TryCancel();
  if (impl_->reader.joinable()) impl_->reader.join();
  impl_->stream->Finish();
  impl_.reset();
}

JobMailbox& RankSession::mailbox() { return impl_->mailbox; }

void RankSession::SetActivity(const std::string& job_id, int64_t step, int64_t device_memory_bytes) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->activity_job = job_id;
  impl_->activity_step = step;
  impl_->activity_memory = device_memory_bytes;
}

void RankSession::ClearActivity(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->activity_job == job_id) impl_->activity_job.clear();
}

int64_t RankSession::rejections() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->rejections;
}

bool RankSession::SendProgress(const std::string& job_id, int64_t step, const std::map<std::string, double>& metrics) {
  v1::WorkerMessage message;
  v1::Progress* progress = message.mutable_progress();
  progress->set_job_id(job_id);
  progress->set_step(step);
  progress->mutable_metrics()->insert(metrics.begin(), metrics.end());
  return impl_->Write(message);
}

bool RankSession::SendEval(const std::string& job_id, int64_t step, const std::map<std::string, double>& metrics) {
  v1::WorkerMessage message;
  v1::MetricBatch* batch = message.mutable_metric_batch();
  batch->set_job_id(job_id);
  v1::StepMetrics* entry = batch->add_steps();
  entry->set_step(step);
  entry->set_evaluation(true);
  entry->mutable_values()->insert(metrics.begin(), metrics.end());
  return impl_->Write(message);
}

bool RankSession::SendCheckpoint(const std::string& job_id, int64_t step, const std::string& path) {
  v1::WorkerMessage message;
  message.mutable_checkpoint_committed()->set_job_id(job_id);
  message.mutable_checkpoint_committed()->set_step(step);
  message.mutable_checkpoint_committed()->set_path(path);
  return impl_->Write(message);
}

bool RankSession::SendCompleted(const std::string& job_id, int64_t step, const std::string& checkpoint_path) {
  v1::WorkerMessage message;
  message.mutable_job_completed()->set_job_id(job_id);
  message.mutable_job_completed()->set_step(step);
  message.mutable_job_completed()->set_checkpoint_path(checkpoint_path);
  return impl_->Write(message);
}

bool RankSession::SendFailure(const std::string& job_id, const std::string& text, int64_t step, bool retryable) {
  v1::WorkerMessage message;
  message.mutable_failure()->set_job_id(job_id);
  message.mutable_failure()->set_message(text);
  message.mutable_failure()->set_step(step);
  message.mutable_failure()->set_retryable(retryable);
  return impl_->Write(message);
}

bool RankSession::SendChunkDone(const std::string& job_id, int64_t position, int64_t pairs, int64_t failed_items) {
  v1::WorkerMessage message;
  v1::ChunkDone* done = message.mutable_chunk_done();
  done->set_job_id(job_id);
  done->set_position(position);
  done->set_pairs(pairs);
  done->set_failed_items(failed_items);
  return impl_->Write(message);
}

bool RankSession::SendStopped(const std::string& job_id, int64_t step) {
  v1::WorkerMessage message;
  message.mutable_stopped()->set_job_id(job_id);
  message.mutable_stopped()->set_step(step);
  return impl_->Write(message);
}

}  // namespace align::control
