#pragma once
// `align-worker train --spec job.yaml`: one job on this MPI world without a
// coordinator, planned locally. Plain types: main.cc does not see LibTorch.

#include <ostream>
#include <string>

namespace align::tools {

struct TrainOptions {
  std::string spec_path;
};

// Returns the process exit code (0: job finished; 1: job failed; 2: bad spec).
int RunTrain(const TrainOptions& options, std::ostream& out, std::ostream& err);

}  // namespace align::tools
