#pragma once
// `align-worker train --spec job.yaml`: one job on this MPI world without a
// coordinator, planned locally. Plain types: main.cc does not see LibTorch.

#include <ostream>
#include <string>

namespace align::tools {

struct TrainOptions {
  std::string spec_path;
};

// How a rank ends `train`: the process exit code (0: job finished; 1: job failed; 2: bad spec),
// and whether every rank of the world failed at the same point with the same error (the
// trainer agreed on it: absl::StatusCode::kAborted), so no peer waits in a collective and the
// world need not be aborted.
struct TrainExit {
  int code = 0;
  bool failed_on_every_rank = false;
};
TrainExit RunTrain(const TrainOptions& options, std::ostream& out, std::ostream& err);

}  // namespace align::tools
