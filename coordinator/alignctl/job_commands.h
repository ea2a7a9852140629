#pragma once
// alignctl's job subcommands, talking to the coordinator's JobService:
//   submit job.yaml        queue a job; the last line of stdout is its id
//   status ID [--json]     one job
//   list [--state S]       jobs, oldest first
//   cancel ID              stop a job
//   watch ID               follow a job's progress until it ends
//   wait ID                block until the job ends; exit 0 only if it succeeded
//   events ID              the job's history
//   report ID|PATH         an evaluate job's report.json as a table (report.cc)
// Exit status: 0 done; 1 the coordinator refused or was unreachable, or the
// job did not succeed (watch, wait); 2 bad input (options, spec, job id).

#include <memory>

#include "CLI/CLI.hpp"
#include "coordinator/alignctl/client.h"
#include "coordinator/alignctl/subcommand.h"

namespace align::alignctl {

Subcommand AddSubmitCommand(CLI::App& app, std::shared_ptr<ClientOptions> client);
Subcommand AddStatusCommand(CLI::App& app, std::shared_ptr<ClientOptions> client);
Subcommand AddListCommand(CLI::App& app, std::shared_ptr<ClientOptions> client);
Subcommand AddCancelCommand(CLI::App& app, std::shared_ptr<ClientOptions> client);
Subcommand AddWatchCommand(CLI::App& app, std::shared_ptr<ClientOptions> client);
Subcommand AddWaitCommand(CLI::App& app, std::shared_ptr<ClientOptions> client);
Subcommand AddEventsCommand(CLI::App& app, std::shared_ptr<ClientOptions> client);
Subcommand AddReportCommand(CLI::App& app, std::shared_ptr<ClientOptions> client);

}  // namespace align::alignctl
