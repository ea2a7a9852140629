#include "worker/control/serve.h"

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/auth/token_file.h"
#include "common/job_spec.h"
#include "worker/control/group_join.h"
#include "worker/control/job_start.h"
#include "worker/control/mpi_group.h"
#include "worker/control/rank_session.h"
#include "worker/control/session_reporter.h"

namespace align::control {

namespace {

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

// The channel to the coordinator, with the worker token when there is one.
absl::StatusOr<std::unique_ptr<CoordinatorLink>> ConnectToCoordinator(const ServeOptions& options) {
  LinkOptions link_options;
  link_options.address = options.coordinator;
  link_options.tls_ca = options.tls_ca;
  if (!options.token_file.empty()) {
    absl::StatusOr<std::vector<auth::Token>> tokens = auth::LoadTokenFile(options.token_file);
    absl::StatusOr<std::string> token =
        tokens.ok() ? auth::TokenForRole(*tokens, auth::Role::kWorker, options.token_file)
                    : absl::StatusOr<std::string>(tokens.status());
    if (!token.ok()) return absl::InvalidArgumentError(absl::StrCat("--token-file: ", token.status().message()));
    link_options.token = *token;
  }
  return CoordinatorLink::Create(link_options);
}

// Every rank's host, and the group's name (the same on every rank).
GroupIdentity IdentifyGroup(MpiGroup& group, const ServeOptions& options) {
  GroupIdentity identity;
  identity.host = HostName();
  identity.hosts = group.AllGather(identity.host);
  identity.name = options.group_name;
  if (identity.name.empty()) {
    const char* slurm = std::getenv("SLURM_JOB_NAME");
    identity.name = slurm != nullptr ? slurm : absl::StrCat(identity.host, "-", ::getpid());
  }
  identity.name = group.Broadcast(identity.name, 0);
  identity.device = options.device;
  return identity;
}

// The ranks of some kinds (a prepare job) run no collective and finish at
// different times: the job is complete only when every rank is, and one
// rank's failure or stop is the group's.
JobOutcome AgreeOnOutcome(MpiGroup& group, const JobOutcome& local) {
  absl::Status status;
  if (local.end == JobEnd::kStopped) status = absl::CancelledError(local.message);
  if (local.end == JobEnd::kFailed) status = absl::InternalError(local.message);
  const absl::Status agreed = group.AgreeOnError(status);
  JobOutcome outcome = local;
  outcome.agreed = true;
  if (agreed.ok()) {
    outcome.end = JobEnd::kCompleted;
  } else {
    outcome.end = absl::IsCancelled(agreed) ? JobEnd::kStopped : JobEnd::kFailed;
    outcome.message = std::string(agreed.message());
  }
  return outcome;
}

// Sets the job up through the torch side and runs it. Setup runs no
// collective, so the ranks agree on its outcome before any runs the job: a
// setup error on one rank fails the job on all.
JobOutcome RunJob(MpiGroup& group, RankSession& session, const JobStart& start, JobReporter& reporter) {
  const Assignment& assignment = start.assignment;
  absl::StatusOr<std::unique_ptr<PreparedJob>> prepared = absl::FailedPreconditionError("not set up");
  if (!start.spec.ok()) {
    prepared = start.spec.status();
  } else {
    JobTicket ticket;
    ticket.job_id = assignment.job_id;
    ticket.spec = *start.spec;
    ticket.resume_step = assignment.resume_step;
    ticket.attempt = assignment.attempt;
    JobMailbox* mailbox = &session.mailbox();
    ticket.make_plan = [mailbox, job_id = assignment.job_id] {
      return std::make_unique<RemotePlanSource>(mailbox, job_id);
    };
    ticket.work_chunks = start.work_chunks;
    ticket.rank = group.rank();
    ticket.world_size = group.size();
    ticket.reporter = &reporter;
    prepared = start.kind->SetUp(ticket);
  }
  absl::Status setup = prepared.status();
  if (setup.ok() && (*prepared)->start_step() < assignment.resume_step) {
    setup = absl::FailedPreconditionError(absl::StrCat(
        "output has no complete checkpoint-", assignment.resume_step,
        " (the last one the coordinator recorded); the newest found is step ", (*prepared)->start_step()));
  }
  const absl::Status agreed = group.AgreeOnError(setup);
  if (!agreed.ok()) {
    JobOutcome outcome;
    outcome.end = JobEnd::kFailed;
    outcome.message = std::string(agreed.message());
    outcome.step = assignment.resume_step;
    outcome.agreed = true;
    return outcome;
  }
  JobOutcome outcome = (*prepared)->Run();
  prepared = absl::CancelledError("done");  // frees the models before the next job
  if (start.kind->ranks_finish_apart()) outcome = AgreeOnOutcome(group, outcome);
  return outcome;
}

// Tells the coordinator how the job ended. False: this rank failed alone and
// a peer may be waiting in a collective it will never join, so the MPI world
// must end.
bool ReportJobEnd(RankSession& session, int rank, const std::string& job_id, const JobOutcome& outcome,
                  std::ostream& out, std::ostream& err) {
  const bool lead = rank == 0;
  switch (outcome.end) {
    case JobEnd::kCompleted:
      if (lead) {
        // After every report about the job (Run() reported its final
        // step), on the same stream: the coordinator applies them first.
        session.SendCompleted(job_id, outcome.step, outcome.checkpoint_path);
        out << "align-worker: " << job_id << " done\n" << std::flush;
      }
      return true;
    case JobEnd::kStopped:
      if (lead && !session.mailbox().lost()) session.SendStopped(job_id, outcome.step);
      if (lead) out << "align-worker: " << job_id << " stopped after step " << outcome.step << "\n" << std::flush;
      return true;
    case JobEnd::kFailed:
      err << "align-worker rank " << rank << ": " << job_id << " failed: " << outcome.message << "\n" << std::flush;
      if (lead || !outcome.agreed) session.SendFailure(job_id, outcome.message, outcome.step, false);
      return outcome.agreed;
  }
  return true;
}

void Sleep(absl::Duration d) { std::this_thread::sleep_for(absl::ToChronoMilliseconds(d)); }

}  // namespace

int RunServe(const ServeOptions& options, const WorkerJobKinds& kinds, std::ostream& out, std::ostream& err) {
  MpiGroup group;
  const bool lead = group.rank() == 0;

  absl::StatusOr<std::unique_ptr<CoordinatorLink>> link = ConnectToCoordinator(options);
  if (!link.ok()) {
    if (lead) err << "align-worker: " << link.status().message() << "\n";
    return 2;
  }
  const GroupIdentity identity = IdentifyGroup(group, options);

  int jobs_ended = 0;
  while (true) {
    absl::StatusOr<JoinedGroup> joined = JoinCoordinator(group, **link, identity, options.coordinator, err);
    if (!joined.ok()) {
      if (lead) err << "align-worker: the coordinator refused the group: " << joined.status().message() << "\n";
      return 2;
    }
    if (lead) {
      out << "align-worker: joined the coordinator at " << options.coordinator << " as " << joined->group_id << " ("
          << group.size() << " ranks)\n"
          << std::flush;
    }
    RankSession& session = *joined->session;

    // Jobs, one after another, until some rank loses the coordinator.
    while (true) {
      std::optional<JobStart> start = WaitForJobStart(group, session.mailbox(), kinds);
      if (!start) break;
      const Assignment& assignment = start->assignment;
      const std::string& job_id = assignment.job_id;
      if (lead) {
        out << "align-worker: " << job_id << " (attempt " << assignment.attempt << ")"
            << (assignment.resume_step > 0 ? absl::StrCat(" resuming from step ", assignment.resume_step) : "")
            << "\n"
            << std::flush;
      }
      SessionReporter reporter(&session, job_id, group.rank(), start->spec.ok() ? start->spec->steps : 0, out);
      session.SetActivity(job_id, assignment.resume_step, 0);
      const JobOutcome outcome = RunJob(group, session, *start, reporter);

      // Forget the job's plans before reporting its end: the coordinator may
      // hand this group the same job again right after.
      session.mailbox().FinishJob(job_id);
      session.ClearActivity(job_id);
      if (!ReportJobEnd(session, group.rank(), job_id, outcome, out, err)) {
        session.Close();
        return 1;
      }
      ++jobs_ended;
      const bool lost = group.AnyTrue(session.mailbox().lost());
      if (options.max_jobs > 0 && jobs_ended >= options.max_jobs) {
        session.Close();
        return 0;
      }
      if (lost) break;
    }
    if (lead) {
      err << "align-worker rank " << group.rank() << ": lost the coordinator (" << session.mailbox().lost_reason()
          << "); joining again\n"
          << std::flush;
    }
    session.Close();
    joined->session.reset();
    Sleep(absl::Milliseconds(250));
  }
}

}  // namespace align::control
