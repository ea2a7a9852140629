// alignctl submit job.yaml: the spec is checked here first (same parser as
// the coordinator and the worker) so a typo is reported without a round trip,
// then sent with this directory as the base of relative paths. The request
// carries a submit key, so when the coordinator is unreachable or slow to
// answer the submit is retried without risk of queueing the job twice.
// A file of several YAML documents is a chain of jobs (common/job_chain.h):
// it is checked as one here too, and sent in one SubmitJobs request, so the
// coordinator queues every job or none; a file of one document goes through
// SubmitJob, which coordinators older than chains also serve.

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
#include <vector>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/job_chain.h"
#include "common/printable_text.h"
#include "coordinator/alignctl/job_commands.h"
#include "coordinator/alignctl/job_format.h"

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
  std::error_code ec;
  const std::string base_dir = std::filesystem::current_path(ec).string();
  std::vector<std::string> documents = SplitYamlDocuments(spec_yaml);
  // One document is sent as written, markers and comments around it included.
  if (documents.size() <= 1) documents = {spec_yaml};
  if (absl::StatusOr<std::vector<ChainJob>> chain = ParseJobChain(documents, base_dir); !chain.ok()) {
    err << "alignctl submit: " << options.spec_path << ": " << EscapeControlCharacters(chain.status().message())
        << "\n";
    return kExitUsage;
  }
  int exit_code = 0;
  std::unique_ptr<CoordinatorClient> client = ConnectOrReport(client_options, "submit", err, &exit_code);
  if (client == nullptr) return exit_code;

  const std::string submit_key = options.submit_key.empty() ? RandomSubmitKey() : options.submit_key;
  std::vector<v1::Job> jobs;
  grpc::Status status;
  std::chrono::milliseconds backoff(500);
  for (int attempt = 0;; ++attempt) {
    jobs.clear();
    if (documents.size() == 1) {
      v1::SubmitJobRequest request;
      request.set_spec_yaml(documents.front());
      request.set_base_dir(base_dir);
      request.set_submit_key(submit_key);
      v1::SubmitJobResponse response;
      status = client->jobs().SubmitJob(client->NewContext(true).get(), request, &response);
      jobs.push_back(response.job());
    } else {
      v1::SubmitJobsRequest request;
      for (const std::string& document : documents) request.add_spec_yaml(document);
      request.set_base_dir(base_dir);
      request.set_submit_key(submit_key);
      v1::SubmitJobsResponse response;
      status = client->jobs().SubmitJobs(client->NewContext(true).get(), request, &response);
      jobs.assign(response.jobs().begin(), response.jobs().end());
    }
    if (status.ok() || !Retryable(status) || attempt >= options.retries) break;
    err << "alignctl submit: " << status.error_message() << "; retrying in " << backoff.count() << " ms\n";
    std::this_thread::sleep_for(backoff);
    backoff *= 2;
  }
  if (!status.ok()) return client->ReportError("submit", status, err);
  for (const v1::Job& job : jobs) {
    if (::isatty(STDERR_FILENO)) {
      err << "queued \"" << EscapeControlCharacters(job.name()) << "\" (" << job.progress().total_steps()
          << " steps) as " << job.id();
      if (job.after_size() > 0) err << ", after " << AfterSummary(job);
      err << "\n";
    }
    out << job.id() << "\n";
  }
  return 0;
}

}  // namespace

Subcommand AddSubmitCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  auto options = std::make_shared<SubmitOptions>();
  CLI::App* cmd = app.add_subcommand("submit", "Queue a job; prints its id as the last line");
  cmd->add_option("spec", options->spec_path,
                  "job.yaml (docs/job-spec.md), or - for stdin; several documents ('---') are a chain of jobs, "
                  "queued together, one id printed per job")
      ->required();
  cmd->add_option("--submit-key", options->submit_key,
                  "Idempotency key (default: random): submitting again with the same key and spec returns the "
                  "first job instead of queueing another");
  cmd->add_option("--retries", options->retries, "Retries when the coordinator is unreachable or slow")
      ->capture_default_str()
      ->check(CLI::Range(0, 10));
  return {cmd, [options, client] { return RunSubmit(*options, *client, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
