#pragma once
// `mpirun -np N align-worker --coordinator ADDR [--token-file F]`: the ranks
// form one worker group serving the coordinator's queue. They join the
// coordinator (group_join.h), then take jobs one after another: wait for a
// job's start (job_start.h), run it through its kind (worker_job_kind.h; the
// torch side registers them, worker/runner/job_runner.h) with the
// coordinator's plan, report its end.
// When the coordinator goes away, the ranks stop the job at a step boundary
// and join again until it is back. docs/protocol.md has the conversation.

#include <functional>
#include <ostream>
#include <string>

#include "worker/control/worker_job_kind.h"

namespace align::control {

struct ServeOptions {
  std::string coordinator;  // host:port
  std::string token_file;   // the first worker:<token> line (or bare line) is sent
  std::string tls_ca;
  std::string group_name;  // default: $SLURM_JOB_NAME, else host-pid
  std::string device = "cpu";  // the group's capability (cpu | cuda): the runner's device choice
  int max_jobs = 0;  // > 0: exit 0 after this many jobs ended (tests, one-shot launches)
};

// Returns the process exit code: 2 for unusable options or credentials the
// coordinator refuses, 1 when a rank's job failed in a way that may leave
// peers inside a collective (the caller aborts the MPI world), 0 after
// max_jobs.
int RunServe(const ServeOptions& options, const WorkerJobKinds& kinds, std::ostream& out, std::ostream& err);

}  // namespace align::control
