#include "worker/tools/prepare_command.h"

#include <exception>
#include <memory>

#include <torch/torch.h>

#include "common/job_spec.h"
#include "worker/engine/communicator.h"
#include "worker/engine/cpu_threads.h"
#include "worker/prepare/prepare_job.h"

namespace align::tools {

int RunPrepare(const PrepareOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<JobSpec> spec = LoadJobSpec(options.spec_path);
  if (!spec.ok()) {
    err << "align-worker prepare: " << spec.status().message() << "\n";
    return 2;
  }
  if (spec->type != JobType::kPrepare) {
    err << "align-worker prepare: " << options.spec_path << " is not a prepare job (type)\n";
    return 2;
  }
  engine::UseFairShareOfCores();
  std::unique_ptr<engine::Communicator> comm = engine::MakeMpiCommunicator();
  prepare::PrepareContext context;
  context.rank = comm->rank();
  context.world = comm->world_size();
  context.barrier = [&] { comm->Barrier(); };
  context.out = &out;
  absl::Status status;
  try {
    status = prepare::RunPrepareJob(*spec, context);
  } catch (const c10::Error& e) {
    status = absl::InternalError(e.what_without_backtrace());
  } catch (const std::exception& e) {
    status = absl::InternalError(e.what());
  }
  if (!status.ok()) {
    err << "align-worker prepare: job failed: " << status.message() << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace align::tools
