#pragma once
// `align-worker prepare --spec prepare.yaml`: one prepare job on this MPI world
// without a coordinator. Plain types: main.cc does not see LibTorch.

#include <ostream>
#include <string>

namespace align::tools {

struct PrepareOptions {
  std::string spec_path;
};

// Returns the process exit code (0: dataset written or already complete;
// 1: job failed, e.g. too many bad items; 2: bad spec).
int RunPrepare(const PrepareOptions& options, std::ostream& out, std::ostream& err);

}  // namespace align::tools
