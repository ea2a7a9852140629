// align-coordinator's gRPC services, in process: a real server on
// 127.0.0.1:0 and a real channel. Submit/get/list/cancel/events/watch,
// authentication (nothing changes on a refused call), spec errors naming the
// field, the message size limit, a restart on the same state directory, the
// metrics, and the WorkerService handshake.

#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "align/v1/job_service.grpc.pb.h"
#include "align/v1/worker_service.grpc.pb.h"
#include "common/dataset/manifest.h"
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
constexpr char kBobToken[] = "bob-token-0123456789";
constexpr char kAdminToken[] = "admin-token-0123456789";

class CoordinatorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "coordinator_service_test_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    std::ofstream(dir_ + "/tokens") << "# test tokens\nclient:" << kClientToken << "\nworker:" << kWorkerToken
                                    << "\nclient:bob:" << kBobToken << "\nadmin:ops:" << kAdminToken << "\n";
    fs::create_directories(dir_ + "/model/unet");
    // A one-block UNet that the dataset below (context_dim 32, no pooled) fits.
    std::ofstream(dir_ + "/model/unet/config.json")
        << R"({"block_out_channels": [32], "down_block_types": ["DownBlock2D"], "up_block_types": ["UpBlock2D"],)"
        << R"( "cross_attention_dim": 32})";
    fs::create_directories(dir_ + "/data");
    data::Manifest manifest;
    manifest.shape = {4, 8, 8, 8, 32, 0};
    manifest.splits["train"] = {2, {{"train-00000.safetensors", 2}}};
    manifest.splits["heldout"] = {0, {}};
    std::ofstream(dir_ + "/data/manifest.json") << data::SerializeManifest(manifest);
    options_.listen = "127.0.0.1:0";
    options_.state_dir = dir_ + "/state";
    options_.token_file = dir_ + "/tokens";
    StartServer();
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  void StartServer() {
    auto server = CoordinatorServer::Start(options_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    jobs_ = v1::JobService::NewStub(channel_);
    workers_ = v1::WorkerService::NewStub(channel_);
  }

  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token = kClientToken) {
    auto context = std::make_unique<grpc::ClientContext>();
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  std::string Spec(const std::string& name, const std::string& extra = "") const {
    return "name: " + name + "\ntype: train\nmodel: model\ndataset: data\noutput: runs/" + name +
           "\nloss: {type: fdpo, divergence: js, beta: 5}\nsteps: 100\n" + extra;
  }

  grpc::Status Submit(const std::string& spec, v1::SubmitJobResponse* response,
                      const std::string& token = kClientToken, const std::string& submit_key = "") {
    v1::SubmitJobRequest request;
    request.set_spec_yaml(spec);
    request.set_base_dir(dir_);
    request.set_submit_key(submit_key);
    return jobs_->SubmitJob(Context(token).get(), request, response);
  }

  grpc::Status SubmitChain(const std::vector<std::string>& specs, v1::SubmitJobsResponse* response,
                           const std::string& submit_key = "") {
    v1::SubmitJobsRequest request;
    for (const std::string& spec : specs) request.add_spec_yaml(spec);
    request.set_base_dir(dir_);
    request.set_submit_key(submit_key);
    return jobs_->SubmitJobs(Context().get(), request, response);
  }

  std::string SubmitOk(const std::string& name) {
    v1::SubmitJobResponse response;
    const grpc::Status status = Submit(Spec(name), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.job_id();
  }

  std::vector<v1::Job> List(std::vector<v1::JobState> states = {}) {
    v1::ListJobsRequest request;
    for (v1::JobState state : states) request.add_states(state);
    v1::ListJobsResponse response;
    const grpc::Status status = jobs_->ListJobs(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.jobs().begin(), response.jobs().end()};
  }

  v1::Job Get(const std::string& id) {
    v1::GetJobRequest request;
    request.set_job_id(id);
    v1::GetJobResponse response;
    const grpc::Status status = jobs_->GetJob(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.job();
  }

  grpc::Status Cancel(const std::string& id, const std::string& token = kClientToken) {
    v1::CancelJobRequest request;
    request.set_job_id(id);
    request.set_reason("test");
    v1::CancelJobResponse response;
    return jobs_->CancelJob(Context(token).get(), request, &response);
  }

  double MetricValue(const std::string& family_name, const std::string& label, const std::string& value) {
    for (const auto& family : server_->metrics().Collect()) {
      if (family.name != family_name) continue;
      for (const auto& metric : family.metric) {
        for (const auto& l : metric.label) {
          if (l.name == label && l.value == value) {
            return family.type == prometheus::MetricType::Histogram ? metric.histogram.sample_count
                                                                    : metric.gauge.value;
          }
        }
        if (label.empty()) return metric.gauge.value;
      }
    }
    return -1;
  }

  std::string dir_;
  CoordinatorOptions options_;
  std::unique_ptr<CoordinatorServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::JobService::Stub> jobs_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

TEST_F(CoordinatorServiceTest, SubmitGetListCancelEvents) {
  v1::SubmitJobResponse submitted;
  ASSERT_TRUE(Submit(Spec("first"), &submitted).ok());
  EXPECT_EQ(submitted.job_id(), "job-000001");
  EXPECT_EQ(submitted.job().state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(submitted.job().name(), "first");
  EXPECT_EQ(submitted.job().progress().total_steps(), 100);
  const std::string second = SubmitOk("second");
  EXPECT_EQ(second, "job-000002");

  v1::Job job = Get("job-000001");
  EXPECT_EQ(job.spec_yaml(), Spec("first"));
  EXPECT_EQ(job.base_dir(), dir_);
  EXPECT_TRUE(job.has_created_at());
  EXPECT_FALSE(job.has_started_at());

  ASSERT_TRUE(Cancel(second).ok());
  std::vector<v1::Job> all = List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id(), "job-000001");
  EXPECT_TRUE(all[0].spec_yaml().empty());
  EXPECT_EQ(all[1].state(), v1::JOB_STATE_CANCELLED);
  ASSERT_EQ(List({v1::JOB_STATE_QUEUED}).size(), 1u);
  EXPECT_EQ(List({v1::JOB_STATE_QUEUED, v1::JOB_STATE_CANCELLED}).size(), 2u);

  // Cancelling twice is refused with a reason, and changes nothing.
  const grpc::Status again = Cancel(second);
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(again.error_message(), HasSubstr("already been cancelled"));

  v1::ListEventsRequest events_request;
  events_request.set_job_id(second);
  v1::ListEventsResponse events;
  ASSERT_TRUE(jobs_->ListEvents(Context().get(), events_request, &events).ok());
  ASSERT_EQ(events.events_size(), 2);
  EXPECT_EQ(events.events(0).kind(), "submitted");
  EXPECT_EQ(events.events(1).kind(), "cancelled");
  EXPECT_EQ(events.events(1).message(), "test");
  EXPECT_LT(events.events(0).seq(), events.events(1).seq());

  v1::GetJobRequest missing;
  missing.set_job_id("job-000077");
  v1::GetJobResponse unused;
  EXPECT_EQ(jobs_->GetJob(Context().get(), missing, &unused).error_code(), grpc::StatusCode::NOT_FOUND);
  missing.set_job_id("seventy-seven");
  EXPECT_EQ(jobs_->GetJob(Context().get(), missing, &unused).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CoordinatorServiceTest, WatchStreamsUpdatesUntilTheJobEnds) {
  const std::string id = SubmitOk("watched");
  auto context = Context();
  v1::WatchJobRequest request;
  request.set_job_id(id);
  std::unique_ptr<grpc::ClientReader<v1::WatchJobResponse>> reader = jobs_->WatchJob(context.get(), request);
  v1::WatchJobResponse update;
  ASSERT_TRUE(reader->Read(&update));
  EXPECT_EQ(update.job().state(), v1::JOB_STATE_QUEUED);

  // What a worker group will do through the store: take the job, report a step.
  JobStore& store = server_->jobs().store();
  ASSERT_TRUE(store.TakeNextQueued("group-test").ok());
  ASSERT_TRUE(reader->Read(&update));
  EXPECT_EQ(update.job().state(), v1::JOB_STATE_RUNNING);
  EXPECT_EQ(update.job().group_id(), "group-test");
  ASSERT_TRUE(store
                  .RecordProgress(1, 25, {{"loss", 0.61}, {"implicit_accuracy", 0.7}, {"pairs_per_s", 12.5},
                                          {"step_s", 0.4}})
                  .ok());
  ASSERT_TRUE(reader->Read(&update));
  const v1::JobProgress& progress = update.job().progress();
  EXPECT_EQ(progress.step(), 25);
  EXPECT_EQ(progress.total_steps(), 100);
  EXPECT_DOUBLE_EQ(progress.loss(), 0.61);
  EXPECT_DOUBLE_EQ(progress.implicit_accuracy(), 0.7);
  EXPECT_DOUBLE_EQ(progress.pairs_per_s(), 12.5);
  EXPECT_DOUBLE_EQ(progress.eta_seconds(), 75 * 0.4);
  EXPECT_DOUBLE_EQ(progress.metrics().at("step_s"), 0.4);

  ASSERT_TRUE(Cancel(id).ok());
  ASSERT_TRUE(reader->Read(&update));
  EXPECT_EQ(update.job().state(), v1::JOB_STATE_CANCELLED);
  EXPECT_FALSE(reader->Read(&update));  // the stream ends after the final state
  EXPECT_TRUE(reader->Finish().ok());

  // Watching a job that has ended returns it once and ends.
  auto context2 = Context();
  reader = jobs_->WatchJob(context2.get(), request);
  ASSERT_TRUE(reader->Read(&update));
  EXPECT_EQ(update.job().state(), v1::JOB_STATE_CANCELLED);
  EXPECT_FALSE(reader->Read(&update));
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(CoordinatorServiceTest, WatchersEndWhenTheServerStops) {
  const std::string id = SubmitOk("watched");
  auto context = Context();
  v1::WatchJobRequest request;
  request.set_job_id(id);
  auto reader = jobs_->WatchJob(context.get(), request);
  v1::WatchJobResponse update;
  ASSERT_TRUE(reader->Read(&update));
  // A grace longer than the watch's own deadline: only the coordinator ending
  // the watch itself gives UNAVAILABLE; a watch left to the grace would end
  // at its deadline, with DEADLINE_EXCEEDED.
  server_->Shutdown(absl::Hours(1));
  EXPECT_FALSE(reader->Read(&update));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(CoordinatorServiceTest, WatchStreamsBeyondTheCapAreRefused) {
  server_.reset();
  options_.max_watch_streams = 2;
  StartServer();
  const std::string id = SubmitOk("watched");
  v1::WatchJobRequest request;
  request.set_job_id(id);
  v1::WatchJobResponse update;
  auto first_context = Context();
  auto first = jobs_->WatchJob(first_context.get(), request);
  ASSERT_TRUE(first->Read(&update));
  auto second_context = Context();
  auto second = jobs_->WatchJob(second_context.get(), request);
  ASSERT_TRUE(second->Read(&update));

  auto refused_context = Context();
  auto refused = jobs_->WatchJob(refused_context.get(), request);
  EXPECT_FALSE(refused->Read(&update));
  const grpc::Status status = refused->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("--max-watch-streams"));

  // A stream that ends gives its place back.
  first_context->TryCancel();
  EXPECT_FALSE(first->Read(&update));
  first->Finish();
  bool admitted = false;
  for (int attempt = 0; attempt < 100 && !admitted; ++attempt) {
    auto context = Context();
    auto reader = jobs_->WatchJob(context.get(), request);
    admitted = reader->Read(&update);
    context->TryCancel();
    reader->Finish();
    if (!admitted) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(admitted);
}

TEST_F(CoordinatorServiceTest, StateFilesAreReadableByTheirOwnerOnly) {
  SubmitOk("a");
  auto mode = [](const std::string& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 0777;
  };
  EXPECT_EQ(mode(options_.state_dir), 0700u);
  EXPECT_EQ(mode(options_.state_dir + "/coordinator.db"), 0600u);
  EXPECT_EQ(mode(options_.state_dir + "/coordinator.db-wal"), 0600u);

  // A database left readable by an earlier version is tightened at start.
  server_.reset();
  ASSERT_EQ(::chmod((options_.state_dir + "/coordinator.db").c_str(), 0644), 0);
  StartServer();
  EXPECT_EQ(mode(options_.state_dir + "/coordinator.db"), 0600u);
  EXPECT_EQ(List().size(), 1u);
}

TEST_F(CoordinatorServiceTest, ASubmitRetriedWithItsKeyQueuesOneJob) {
  v1::SubmitJobResponse first;
  ASSERT_TRUE(Submit(Spec("retried"), &first, kBobToken, "key-1").ok());
  v1::SubmitJobResponse again;
  ASSERT_TRUE(Submit(Spec("retried"), &again, kBobToken, "key-1").ok());
  EXPECT_EQ(again.job_id(), first.job_id());
  EXPECT_EQ(List().size(), 1u);
  EXPECT_EQ(Get(first.job_id()).owner(), "bob");

  // The same key with another spec is a mistake, not a retry.
  v1::SubmitJobResponse other;
  const grpc::Status reused = Submit(Spec("different"), &other, kBobToken, "key-1");
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(reused.error_message(), HasSubstr(first.job_id()));
  // Keys are per owner, and no key means a new job every time.
  ASSERT_TRUE(Submit(Spec("retried"), &other, kClientToken, "key-1").ok());
  EXPECT_NE(other.job_id(), first.job_id());
  ASSERT_TRUE(Submit(Spec("retried"), &other, kBobToken).ok());
  ASSERT_TRUE(Submit(Spec("retried"), &other, kBobToken).ok());
  EXPECT_EQ(List().size(), 4u);
}

TEST_F(CoordinatorServiceTest, AChainIsQueuedAtOnceAndItsJobsWaitForEachOther) {
  const std::string second = "name: second\ntype: train\nmodel: ${jobs.first.model}\ndataset: ${jobs.first.dataset}\n"
                             "output: runs/second\nloss: {type: dpo}\nsteps: 10\nafter: [first]\n";
  v1::SubmitJobsResponse chain;
  grpc::Status status = SubmitChain({Spec("first"), second}, &chain, "chain-key");
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(chain.jobs_size(), 2);
  EXPECT_EQ(chain.jobs(0).id(), "job-000001");
  EXPECT_EQ(chain.jobs(0).after_size(), 0);
  ASSERT_EQ(chain.jobs(1).after_size(), 1);
  EXPECT_EQ(chain.jobs(1).after(0).job_id(), "job-000001");
  EXPECT_EQ(chain.jobs(1).after(0).name(), "first");
  EXPECT_EQ(chain.jobs(1).after(0).state(), v1::JOB_STATE_QUEUED);
  EXPECT_THAT(chain.jobs(1).spec_yaml(), HasSubstr("dataset: " + dir_ + "/data\n"));

  // A retry with the key returns the same jobs.
  v1::SubmitJobsResponse again;
  ASSERT_TRUE(SubmitChain({Spec("first"), second}, &again, "chain-key").ok());
  ASSERT_EQ(again.jobs_size(), 2);
  EXPECT_EQ(again.jobs(1).id(), "job-000002");
  EXPECT_EQ(List().size(), 2u);

  // One bad document refuses the whole submission.
  v1::SubmitJobsResponse refused;
  status = SubmitChain({Spec("a", "after: [b]\n"), Spec("b", "after: [a]\n")}, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("cycle: a -> b -> a"));
  std::string bad_output = Spec("c");
  bad_output.replace(bad_output.find("output: runs/c"), 14, "output: tokens");
  status = SubmitChain({Spec("ok"), bad_output}, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("document 2 (\"c\"): output:"));
  status = SubmitChain({Spec("x"), Spec("y", "after: [z]\n")}, &refused);
  EXPECT_THAT(status.error_message(), HasSubstr("after: \"z\" is neither a job of this submission (x, y)"));
  EXPECT_EQ(List().size(), 2u);

  // A single submit may wait for existing jobs.
  v1::SubmitJobResponse third;
  ASSERT_TRUE(Submit(Spec("third", "after: [job-000002]\n"), &third).ok());
  EXPECT_EQ(third.job().after(0).job_id(), "job-000002");

  // Cancelling the first cancels those that wait for it, and says why.
  ASSERT_TRUE(Cancel("job-000001").ok());
  EXPECT_EQ(Get("job-000002").state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(Get("job-000002").error(), "dependency job-000001 (first) was cancelled: test");
  EXPECT_EQ(Get("job-000003").state(), v1::JOB_STATE_CANCELLED);
  EXPECT_THAT(Get("job-000003").error(), HasSubstr("dependency job-000002 (second) was cancelled"));
  status = Submit(Spec("late", "after: [job-000001]\n"), &third);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("job-000001 was cancelled, so the job could never run"));

  // What a job waits for outlives the process.
  server_.reset();
  StartServer();
  const v1::Job restarted = Get("job-000002");
  ASSERT_EQ(restarted.after_size(), 1);
  EXPECT_EQ(restarted.after(0).state(), v1::JOB_STATE_CANCELLED);
}

TEST_F(CoordinatorServiceTest, OnlyTheOwnerOrAnAdminCancels) {
  v1::SubmitJobResponse bobs;
  ASSERT_TRUE(Submit(Spec("bobs"), &bobs, kBobToken).ok());
  const grpc::Status other = Cancel(bobs.job_id(), kClientToken);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(other.error_message(), HasSubstr("submitted by bob"));
  EXPECT_EQ(Get(bobs.job_id()).state(), v1::JOB_STATE_QUEUED);
  EXPECT_TRUE(Cancel(bobs.job_id(), kBobToken).ok());

  const std::string anonymous = SubmitOk("anonymous");  // an unnamed token: a name derived from it
  EXPECT_THAT(Get(anonymous).owner(), ::testing::StartsWith("client:"));
  EXPECT_THAT(Get(anonymous).owner(), ::testing::Not(HasSubstr("client-token")));
  EXPECT_EQ(Cancel(anonymous, kBobToken).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Cancel(anonymous, kAdminToken).ok());
}

TEST_F(CoordinatorServiceTest, BadTokensAreRefusedAndChangeNothing) {
  v1::SubmitJobResponse response;
  const grpc::Status wrong = Submit(Spec("sneaky"), &response, "not-the-token-123");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const grpc::Status missing = Submit(Spec("sneaky"), &response, "");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.error_message(), HasSubstr("authorization"));
  // A worker's token is known but may not act as a client.
  const grpc::Status worker = Submit(Spec("sneaky"), &response, kWorkerToken);
  EXPECT_EQ(worker.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(List().empty());

  const std::string id = SubmitOk("real");
  EXPECT_EQ(Cancel(id, "not-the-token-123").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Get(id).state(), v1::JOB_STATE_QUEUED);
  v1::ListEventsRequest events_request;
  events_request.set_job_id(id);
  v1::ListEventsResponse events;
  EXPECT_EQ(jobs_->ListEvents(Context("").get(), events_request, &events).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // "Bearer" is required; a raw token in the header is not accepted.
  auto raw = std::make_unique<grpc::ClientContext>();
  raw->AddMetadata("authorization", kClientToken);
  v1::ListJobsResponse listed;
  EXPECT_EQ(jobs_->ListJobs(raw.get(), {}, &listed).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(CoordinatorServiceTest, BadSpecsAreInvalidArgumentNamingTheField) {
  v1::SubmitJobResponse response;
  const grpc::Status malformed = Submit("name: [unclosed\ntype: train\n", &response);
  EXPECT_EQ(malformed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(malformed.error_message(), HasSubstr("line"));

  const grpc::Status unknown = Submit(Spec("bad", "lossx: {type: dpo}\n"), &response);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unknown.error_message(), HasSubstr("lossx"));

  const grpc::Status beta = Submit(Spec("bad", "optim: {lr: 0}\n"), &response);
  EXPECT_THAT(beta.error_message(), HasSubstr("optim.lr"));

  std::string no_model = Spec("bad");
  no_model.replace(no_model.find("model: model"), 12, "model: missing-model");
  const grpc::Status model = Submit(no_model, &response);
  EXPECT_EQ(model.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(model.error_message(), HasSubstr("model: "));

  std::string no_data = Spec("bad");
  no_data.replace(no_data.find("dataset: data"), 13, "dataset: model");
  const grpc::Status dataset = Submit(no_data, &response);
  EXPECT_THAT(dataset.error_message(), HasSubstr("dataset: "));
  EXPECT_THAT(dataset.error_message(), HasSubstr("manifest.json"));

  // Nothing was queued, and the server keeps serving.
  EXPECT_TRUE(List().empty());
  EXPECT_EQ(SubmitOk("good"), "job-000001");
}

TEST_F(CoordinatorServiceTest, OversizedMessagesAreRejected) {
  v1::SubmitJobResponse response;
  const grpc::Status big = Submit(Spec("big") + "# " + std::string(5 << 20, 'x') + "\n", &response);
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(List().empty());
  EXPECT_EQ(SubmitOk("small"), "job-000001");
}

TEST_F(CoordinatorServiceTest, ARestartKeepsEveryJob) {
  const std::string a = SubmitOk("a");
  const std::string b = SubmitOk("b");
  ASSERT_TRUE(Cancel(b).ok());
  // One coordinator per state directory.
  auto second = CoordinatorServer::Start(options_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("another align-coordinator"));

  server_.reset();
  StartServer();
  std::vector<v1::Job> jobs = List();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].id(), a);
  EXPECT_EQ(jobs[0].state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(jobs[1].state(), v1::JOB_STATE_CANCELLED);
  EXPECT_EQ(Get(a).spec_yaml(), Spec("a"));
  EXPECT_EQ(SubmitOk("c"), "job-000003");
}

TEST_F(CoordinatorServiceTest, MetricsCountJobsAndRpcs) {
  SubmitOk("a");
  SubmitOk("b");
  ASSERT_TRUE(Cancel("job-000002").ok());
  EXPECT_EQ(MetricValue("align_jobs", "state", "queued"), 1);
  EXPECT_EQ(MetricValue("align_jobs", "state", "cancelled"), 1);
  EXPECT_EQ(MetricValue("align_jobs", "state", "running"), 0);
  EXPECT_EQ(MetricValue("align_rpc_duration_seconds", "method", "SubmitJob"), 2);
  EXPECT_EQ(MetricValue("align_rpc_duration_seconds", "method", "CancelJob"), 1);
  EXPECT_EQ(MetricValue("align_workers_up", "", ""), 0);
}

TEST_F(CoordinatorServiceTest, UnbindableMetricsAddressIsNotFatal) {
  server_.reset();
  options_.metrics_listen = "256.0.0.1:1";
  StartServer();
  EXPECT_EQ(server_->metrics_port(), 0);
  EXPECT_EQ(SubmitOk("a"), "job-000001");
}

v1::ProtocolVersion Version(uint32_t major, uint32_t minor = 0) {
  v1::ProtocolVersion version;
  version.set_major(major);
  version.set_minor(minor);
  return version;
}

TEST_F(CoordinatorServiceTest, WorkerGroupsRegisterAndOpenSessions) {
  v1::RegisterGroupRequest request;
  *request.mutable_protocol_version() = Version(1, 7);  // a newer minor is fine
  request.set_group_name("test-group");
  request.set_world_size(2);
  request.add_hosts("node1");
  request.add_hosts("node1");
  request.mutable_capabilities()->set_device("cpu");
  v1::RegisterGroupResponse registered;
  ASSERT_TRUE(workers_->RegisterGroup(Context(kWorkerToken).get(), request, &registered).ok());
  EXPECT_FALSE(registered.group_id().empty());
  EXPECT_GT(registered.lease().seconds(), 0);
  EXPECT_EQ(registered.protocol_version().major(), 1u);

  // Client tokens cannot act as workers; other majors are refused.
  EXPECT_EQ(workers_->RegisterGroup(Context(kClientToken).get(), request, &registered).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::RegisterGroupRequest old = request;
  *old.mutable_protocol_version() = Version(2);
  v1::RegisterGroupResponse unused;
  const grpc::Status refused = workers_->RegisterGroup(Context(kWorkerToken).get(), old, &unused);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("protocol_version"));
  old.clear_protocol_version();
  EXPECT_EQ(workers_->RegisterGroup(Context(kWorkerToken).get(), old, &unused).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  v1::RegisterGroupRequest short_hosts = request;
  short_hosts.mutable_hosts()->RemoveLast();
  EXPECT_EQ(workers_->RegisterGroup(Context(kWorkerToken).get(), short_hosts, &unused).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  {
    auto context = Context(kWorkerToken);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto stream = workers_->Session(context.get());
    v1::WorkerMessage hello;
    *hello.mutable_hello()->mutable_protocol_version() = Version(1);
    hello.mutable_hello()->set_group_id(registered.group_id());
    hello.mutable_hello()->set_rank(1);
    hello.mutable_hello()->set_host("node1");
    ASSERT_TRUE(stream->Write(hello));
    v1::CoordinatorMessage reply;
    ASSERT_TRUE(stream->Read(&reply));
    ASSERT_TRUE(reply.has_session_accepted());
    EXPECT_EQ(reply.session_accepted().protocol_version().major(), 1u);
    EXPECT_EQ(MetricValue("align_workers_up", "", ""), 1);
    v1::WorkerMessage heartbeat;
    heartbeat.mutable_heartbeat();
    ASSERT_TRUE(stream->Write(heartbeat));

    // The same rank cannot open a second session.
    auto context2 = Context(kWorkerToken);
    auto duplicate = workers_->Session(context2.get());
    ASSERT_TRUE(duplicate->Write(hello));
    EXPECT_FALSE(duplicate->Read(&reply));
    EXPECT_EQ(duplicate->Finish().error_code(), grpc::StatusCode::ALREADY_EXISTS);

    ASSERT_TRUE(stream->WritesDone());
    EXPECT_FALSE(stream->Read(&reply));
    EXPECT_TRUE(stream->Finish().ok());
  }
  // The handler detaches before it returns the status Finish() got.
  EXPECT_EQ(MetricValue("align_workers_up", "", ""), 0);

  // A Hello with another major, or from an unknown group, is refused.
  for (auto [major, group, code] : {std::make_tuple(3u, registered.group_id(), grpc::StatusCode::FAILED_PRECONDITION),
                                    std::make_tuple(1u, std::string("group-nope"), grpc::StatusCode::NOT_FOUND)}) {
    auto context = Context(kWorkerToken);
    auto stream = workers_->Session(context.get());
    v1::WorkerMessage hello;
    *hello.mutable_hello()->mutable_protocol_version() = Version(major);
    hello.mutable_hello()->set_group_id(group);
    ASSERT_TRUE(stream->Write(hello));
    v1::CoordinatorMessage reply;
    EXPECT_FALSE(stream->Read(&reply));
    EXPECT_EQ(stream->Finish().error_code(), code);
  }
}

TEST_F(CoordinatorServiceTest, ServesTlsFromCertificateFiles) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "openssl not installed";
  const std::string cert = dir_ + "/cert.pem";
  const std::string key = dir_ + "/key.pem";
  const std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " +
                              key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  server_.reset();
  options_.tls_cert = cert;
  options_.tls_key = key;
  StartServer();

  std::ifstream in(cert);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto tls_channel = grpc::CreateCustomChannel(server_->address(), grpc::SslCredentials(ssl), args);
  auto tls_jobs = v1::JobService::NewStub(tls_channel);
  v1::ListJobsResponse listed;
  const grpc::Status status = tls_jobs->ListJobs(Context().get(), {}, &listed);
  EXPECT_TRUE(status.ok()) << status.error_message();
  // Plaintext clients cannot talk to a TLS server.
  EXPECT_EQ(jobs_->ListJobs(Context().get(), {}, &listed).error_code(), grpc::StatusCode::UNAVAILABLE);

  options_.tls_key.clear();
  server_.reset();
  EXPECT_EQ(CoordinatorServer::Start(options_).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CoordinatorServiceTest, ATlsKeyOfAnotherCertificateIsNamed) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "openssl not installed";
  const std::string cert = dir_ + "/cert.pem";
  const std::string other_key = dir_ + "/other.key";
  for (const std::string& command :
       {"openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " + dir_ + "/key.pem -out " +
            cert + " >/dev/null 2>&1",
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + other_key + " >/dev/null 2>&1"}) {
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  server_.reset();
  options_.tls_cert = cert;
  options_.tls_key = other_key;
  absl::StatusOr<std::unique_ptr<CoordinatorServer>> started = CoordinatorServer::Start(options_);
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("does not match the certificate"));

  options_.tls_key = cert;  // a certificate where the key belongs
  started = CoordinatorServer::Start(options_);
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("holds no unencrypted PEM private key"));
}

}  // namespace
}  // namespace align::coordinator
