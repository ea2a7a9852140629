// align-coordinator-loadbench: how much worker traffic one coordinator takes.
// Starts align-coordinator in process (SQLite state in a temp dir, a
// manifest-only dataset, no auth) and drives it over real gRPC from one
// process:
//   1. registrations: every client thread registers groups back to back
//      (RegisterGroup latency and rate);
//   2. sessions: G groups x R ranks open Session streams (G*R >= 256 streams),
//      each group takes a job; rank 0 of every group reports Progress with
//      --metrics values per step as soon as it has that step's plan, all ranks
//      read their PlanChunks; a probe thread times GetJob calls meanwhile.
// Prints one JSON line: registrations/s, plan messages/s (received by the
// ranks), metric samples/s (ingested by the coordinator), p50/p99 latencies.
// docs/benchmarks.md has the figures and the command.

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "align/v1/job_service.grpc.pb.h"
#include "align/v1/worker_service.grpc.pb.h"
#include "common/dataset/manifest.h"
#include "coordinator/server/coordinator_server.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace {

namespace fs = std::filesystem;
using namespace align;
using Clock = std::chrono::steady_clock;

struct Options {
  int groups = 128;
  int ranks_per_group = 2;
  double seconds = 20;
  int registrations_per_thread = 20;
  int metrics_per_step = 14;
  int channels = 8;
  double steps_per_second = 0;  // per group; 0: as fast as the coordinator answers
  std::string state_dir;  // empty: a temp dir
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())));
  return values[index];
}

class Latencies {
 public:
  void Add(double ms) {
    std::lock_guard<std::mutex> lock(mu_);
    values_.push_back(ms);
  }
  std::vector<double> values() {
    std::lock_guard<std::mutex> lock(mu_);
    return values_;
  }

 private:
  std::mutex mu_;
  std::vector<double> values_;
};

std::unique_ptr<grpc::ClientContext> Context(double timeout_s = 30) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  return context;
}

v1::RegisterGroupRequest RegisterRequest(int world_size) {
  v1::RegisterGroupRequest request;
  request.mutable_protocol_version()->set_major(1);
  request.mutable_protocol_version()->set_minor(1);
  request.set_group_name("loadbench");
  request.set_world_size(world_size);
  for (int r = 0; r < world_size; ++r) request.add_hosts("bench-node");
  request.mutable_capabilities()->set_device("cpu");
  return request;
}

