#pragma once
// `mpirun -np N align-worker --coordinator ADDR [--token-file F]`: the ranks
// form one worker group serving the coordinator's queue. Rank 0 registers the
// group and shares its id over MPI; every rank opens its Session; the group
// takes jobs one after another (JobAssignment), each run by `prepare` (the
// torch side, worker/tools/serve_job.h) with the coordinator's plan. When the
// coordinator goes away, the ranks stop the job at a step boundary and
// register again until it is back. docs/protocol.md has the conversation.

#include <functional>
#include <ostream>
#include <string>

#include "worker/control/job_session.h"

namespace align::control {

struct ServeOptions {
  std::string coordinator;  // host:port
  std::string token_file;   // the first worker:<token> line (or bare line) is sent
  std::string tls_ca;
  std::string group_name;  // default: $SLURM_JOB_NAME, else host-pid
  std::string device = "cpu";
  int max_jobs = 0;  // > 0: exit 0 after this many jobs ended (tests, one-shot launches)
};

// Returns the process exit code: 2 for unusable options or credentials the
// coordinator refuses, 1 when a rank's job failed in a way that may leave
// peers inside a collective (the caller aborts the MPI world), 0 after
// max_jobs.
int RunServe(const ServeOptions& options, const PrepareJobFn& prepare, std::ostream& out, std::ostream& err);

}  // namespace align::control
