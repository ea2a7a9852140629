// alignctl cancel ID [--reason R].

#include <iostream>
#include <memory>
#include <string>

#include "coordinator/alignctl/job_commands.h"
#include "coordinator/alignctl/job_format.h"

namespace align::alignctl {

namespace {

struct CancelOptions {
  std::string job_id;
  std::string reason;
};

int RunCancel(const CancelOptions& options, const ClientOptions& client_options, std::ostream& out,
              std::ostream& err) {
  int exit_code = 0;
  std::unique_ptr<CoordinatorClient> client = ConnectOrReport(client_options, "cancel", err, &exit_code);
  if (client == nullptr) return exit_code;
  v1::CancelJobRequest request;
  request.set_job_id(options.job_id);
  request.set_reason(options.reason);
  v1::CancelJobResponse response;
  const grpc::Status status = client->jobs().CancelJob(client->NewContext(true).get(), request, &response);
  if (!status.ok()) return client->ReportError("cancel", status, err);
  out << response.job().id() << " " << StateName(response.job().state()) << "\n";
  return 0;
}

}  // namespace

Subcommand AddCancelCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  auto options = std::make_shared<CancelOptions>();
  CLI::App* cmd = app.add_subcommand("cancel", "Cancel a queued or running job");
  cmd->add_option("id", options->job_id, "Job id")->required();
  cmd->add_option("--reason", options->reason, "Recorded in the job's events");
  return {cmd, [options, client] { return RunCancel(*options, *client, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
