#include "worker/runner/job_runner.h"

#include <memory>

#include "common/status_macros.h"
#include "worker/engine/cpu_threads.h"
#include "worker/runner/evaluate_runner.h"
#include "worker/runner/generate_runner.h"
#include "worker/runner/pairs_runner.h"
#include "worker/runner/prepare_runner.h"
#include "worker/runner/score_runner.h"
#include "worker/runner/train_runner.h"

namespace align::runner {

absl::StatusOr<control::WorkerJobKinds> BuiltInWorkerJobKinds(const DeviceChoice& device) {
  engine::UseFairShareOfCores();
  control::WorkerJobKinds kinds;
  RETURN_IF_ERROR(kinds.Register(std::make_unique<TrainWorkerKind>(device)));
  RETURN_IF_ERROR(kinds.Register(std::make_unique<PrepareWorkerKind>(device)));
  RETURN_IF_ERROR(kinds.Register(MakeGenerateWorkerKind(device)));
  RETURN_IF_ERROR(kinds.Register(MakeScoreWorkerKind(device)));
  RETURN_IF_ERROR(kinds.Register(MakePairsWorkerKind()));
  RETURN_IF_ERROR(kinds.Register(MakeEvaluateWorkerKind(device)));
  return kinds;
}

}  // namespace align::runner
