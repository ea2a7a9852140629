// alignctl watch ID / wait ID: both follow the WatchJob stream until the job
// ends and exit 0 only if it succeeded; watch prints progress on the way.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "common/printable_text.h"
#include "coordinator/alignctl/job_commands.h"
#include "coordinator/alignctl/job_format.h"

namespace align::alignctl {

namespace {

// A stream that breaks after delivering something (the coordinator restarted,
// a proxy dropped an idle connection) is reopened for this long; a first
// connection that fails is reported at once.
constexpr std::chrono::seconds kReconnectFor{120};

grpc::Status Follow(CoordinatorClient& client, const std::string& job_id,
                    const std::function<void(const v1::Job&)>& on_update, v1::Job* last) {
  bool seen = false;
  auto give_up_at = std::chrono::steady_clock::now() + kReconnectFor;
  std::chrono::milliseconds backoff{500};
  while (true) {
    std::unique_ptr<grpc::ClientContext> context = client.NewContext(/*unary=*/false);
    v1::WatchJobRequest request;
    request.set_job_id(job_id);
    std::unique_ptr<grpc::ClientReader<v1::WatchJobResponse>> reader = client.jobs().WatchJob(context.get(), request);
    v1::WatchJobResponse response;
    while (reader->Read(&response)) {
      seen = true;
      give_up_at = std::chrono::steady_clock::now() + kReconnectFor;
      backoff = std::chrono::milliseconds(500);
      *last = response.job();
      on_update(*last);
    }
    grpc::Status status = reader->Finish();
    if (status.ok() && IsFinalState(last->state())) return status;
    if (status.ok()) status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the stream ended early");
    if (!seen || status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        std::chrono::steady_clock::now() > give_up_at) {
      return status;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(10));
  }
}

std::string Outcome(const v1::Job& job) {
  std::string text = job.id() + " " + StateName(job.state());
  if (!job.error().empty()) text += ": " + EscapeControlCharacters(job.error());
  return text;
}

struct FollowOptions {
  std::string job_id;
};

int RunFollow(const FollowOptions& options, const ClientOptions& client_options, bool show_progress,
              const std::string& command, std::ostream& out, std::ostream& err) {
  int exit_code = 0;
  std::unique_ptr<CoordinatorClient> client = ConnectOrReport(client_options, command, err, &exit_code);
  if (client == nullptr) return exit_code;
  // On a terminal the progress line is rewritten in place; in a log, each
  // update is its own line.
  const bool in_place = show_progress && ::isatty(STDOUT_FILENO);
  bool line_open = false;
  v1::JobState shown_state = v1::JOB_STATE_UNSPECIFIED;
  v1::Job last;
  const grpc::Status status = Follow(
      *client, options.job_id,
      [&](const v1::Job& job) {
        if (!show_progress) return;
        if (in_place) {
          if (line_open && job.state() != shown_state) out << "\n";
          out << "\r\x1b[K" << ProgressLine(job) << std::flush;
          line_open = true;
        } else {
          out << ProgressLine(job) << "\n" << std::flush;
        }
        shown_state = job.state();
      },
      &last);
  if (line_open) out << "\n";
  if (!status.ok()) return client->ReportError(command, status, err);
  out << Outcome(last) << "\n";
  return last.state() == v1::JOB_STATE_SUCCEEDED ? 0 : kExitFailure;
}

Subcommand AddFollowCommand(CLI::App& app, std::shared_ptr<ClientOptions> client, const std::string& name,
                            const std::string& description, bool show_progress) {
  auto options = std::make_shared<FollowOptions>();
  CLI::App* cmd = app.add_subcommand(name, description);
  cmd->add_option("id", options->job_id, "Job id")->required();
  return {cmd, [options, client, name, show_progress] {
            return RunFollow(*options, *client, show_progress, name, std::cout, std::cerr);
          }};
}

}  // namespace

Subcommand AddWatchCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  return AddFollowCommand(app, std::move(client), "watch",
                          "Show a job's progress until it ends; exit 0 only if it succeeded", true);
}

Subcommand AddWaitCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  return AddFollowCommand(app, std::move(client), "wait", "Wait for a job to end; exit 0 only if it succeeded",
                          false);
}

}  // namespace align::alignctl
