#pragma once
// The JobRun of every chunked kind (chunked_work.h): all of a rank's share
// goes out at Start (a rank works through its chunks without waiting for the
// coordinator), reported chunks are the job's steps, and completion hands
// over to the work's Finish.

#include <memory>
#include <string>

#include "coordinator/core/chunked_work.h"
#include "coordinator/core/job_kind.h"

namespace align::coordinator {

std::unique_ptr<JobRun> MakeChunkedJobRun(std::string job_id, std::unique_ptr<ChunkedWork> work, int world_size);

}  // namespace align::coordinator
