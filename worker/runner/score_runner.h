#pragma once
// `type: score` on a rank: loads the spec's reward model once
// (reward/reward_model.h) and, for each of its chunks, decodes the chunk's
// images, scores them against their prompts and writes the chunk's record
// (curriculum/score_layout.h). An image that does not decode fails the job,
// naming the file: a score must exist for every image a pairs job ranks.

#include <memory>

#include "worker/control/worker_job_kind.h"
#include "worker/runner/device_choice.h"

namespace align::runner {

std::unique_ptr<control::WorkerJobKind> MakeScoreWorkerKind(DeviceChoice device);

}  // namespace align::runner
