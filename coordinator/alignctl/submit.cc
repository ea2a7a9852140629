// alignctl submit job.yaml: the spec is checked here first (same parser as
// the coordinator and the worker) so a typo is reported without a round trip,
// then sent with this directory as the base of relative paths. The request
// carries a submit key, so when the coordinator is unreachable or slow to
// answer the submit is retried without risk of queueing the job twice.

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/job_spec.h"
#include "common/printable_text.h"
#include "coordinator/alignctl/job_commands.h"

namespace align::alignctl {

namespace {

struct SubmitOptions {
  std::string spec_path;
  std::string submit_key;  // empty: a random one
  int retries = 3;
};

// 128 random bits as hex: unique per invocation.
std::string RandomSubmitKey() {
  std::random_device random;
  std::string key;
  for (int i = 0; i < 4; ++i) key += absl::StrFormat("%08x", random());
  return key;
}

bool Retryable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

int RunSubmit(const SubmitOptions& options, const ClientOptions& client_options, std::ostream& out,
              std::ostream& err) {
  std::string spec_yaml;
  if (options.spec_path == "-") {
    spec_yaml.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    absl::StatusOr<std::string> text = ReadFileToString(options.spec_path);
    if (!text.ok()) {
      err << "alignctl submit: " << text.status().message() << "\n";
      return kExitUsage;
    }
    spec_yaml = *std::move(text);
  }
  if (absl::StatusOr<JobSpec> spec = ParseJobSpec(spec_yaml); !spec.ok()) {
    err << "alignctl submit: " << options.spec_path << ": " << spec.status().message() << "\n";
    return kExitUsage;
  }
  int exit_code = 0;
  std::unique_ptr<CoordinatorClient> client = ConnectOrReport(client_options, "submit", err, &exit_code);
  if (client == nullptr) return exit_code;

  v1::SubmitJobRequest request;
  request.set_spec_yaml(spec_yaml);
  std::error_code ec;
  request.set_base_dir(std::filesystem::current_path(ec).string());
  request.set_submit_key(options.submit_key.empty() ? RandomSubmitKey() : options.submit_key);
  v1::SubmitJobResponse response;
  grpc::Status status;
  std::chrono::milliseconds backoff(500);
  for (int attempt = 0;; ++attempt) {
    status = client->jobs().SubmitJob(client->NewContext(true).get(), request, &response);
    if (status.ok() || !Retryable(status) || attempt >= options.retries) break;
    err << "alignctl submit: " << status.error_message() << "; retrying in " << backoff.count() << " ms\n";
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
  if (!status.ok()) return client->ReportError("submit", status, err);
  if (::isatty(STDERR_FILENO)) {
    err << "queued \"" << EscapeControlCharacters(response.job().name()) << "\" (" << response.job().progress().total_steps()
        << " steps) as " << response.job_id() << "\n";
  }
  out << response.job_id() << "\n";
  return 0;
}

}  // namespace

Subcommand AddSubmitCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  auto options = std::make_shared<SubmitOptions>();
  CLI::App* cmd = app.add_subcommand("submit", "Queue a job; prints its id as the last line");
  cmd->add_option("spec", options->spec_path, "job.yaml (docs/job-spec.md), or - for stdin")->required();
  cmd->add_option("--submit-key", options->submit_key,
                  "Idempotency key (default: random): submitting again with the same key and spec returns the "
                  "first job instead of queueing another");
  cmd->add_option("--retries", options->retries, "Retries when the coordinator is unreachable or slow")
      ->capture_default_str()
      ->check(CLI::Range(0, 10));
  return {cmd, [options, client] { return RunSubmit(*options, *client, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
