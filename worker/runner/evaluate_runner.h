#pragma once
// `type: evaluate` on a rank: loads every reward model and the CLIP image
// embedder once, and the sampling pipeline of the checkpoint its chunks are
// at (chunks run checkpoint by checkpoint, so a rank loads each checkpoint it
// meets once in a row). For each chunk it generates the prompts x seeds
// images with noise keyed by (job seed, prompt x seeds + seed), the same for
// every checkpoint, writes them as PNG, scores each with every reward, embeds
// it, and writes the chunk's embeddings file and record
// (common/evaluation/evaluate_layout.h). Work goes one sampling batch at a
// time, so a chunk never holds more than a batch of images.

#include <memory>

#include "worker/control/worker_job_kind.h"
#include "worker/runner/device_choice.h"

namespace align::runner {

std::unique_ptr<control::WorkerJobKind> MakeEvaluateWorkerKind(DeviceChoice device);

}  // namespace align::runner
