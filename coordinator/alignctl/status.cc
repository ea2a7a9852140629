// alignctl status ID [--json].

#include <iostream>
#include <memory>
#include <string>

#include "coordinator/alignctl/job_commands.h"
#include "coordinator/alignctl/job_format.h"

namespace align::alignctl {

namespace {

struct StatusOptions {
  std::string job_id;
  bool json = false;
};

int RunStatus(const StatusOptions& options, const ClientOptions& client_options, std::ostream& out,
              std::ostream& err) {
  int exit_code = 0;
  std::unique_ptr<CoordinatorClient> client = ConnectOrReport(client_options, "status", err, &exit_code);
  if (client == nullptr) return exit_code;
  v1::GetJobRequest request;
  request.set_job_id(options.job_id);
  v1::GetJobResponse response;
  const grpc::Status status = client->jobs().GetJob(client->NewContext(true).get(), request, &response);
  if (!status.ok()) return client->ReportError("status", status, err);
  out << (options.json ? JobJson(response.job()) + "\n" : JobDetails(response.job()));
  return 0;
}

}  // namespace

Subcommand AddStatusCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand("status", "Show one job");
  cmd->add_option("id", options->job_id, "Job id (job-000042)")->required();
  cmd->add_flag("--json", options->json, "Print the job as JSON (the align.v1.Job message)");
  return {cmd, [options, client] { return RunStatus(*options, *client, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
