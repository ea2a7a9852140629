// alignctl events ID: the job's history, oldest first.

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "common/printable_text.h"
#include "coordinator/alignctl/job_commands.h"
#include "coordinator/alignctl/job_format.h"

namespace align::alignctl {

namespace {

struct EventsOptions {
  std::string job_id;
};

int RunEvents(const EventsOptions& options, const ClientOptions& client_options, std::ostream& out,
              std::ostream& err) {
  int exit_code = 0;
  std::unique_ptr<CoordinatorClient> client = ConnectOrReport(client_options, "events", err, &exit_code);
  if (client == nullptr) return exit_code;
  v1::ListEventsRequest request;
  request.set_job_id(options.job_id);
  v1::ListEventsResponse response;
  const grpc::Status status = client->jobs().ListEvents(client->NewContext(true).get(), request, &response);
  if (!status.ok()) return client->ReportError("events", status, err);
  for (const v1::JobEvent& event : response.events()) {
    out << absl::StrFormat("%s  %-11s %s\n", FormatTime(event.time(), event.has_time()), EscapeControlCharacters(event.kind()),
                           EscapeControlCharacters(event.message()));
  }
  return 0;
}

}  // namespace

Subcommand AddEventsCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  auto options = std::make_shared<EventsOptions>();
  CLI::App* cmd = app.add_subcommand("events", "Show a job's events (submitted, started, checkpoints, ...)");
  cmd->add_option("id", options->job_id, "Job id")->required();
  return {cmd, [options, client] { return RunEvents(*options, *client, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
