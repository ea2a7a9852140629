// WorkerService in process, over a real channel, with a scripted worker: a
// group registers, its session gets the JobAssignment and PlanChunks, reports
// progress / checkpoint / completion; a report for a job the group does not
// hold gets a Rejection (FAILED_PRECONDITION) while the session, the group's
// job and the coordinator go on; cancel sends a StopOrder; a silent group loses
// its lease and its job is requeued; a restart requeues running jobs.

#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "align/v1/job_service.grpc.pb.h"
#include "align/v1/worker_service.grpc.pb.h"
#include "common/dataset/synthetic.h"
#include "coordinator/server/coordinator_server.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"

namespace align::coordinator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kClientToken[] = "client-token-0123456789";
constexpr char kWorkerToken[] = "worker-token-0123456789";

class WorkerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "worker_service_test_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    std::ofstream(dir_ + "/tokens") << "client:" << kClientToken << "\nworker:" << kWorkerToken << "\n";
    fs::permissions(dir_ + "/tokens", fs::perms::owner_read | fs::perms::owner_write);
    fs::create_directories(dir_ + "/model/unet");
    // A one-block UNet that the dataset below (context_dim 8, no pooled) fits.
    std::ofstream(dir_ + "/model/unet/config.json")
        << R"({"block_out_channels": [32], "down_block_types": ["DownBlock2D"], "up_block_types": ["UpBlock2D"],)"
        << R"( "cross_attention_dim": 8})";
    data::SyntheticOptions data;
    data.train_pairs = 32;
    data.heldout_pairs = 4;
    data.shape = {4, 4, 4, 2, 8, 0};
    ASSERT_TRUE(data::WriteSyntheticDataset(dir_ + "/data", data).ok());
    options_.listen = "127.0.0.1:0";
    options_.state_dir = dir_ + "/state";
    options_.token_file = dir_ + "/tokens";
    options_.scheduler.tick = absl::Milliseconds(50);
    Start();
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }
  void Start() {
    auto server = CoordinatorServer::Start(options_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    jobs_ = v1::JobService::NewStub(channel_);
    workers_ = v1::WorkerService::NewStub(channel_);
  }

  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->AddMetadata("authorization", "Bearer " + token);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return context;
  }

  std::string Submit(const std::string& name, int steps) {
    v1::SubmitJobRequest request;
    request.set_spec_yaml("name: " + name + "\ntype: train\nmodel: model\ndataset: data\noutput: runs/" + name +
                          "\nloss: {type: dpo}\nbatch: {pairs_per_rank: 2}\nsteps: " + std::to_string(steps) + "\n");
    request.set_base_dir(dir_);
    v1::SubmitJobResponse response;
    EXPECT_TRUE(jobs_->SubmitJob(Context(kClientToken).get(), request, &response).ok());
    return response.job_id();
  }
  v1::Job GetJob(const std::string& id) {
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::GetJobResponse response;
    EXPECT_TRUE(jobs_->GetJob(Context(kClientToken).get(), request, &response).ok());
    return response.job();
  }
  std::string Register(int world_size) {
    v1::RegisterGroupRequest request;
    request.mutable_protocol_version()->set_major(1);
    request.mutable_protocol_version()->set_minor(1);
    request.set_group_name("scripted");
    request.set_world_size(world_size);
    for (int r = 0; r < world_size; ++r) request.add_hosts("node");
    v1::RegisterGroupResponse response;
    EXPECT_TRUE(workers_->RegisterGroup(Context(kWorkerToken).get(), request, &response).ok());
    return response.group_id();
  }

  struct Session {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>> stream;
    // The next message that is not `skip` (e.g. skip plan chunks).
    bool Next(v1::CoordinatorMessage* out, v1::CoordinatorMessage::BodyCase want) {
      while (stream->Read(out)) {
        if (out->body_case() == want) return true;
      }
      return false;
    }
    bool Send(const v1::WorkerMessage& message) { return stream->Write(message); }
  };
  Session Open(const std::string& group, int rank) {
    Session session;
    session.context = Context(kWorkerToken);
    session.stream = workers_->Session(session.context.get());
    v1::WorkerMessage hello;
    hello.mutable_hello()->mutable_protocol_version()->set_major(1);
    hello.mutable_hello()->set_group_id(group);
    hello.mutable_hello()->set_rank(rank);
    EXPECT_TRUE(session.stream->Write(hello));
    v1::CoordinatorMessage accepted;
    EXPECT_TRUE(session.stream->Read(&accepted));
    EXPECT_TRUE(accepted.has_session_accepted());
    return session;
  }
  static v1::WorkerMessage Progress(const std::string& job, int64_t step, double loss) {
    v1::WorkerMessage message;
    message.mutable_progress()->set_job_id(job);
    message.mutable_progress()->set_step(step);
    (*message.mutable_progress()->mutable_metrics())["loss"] = loss;
    return message;
  }
  // Polls until `condition` holds or a deadline passes. The deadline is
  // generous: it only bounds a failing test, and a busy machine must not make
  // a passing one fail.
  template <typename F>
  static bool Eventually(F condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (condition()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return condition();
  }
  std::vector<std::string> Events(const std::string& id) {
    v1::ListEventsRequest request;
    request.set_job_id(id);
    v1::ListEventsResponse response;
    EXPECT_TRUE(jobs_->ListEvents(Context(kClientToken).get(), request, &response).ok());
    std::vector<std::string> events;
    for (const v1::JobEvent& event : response.events()) events.push_back(event.kind() + ": " + event.message());
    return events;
  }

  std::string dir_;
  CoordinatorOptions options_;
  std::unique_ptr<CoordinatorServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

TEST_F(WorkerServiceTest, AGroupRunsAJobAndABogusReportIsRefusedWhileEverythingGoesOn) {
  const std::string job = Submit("wire", 6);
  const std::string group = Register(2);
  Session rank0 = Open(group, 0), rank1 = Open(group, 1);

  v1::CoordinatorMessage message;
  ASSERT_TRUE(rank0.Next(&message, v1::CoordinatorMessage::kJobAssignment));
  EXPECT_EQ(message.job_assignment().job_id(), job);
  EXPECT_EQ(message.job_assignment().resume_step(), 0);
  EXPECT_THAT(message.job_assignment().spec_yaml(), HasSubstr("name: wire"));
  ASSERT_TRUE(rank1.Next(&message, v1::CoordinatorMessage::kJobAssignment));
  ASSERT_TRUE(rank1.Next(&message, v1::CoordinatorMessage::kPlanChunk));
  const v1::PlanChunk& chunk = message.plan_chunk();
  EXPECT_EQ(chunk.first_step(), 0);
  EXPECT_EQ(chunk.end_step(), 6);  // the whole job fits in the look-ahead
  ASSERT_EQ(chunk.steps_size(), 6);
  EXPECT_EQ(chunk.steps(0).micro_batches(0).pair_indices_size(), 2);
  EXPECT_EQ(chunk.steps(0).micro_batches(0).stream_positions(0), 2);  // rank 1's pairs follow rank 0's

  // A report about a job this group does not hold: refused, nothing else changes.
  ASSERT_TRUE(rank0.Send(Progress("job-000099", 3, 1.0)));
  ASSERT_TRUE(rank0.Next(&message, v1::CoordinatorMessage::kRejection));
  EXPECT_EQ(message.rejection().code(), static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  EXPECT_EQ(message.rejection().job_id(), "job-000099");
  EXPECT_THAT(message.rejection().message(), HasSubstr("does not hold job job-000099"));
  EXPECT_EQ(GetJob(job).state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(GetJob(job).progress().step(), 0);

  // The same session goes on with the real job.
  ASSERT_TRUE(rank0.Send(Progress(job, 1, 0.69)));
  v1::WorkerMessage checkpoint;
  checkpoint.mutable_checkpoint_committed()->set_job_id(job);
  checkpoint.mutable_checkpoint_committed()->set_step(4);
  checkpoint.mutable_checkpoint_committed()->set_path(dir_ + "/runs/wire/checkpoint-4");
  ASSERT_TRUE(rank0.Send(checkpoint));
  ASSERT_TRUE(rank0.Send(Progress(job, 6, 0.25)));
  v1::WorkerMessage done;
  done.mutable_job_completed()->set_job_id(job);
  done.mutable_job_completed()->set_step(6);
  done.mutable_job_completed()->set_checkpoint_path(dir_ + "/runs/wire/checkpoint-6");
  ASSERT_TRUE(rank0.Send(done));
  ASSERT_TRUE(Eventually([&] { return GetJob(job).state() == v1::JOB_STATE_SUCCEEDED; }));
  const v1::Job finished = GetJob(job);
  EXPECT_EQ(finished.progress().step(), 6);
  EXPECT_DOUBLE_EQ(finished.progress().loss(), 0.25);
  EXPECT_EQ(finished.last_checkpoint_step(), 6);
  // The final step's metrics are still taken after the completion.
  ASSERT_TRUE(rank0.Send(Progress(job, 6, 0.125)));
  EXPECT_TRUE(Eventually([&] { return GetJob(job).progress().loss() == 0.125; }));
  EXPECT_EQ(GetJob(job).state(), v1::JOB_STATE_SUCCEEDED);

  // The coordinator still serves: a new job goes to the same, now idle, group.
  const std::string next = Submit("wire-2", 3);
  ASSERT_TRUE(rank1.Next(&message, v1::CoordinatorMessage::kJobAssignment));
  EXPECT_EQ(message.job_assignment().job_id(), next);
  rank0.context->TryCancel();
  rank1.context->TryCancel();
}

TEST_F(WorkerServiceTest, CancelSendsAStopOrderToEveryRank) {
  const std::string job = Submit("stop-me", 100);
  const std::string group = Register(2);
  Session rank0 = Open(group, 0), rank1 = Open(group, 1);
  v1::CoordinatorMessage message;
  ASSERT_TRUE(rank0.Next(&message, v1::CoordinatorMessage::kJobAssignment));
  v1::CancelJobRequest cancel;
  cancel.set_job_id(job);
  cancel.set_reason("wrong beta");
  v1::CancelJobResponse cancelled;
  ASSERT_TRUE(jobs_->CancelJob(Context(kClientToken).get(), cancel, &cancelled).ok());
  for (Session* rank : {&rank0, &rank1}) {
    ASSERT_TRUE(rank->Next(&message, v1::CoordinatorMessage::kStopOrder));
    EXPECT_EQ(message.stop_order().job_id(), job);
    EXPECT_EQ(message.stop_order().reason(), v1::StopOrder::REASON_CANCELLED);
    EXPECT_EQ(message.stop_order().message(), "wrong beta");
  }
  v1::WorkerMessage stopped;
  stopped.mutable_stopped()->set_job_id(job);
  stopped.mutable_stopped()->set_step(7);
  ASSERT_TRUE(rank0.Send(stopped));
  // The group is idle again and takes the next job.
  const std::string next = Submit("after", 3);
  ASSERT_TRUE(rank0.Next(&message, v1::CoordinatorMessage::kJobAssignment));
  EXPECT_EQ(message.job_assignment().job_id(), next);
  EXPECT_EQ(GetJob(job).state(), v1::JOB_STATE_CANCELLED);
  rank0.context->TryCancel();
  rank1.context->TryCancel();
}

TEST_F(WorkerServiceTest, ASilentGroupLosesItsLeaseAndItsJobGoesBackToTheQueue) {
  server_.reset();
  options_.worker_lease = absl::Milliseconds(600);
  Start();
  const std::string job = Submit("lease", 100);
  const std::string group = Register(1);
  Session rank0 = Open(group, 0);
  v1::CoordinatorMessage message;
  ASSERT_TRUE(rank0.Next(&message, v1::CoordinatorMessage::kJobAssignment));
  // No heartbeats: the coordinator ends the session and requeues the job. The
  // event says why: the lease, not the stream's own deadline (which would end
  // the session too, later).
  while (rank0.stream->Read(&message)) {
  }
  ASSERT_TRUE(Eventually([&] { return GetJob(job).state() == v1::JOB_STATE_QUEUED; }));
  EXPECT_EQ(GetJob(job).attempts(), 1);
  EXPECT_THAT(Events(job), ::testing::Contains(::testing::AllOf(HasSubstr("interrupted"), HasSubstr("(lease)"))));
  // A new group (the old one must register again) takes it.
  Session again = Open(Register(1), 0);
  ASSERT_TRUE(again.Next(&message, v1::CoordinatorMessage::kJobAssignment));
  EXPECT_EQ(message.job_assignment().attempt(), 2);
  again.context->TryCancel();
}

TEST_F(WorkerServiceTest, ARestartedCoordinatorRequeuesWhatWasRunning) {
  const std::string job = Submit("restart", 100);
  {
    Session rank0 = Open(Register(1), 0);
    v1::CoordinatorMessage message;
    ASSERT_TRUE(rank0.Next(&message, v1::CoordinatorMessage::kJobAssignment));
    v1::WorkerMessage checkpoint;
    checkpoint.mutable_checkpoint_committed()->set_job_id(job);
    checkpoint.mutable_checkpoint_committed()->set_step(10);
    checkpoint.mutable_checkpoint_committed()->set_path("/x/checkpoint-10");
    ASSERT_TRUE(rank0.Send(Progress(job, 12, 0.5)));
    ASSERT_TRUE(rank0.Send(checkpoint));
    ASSERT_TRUE(Eventually([&] { return GetJob(job).last_checkpoint_step() == 10; }));
    rank0.context->TryCancel();
  }
  server_.reset();
  Start();
  const v1::Job back = GetJob(job);
  EXPECT_EQ(back.state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(back.progress().step(), 10);
  Session rank0 = Open(Register(1), 0);
  v1::CoordinatorMessage message;
  ASSERT_TRUE(rank0.Next(&message, v1::CoordinatorMessage::kJobAssignment));
  EXPECT_EQ(message.job_assignment().resume_step(), 10);
  ASSERT_TRUE(rank0.Next(&message, v1::CoordinatorMessage::kPlanChunk));
  EXPECT_EQ(message.plan_chunk().first_step(), 10);
  rank0.context->TryCancel();
}

}  // namespace
}  // namespace align::coordinator