int Run(const Options& options) {
  std::string dir = options.state_dir;
  bool temp = false;
  if (dir.empty()) {
    std::string pattern = (fs::temp_directory_path() / "align_loadbench_XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
    temp = true;
  }
  // A dataset as the planner sees it: the manifest is all the coordinator reads.
  fs::create_directories(dir + "/data");
  data::Manifest manifest;
  manifest.shape = {4, 16, 16, 8, 64, 32};
  manifest.splits["train"] = {100000, {{"train-00000.safetensors", 100000}}};
  manifest.splits["heldout"] = {0, {}};
  std::ofstream(dir + "/data/" + std::string(data::kManifestFile)) << data::SerializeManifest(manifest);

  coordinator::CoordinatorOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.state_dir = dir + "/state";
  server_options.insecure_no_auth = true;
  server_options.check_spec_paths = false;
  server_options.worker_lease = absl::Seconds(120);
  auto server = coordinator::CoordinatorServer::Start(server_options);
  if (!server.ok()) {
    std::cerr << "align-coordinator-loadbench: " << server.status() << "\n";
    return 1;
  }
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < options.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("align.loadbench.channel", i);  // a distinct connection per channel
    channels.push_back(grpc::CreateCustomChannel((*server)->address(), grpc::InsecureChannelCredentials(), args));
  }
  const int streams = options.groups * options.ranks_per_group;

  // ---- 1. registrations ----
  Latencies register_ms;
  std::atomic<int> register_errors{0};
  const auto register_start = Clock::now();
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < streams; ++t) {
      threads.emplace_back([&, t] {
        auto stub = v1::WorkerService::NewStub(channels[t % channels.size()]);
        for (int i = 0; i < options.registrations_per_thread; ++i) {
          v1::RegisterGroupResponse response;
          const auto start = Clock::now();
          grpc::Status status = stub->RegisterGroup(Context().get(), RegisterRequest(1), &response);
          register_ms.Add(Ms(Clock::now() - start));
          if (!status.ok()) ++register_errors;
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  const double register_s = std::chrono::duration<double>(Clock::now() - register_start).count();
  const int registrations = streams * options.registrations_per_thread;

  // ---- 2. sessions, plans and metrics ----
  auto jobs = v1::JobService::NewStub(channels[0]);
  for (int g = 0; g < options.groups; ++g) {
    v1::SubmitJobRequest request;
    request.set_spec_yaml(absl::StrCat("name: bench-", g,
                                       "\ntype: train\nmodel: /m\ndataset: data\noutput: /tmp/bench\n"
                                       "loss: {type: dpo}\nbatch: {pairs_per_rank: 4, grad_accum: 2}\nsteps: 100000000\n"));
    request.set_base_dir(dir);
    v1::SubmitJobResponse response;
    grpc::Status status = jobs->SubmitJob(Context().get(), request, &response);
    if (!status.ok()) {
      std::cerr << "align-coordinator-loadbench: submit: " << status.error_message() << "\n";
      return 1;
    }
  }
  std::vector<std::string> group_ids(options.groups);
  for (int g = 0; g < options.groups; ++g) {
    auto stub = v1::WorkerService::NewStub(channels[g % channels.size()]);
    v1::RegisterGroupResponse response;
    grpc::Status status = stub->RegisterGroup(Context().get(), RegisterRequest(options.ranks_per_group), &response);
    if (!status.ok()) {
      std::cerr << "align-coordinator-loadbench: register: " << status.error_message() << "\n";
      return 1;
    }
    group_ids[g] = response.group_id();
  }

  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<int> assigned{0};
  std::atomic<int64_t> plan_messages{0}, progress_messages{0}, samples_sent{0};
  std::mutex contexts_mu;
  std::vector<grpc::ClientContext*> contexts;
  std::vector<std::thread> ranks;
  for (int g = 0; g < options.groups; ++g) {
    for (int r = 0; r < options.ranks_per_group; ++r) {
      ranks.emplace_back([&, g, r] {
        auto stub = v1::WorkerService::NewStub(channels[(g * options.ranks_per_group + r) % channels.size()]);
        grpc::ClientContext context;
        {
          std::lock_guard<std::mutex> lock(contexts_mu);
          contexts.push_back(&context);
        }
        auto stream = stub->Session(&context);
        v1::WorkerMessage hello;
        hello.mutable_hello()->mutable_protocol_version()->set_major(1);
        hello.mutable_hello()->set_group_id(group_ids[g]);
        hello.mutable_hello()->set_rank(r);
        hello.mutable_hello()->set_host("bench-node");
        v1::CoordinatorMessage message;
        if (!stream->Write(hello)) return;
        std::string job_id;
        int64_t planned_until = 0, step = 0;
        Clock::time_point paced_from;
        v1::WorkerMessage progress;
        for (int m = 0; m < options.metrics_per_step; ++m) {
          (*progress.mutable_progress()->mutable_metrics())[absl::StrCat("metric_", m)] = 0.5 + m;
        }
        (*progress.mutable_progress()->mutable_metrics())["loss"] = 0.69;
        while (!stop) {
          // Read until this rank has the plan of the step it is "training".
          while (!stop && (job_id.empty() || planned_until <= step || r != 0)) {
            if (!stream->Read(&message)) return;
            if (message.has_job_assignment()) {
              job_id = message.job_assignment().job_id();
              ++assigned;
            } else if (message.has_plan_chunk() || message.has_stage_boundary()) {
              if (measuring) ++plan_messages;
              if (message.has_plan_chunk()) planned_until = std::max(planned_until, message.plan_chunk().end_step());
            }
          }
          if (stop) break;
          if (options.steps_per_second > 0) {
            // Paced like a real job: one step every 1/rate seconds.
            if (paced_from == Clock::time_point()) paced_from = Clock::now();
            std::this_thread::sleep_until(paced_from + std::chrono::microseconds(static_cast<int64_t>(
                                                           1e6 * static_cast<double>(step) / options.steps_per_second)));
          }
          ++step;
          progress.mutable_progress()->set_job_id(job_id);
          progress.mutable_progress()->set_step(step);
          if (!stream->Write(progress)) return;
          if (measuring) {
            ++progress_messages;
            samples_sent += progress.progress().metrics_size();
          }
        }
      });
    }
  }
  for (int i = 0; i < 600 && assigned < streams; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (assigned < streams) {
    std::cerr << "align-coordinator-loadbench: only " << assigned << " of " << streams << " ranks got a job\n";
  }

  Latencies rpc_ms;
  std::atomic<bool> probing{true};
  std::thread probe([&] {
    auto stub = v1::JobService::NewStub(channels[0]);
    int i = 0;
    while (probing) {
      v1::GetJobRequest request;
      request.set_job_id(absl::StrCat("job-", 1 + (i++ % options.groups)));
      v1::GetJobResponse response;
      const auto start = Clock::now();
      stub->GetJob(Context().get(), request, &response);
      rpc_ms.Add(Ms(Clock::now() - start));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const double ingested_before = (*server)->training_metrics().metric_samples();
  const double plans_before = (*server)->training_metrics().plan_messages();
  measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(options.seconds * 1000)));
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double ingested = (*server)->training_metrics().metric_samples() - ingested_before;
  const double plans_sent = (*server)->training_metrics().plan_messages() - plans_before;
  probing = false;
  probe.join();
  stop = true;
  {
    std::lock_guard<std::mutex> lock(contexts_mu);
    for (grpc::ClientContext* context : contexts) context->TryCancel();
  }
  for (auto& thread : ranks) thread.join();
  (*server)->Shutdown(absl::Seconds(1));
  server->reset();
  if (temp) fs::remove_all(dir);

  const std::vector<double> reg = register_ms.values(), rpc = rpc_ms.values();
  std::cout << absl::StrFormat(
                   "{\"streams\": %d, \"groups\": %d, \"ranks_per_group\": %d, \"steps_per_second_per_group\": %g, "
                   "\"seconds\": %.1f, "
                   "\"registrations\": %d, \"registration_errors\": %d, \"registrations_per_s\": %.0f, "
                   "\"register_p50_ms\": %.2f, \"register_p99_ms\": %.2f, "
                   "\"progress_messages_per_s\": %.0f, \"plan_messages_per_s\": %.0f, "
                   "\"plan_messages_sent_per_s\": %.0f, \"metric_samples_sent_per_s\": %.0f, "
                   "\"metric_samples_ingested_per_s\": %.0f, "
                   "\"rpc_p50_ms\": %.2f, \"rpc_p99_ms\": %.2f, \"rpc_probes\": %d}",
                   streams, options.groups, options.ranks_per_group, options.steps_per_second, elapsed, registrations, register_errors.load(),
                   registrations / register_s, Percentile(reg, 0.5), Percentile(reg, 0.99),
                   progress_messages / elapsed, plan_messages / elapsed, plans_sent / elapsed, samples_sent / elapsed,
                   ingested / elapsed, Percentile(rpc, 0.5), Percentile(rpc, 0.99), static_cast<int>(rpc.size()))
            << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"align-coordinator-loadbench: simulated worker streams against an in-process coordinator"};
  app.add_option("--groups", options.groups, "Worker groups (each takes one job)")->capture_default_str();
  app.add_option("--ranks-per-group", options.ranks_per_group, "Session streams per group")->capture_default_str();
  app.add_option("--seconds", options.seconds, "Length of the measured streaming phase")->capture_default_str();
  app.add_option("--registrations-per-stream", options.registrations_per_thread,
                 "RegisterGroup calls per client thread in the registration phase")
      ->capture_default_str();
  app.add_option("--metrics", options.metrics_per_step, "Extra metric values per Progress (plus loss)")
      ->capture_default_str();
  app.add_option("--channels", options.channels, "Client connections")->capture_default_str();
  app.add_option("--steps-per-second", options.steps_per_second,
                 "Progress reports per second per group (0: unpaced, as fast as possible)")
      ->capture_default_str();
  app.add_option("--state", options.state_dir, "State directory (default: a temp dir, removed after)");
  CLI11_PARSE(app, argc, argv);
  return Run(options);
}
