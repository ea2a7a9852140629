// alignctl: the command-line client. Each subcommand lives in its own file
// and registers itself here.

#include <memory>
#include <vector>

#include "CLI/CLI.hpp"
#include "coordinator/alignctl/client.h"
#include "coordinator/alignctl/job_commands.h"
#include "coordinator/alignctl/make_synthetic.h"
#include "coordinator/alignctl/plot.h"
#include "coordinator/alignctl/subcommand.h"

int main(int argc, char** argv) {
  using namespace align::alignctl;
  CLI::App app{"alignctl: submit and watch alignment jobs, and prepare data for them"};
  app.require_subcommand(1);
  std::shared_ptr<ClientOptions> client = AddClientOptions(app);

  const std::vector<Subcommand> subcommands = {
      AddSubmitCommand(app, client), AddStatusCommand(app, client), AddListCommand(app, client),
      AddCancelCommand(app, client), AddWatchCommand(app, client),  AddWaitCommand(app, client),
      AddEventsCommand(app, client), AddReportCommand(app, client), AddMakeSyntheticCommand(app), AddPlotCommand(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every other parse error is a usage error.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  for (const Subcommand& subcommand : subcommands) {
    if (subcommand.app->parsed()) return subcommand.run();
  }
  return kExitUsage;
}
