#pragma once
// `type: pairs` on a rank: copies its chunks' pairs (latents and text
// conditioning from the generate job's files, scores and difficulty from the
// plan) into dataset shards. No model: the plan (curriculum/pairs_layout.h)
// is computed from the spec as the coordinator computed it.

#include <memory>

#include "worker/runner/chunked_runner.h"

namespace align::runner {

std::unique_ptr<control::WorkerJobKind> MakePairsWorkerKind();

}  // namespace align::runner
