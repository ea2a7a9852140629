#pragma once
// `type: generate` on a rank: loads the model folder's sampling pipeline once
// (sampling/image_pipeline.h) and, for each of its chunks, generates the
// chunk's prompts x samples_per_prompt images, writes them (PNG or JPEG), the
// chunk's latents file (final latents, the prompts' text conditioning and
// time ids: what a pairs job copies into a dataset) and the chunk's record
// (curriculum/generate_layout.h).

#include <memory>

#include "worker/control/worker_job_kind.h"
#include "worker/runner/device_choice.h"

namespace align::runner {

std::unique_ptr<control::WorkerJobKind> MakeGenerateWorkerKind(DeviceChoice device);

}  // namespace align::runner
