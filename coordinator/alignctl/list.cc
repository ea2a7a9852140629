// alignctl list [--state S]...: one line per job, oldest first.

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/printable_text.h"
#include "coordinator/alignctl/job_commands.h"
#include "coordinator/alignctl/job_format.h"

namespace align::alignctl {

namespace {

struct ListOptions {
  std::vector<std::string> states;  // each may be a comma-separated list
  int limit = 0;
};

int RunList(const ListOptions& options, const ClientOptions& client_options, std::ostream& out, std::ostream& err) {
  v1::ListJobsRequest request;
  for (const std::string& group : options.states) {
    for (const std::string& name : std::vector<std::string>(absl::StrSplit(group, ',', absl::SkipEmpty()))) {
      std::optional<v1::JobState> state = ParseStateName(name);
      if (!state.has_value()) {
        err << "alignctl list: --state: \"" << name
            << "\" is not a state (queued, running, interrupted, succeeded, failed, cancelled)\n";
        return kExitUsage;
      }
      request.add_states(*state);
    }
  }
  request.set_max_results(options.limit);
  int exit_code = 0;
  std::unique_ptr<CoordinatorClient> client = ConnectOrReport(client_options, "list", err, &exit_code);
  if (client == nullptr) return exit_code;
  v1::ListJobsResponse response;
  const grpc::Status status = client->jobs().ListJobs(client->NewContext(true).get(), request, &response);
  if (!status.ok()) return client->ReportError("list", status, err);
  out << absl::StrFormat("%-12s %-11s %-13s %-24s %s\n", "ID", "STATE", "STEP", "CREATED", "NAME");
  for (const v1::Job& job : response.jobs()) {
    // A job that waits for others says so after its name: "after: job-000041 (running)".
    const std::string after = job.after_size() > 0 && !IsFinalState(job.state())
                                  ? absl::StrCat("  ", IsWaiting(job) ? "waiting, " : "", "after: ", AfterSummary(job))
                                  : "";
    out << absl::StrFormat("%-12s %-11s %-13s %-24s %s%s\n", job.id(), StateName(job.state()),
                           absl::StrFormat("%d/%d", job.progress().step(), job.progress().total_steps()),
                           FormatTime(job.created_at(), job.has_created_at()), EscapeControlCharacters(job.name()),
                           after);
  }
  return 0;
}

}  // namespace

Subcommand AddListCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  auto options = std::make_shared<ListOptions>();
  CLI::App* cmd = app.add_subcommand("list", "List jobs, oldest first");
  cmd->add_option("--state", options->states, "Only jobs in these states (repeat, or a,b)");
  cmd->add_option("--limit", options->limit, "At most this many, the newest (0: the coordinator's limit)")
      ->check(CLI::NonNegativeNumber);
  return {cmd, [options, client] { return RunList(*options, *client, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
