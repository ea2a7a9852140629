#pragma once
// alignctl plot: loss, implicit accuracy (with held-out accuracy dashed) and
// reward margin per step of one or more runs' metrics.jsonl, as one PNG with a
// panel per quantity and a line per run.

#include <ostream>
#include <string>
#include <vector>

#include "coordinator/alignctl/subcommand.h"

namespace align::alignctl {

struct PlotOptions {
  std::vector<std::string> series;  // NAME=PATH/metrics.jsonl
  std::string out;
  int width = 1200;
  int height = 1080;
};

// Writes the PNG and a summary per run on `out`; on error, a message naming
// the file and line at fault on `err`. Returns the exit status: 0, kExitUsage
// for unusable input, 1 when the PNG cannot be written.
int RunPlot(const PlotOptions& options, std::ostream& out, std::ostream& err);

Subcommand AddPlotCommand(CLI::App& app);

}  // namespace align::alignctl
