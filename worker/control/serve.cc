#include "worker/control/serve.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/auth/token_file.h"
#include "common/job_spec.h"
#include "worker/control/mpi_group.h"
#include "worker/control/rank_session.h"

namespace align::control {

namespace {

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

// Same job id on every rank <=> same key (FNV-1a; never negative).
int64_t JobKey(const std::string& job_id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : job_id) h = (h ^ c) * 1099511628211ull;
  return static_cast<int64_t>(h >> 1);
}

bool Fatal(const absl::Status& status) {
  return absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status) ||
         absl::IsFailedPrecondition(status) || absl::IsInvalidArgument(status);
}

// What the trainer reports, sent on by rank 0; every rank keeps its heartbeat
// current.
class SessionReporter : public JobReporter {
 public:
  SessionReporter(RankSession* session, std::string job_id, int rank, int64_t total_steps, std::ostream& out)
      : session_(session), job_id_(std::move(job_id)), rank_(rank), total_steps_(total_steps), out_(out) {}

  void Step(const StepReport& report) override {
    session_->SetActivity(job_id_, report.step, report.device_memory_bytes);
    if (rank_ != 0) return;
    session_->SendProgress(job_id_, report.step, report.values);
    auto value = [&](const char* name) {
      auto it = report.values.find(name);
      return it == report.values.end() ? 0.0 : it->second;
    };
    out_ << absl::StrFormat("%s step %d/%d loss %.4f acc %.3f pairs/s %.2f\n", job_id_, report.step, total_steps_,
                            value("loss"), value("implicit_accuracy"), value("pairs_per_s"))
         << std::flush;
  }
  void Eval(const EvalReport& report) override {
    if (rank_ == 0) session_->SendEval(job_id_, report.step, report.values);
  }
  void Checkpoint(int64_t step, const std::string& dir) override {
    if (rank_ != 0) return;
    session_->SendCheckpoint(job_id_, step, dir);
    out_ << job_id_ << " checkpoint " << dir << "\n" << std::flush;
  }
  bool ShouldStop() override { return session_->lost() || session_->StopRequested(job_id_); }
  void ChunkDone(int64_t position, int64_t pairs, int64_t failed_items) override {
    session_->SetActivity(job_id_, ++chunks_done_, 0);
    session_->SendChunkDone(job_id_, position, pairs, failed_items);
  }

 private:
  RankSession* session_;
  std::string job_id_;
  int rank_;
  int64_t total_steps_;
  std::ostream& out_;
  int64_t chunks_done_ = 0;
};

// The ranks of a prepare job run no collective and finish at different times:
// the job is complete only when every rank is, and one rank's failure or stop
// is the group's.
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

void Sleep(absl::Duration d) { std::this_thread::sleep_for(absl::ToChronoMilliseconds(d)); }

}  // namespace

int RunServe(const ServeOptions& options, const PrepareJobFn& prepare, std::ostream& out, std::ostream& err) {
  MpiGroup group;
  const bool lead = group.rank() == 0;
  const std::string tag = absl::StrCat("align-worker rank ", group.rank(), ": ");

  LinkOptions link_options;
  link_options.address = options.coordinator;
  link_options.tls_ca = options.tls_ca;
  if (!options.token_file.empty()) {
    absl::StatusOr<std::vector<auth::Token>> tokens = auth::LoadTokenFile(options.token_file);
    absl::StatusOr<std::string> token =
        tokens.ok() ? auth::TokenForRole(*tokens, auth::Role::kWorker, options.token_file)
                    : absl::StatusOr<std::string>(tokens.status());
    if (!token.ok()) {
      if (lead) err << "align-worker: --token-file: " << token.status().message() << "\n";
      return 2;
    }
    link_options.token = *token;
  }
  absl::StatusOr<std::unique_ptr<CoordinatorLink>> link = CoordinatorLink::Create(link_options);
  if (!link.ok()) {
    if (lead) err << "align-worker: " << link.status().message() << "\n";
    return 2;
  }
  const std::string host = HostName();
  const std::vector<std::string> hosts = group.AllGather(host);
  std::string name = options.group_name;
  if (name.empty()) {
    const char* slurm = std::getenv("SLURM_JOB_NAME");
    name = slurm != nullptr ? slurm : absl::StrCat(host, "-", ::getpid());
  }
  name = group.Broadcast(name, 0);

  int jobs_ended = 0;
  absl::Duration backoff = absl::Milliseconds(250);
  std::string last_problem;
  while (true) {
    // ---- join: rank 0 registers, every rank opens its session ----
    std::string answer;
    if (lead) {
      absl::StatusOr<GroupRegistration> registered =
          (*link)->RegisterGroup(name, group.size(), hosts, options.device);
      if (registered.ok()) {
        answer = "ok:" + registered->group_id;
      } else {
        answer = absl::StrCat(Fatal(registered.status()) ? "fatal:" : "retry:", registered.status().message());
      }
    }
    answer = group.Broadcast(answer, 0);
    if (answer.rfind("fatal:", 0) == 0) {
      if (lead) err << "align-worker: the coordinator refused the group: " << answer.substr(6) << "\n";
      return 2;
    }
    std::unique_ptr<RankSession> session;
    std::string problem;
    if (answer.rfind("ok:", 0) == 0) {
      absl::StatusOr<std::unique_ptr<RankSession>> opened = (*link)->OpenSession(answer.substr(3), group.rank(), host);
      if (opened.ok()) {
        session = std::move(*opened);
      } else {
        problem = std::string(opened.status().message());
      }
    } else {
      problem = answer.substr(6);
    }
    if (group.AnyTrue(session == nullptr)) {
      // Registration problems are rank 0's to report; session problems each rank's.
      const bool mine = lead || answer.rfind("ok:", 0) == 0;
      if (mine && !problem.empty() && problem != last_problem) {
        err << tag << "cannot join the coordinator at " << options.coordinator << " (" << problem << "); retrying\n"
            << std::flush;
        last_problem = problem;
      }
      session.reset();
      Sleep(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
      continue;
    }
    backoff = absl::Milliseconds(250);
    last_problem.clear();
    if (lead) {
      out << "align-worker: joined the coordinator at " << options.coordinator << " as " << answer.substr(3) << " ("
          << group.size() << " ranks)\n"
          << std::flush;
    }

    // ---- jobs, one after another ----
    while (true) {
      std::optional<Assignment> assignment = session->WaitForAssignment();
      bool ready = assignment.has_value();
      std::optional<JobSpec> spec;
      std::optional<std::vector<int64_t>> prepare_chunks;
      if (ready) {
        absl::StatusOr<JobSpec> parsed = ParseJobSpec(assignment->spec_yaml);
        if (parsed.ok()) spec = *parsed;
        // A train job starts once its first plan chunk is here on this rank,
        // a prepare job once its share of the chunks is.
        if (spec && spec->type == JobType::kTrain && assignment->resume_step < spec->steps) {
          ready = session->WaitForPlan(assignment->job_id, assignment->resume_step) ||
                  session->StopRequested(assignment->job_id);
        }
        if (spec && spec->type == JobType::kPrepare) {
          prepare_chunks = session->WaitForPrepareChunks(assignment->job_id);
          ready = prepare_chunks.has_value() || session->StopRequested(assignment->job_id);
        }
      }
      const int64_t key = ready ? JobKey(assignment->job_id) : -1;
      if (!group.AllEqual(key) || key < 0) break;  // someone lost the coordinator: join again

      const std::string job_id = assignment->job_id;
      if (lead) {
        out << "align-worker: " << job_id << " (attempt " << assignment->attempt << ")"
            << (assignment->resume_step > 0 ? absl::StrCat(" resuming from step ", assignment->resume_step) : "")
            << "\n"
            << std::flush;
      }
      SessionReporter reporter(session.get(), job_id, group.rank(), spec ? spec->steps : 0, out);
      session->SetActivity(job_id, assignment->resume_step, 0);
      JobTicket ticket;
      ticket.job_id = job_id;
      ticket.spec_yaml = assignment->spec_yaml;
      ticket.base_dir = assignment->base_dir;
      ticket.resume_step = assignment->resume_step;
      ticket.attempt = assignment->attempt;
      RankSession* raw = session.get();
      ticket.make_plan = [raw, job_id] { return std::make_unique<RemotePlanSource>(raw, job_id); };
      ticket.reporter = &reporter;
      ticket.prepare_chunks = prepare_chunks.value_or(std::vector<int64_t>());
      ticket.rank = group.rank();
      ticket.world_size = group.size();

      absl::StatusOr<std::unique_ptr<PreparedJob>> prepared = prepare(ticket);
      absl::Status setup = prepared.status();
      if (setup.ok() && (*prepared)->start_step() < assignment->resume_step) {
        setup = absl::FailedPreconditionError(absl::StrCat(
            "output has no complete checkpoint-", assignment->resume_step,
            " (the last one the coordinator recorded); the newest found is step ", (*prepared)->start_step()));
      }
      const absl::Status agreed = group.AgreeOnError(setup);
      JobOutcome outcome;
      if (!agreed.ok()) {
        prepared = absl::CancelledError("not started");
        outcome.end = JobEnd::kFailed;
        outcome.message = std::string(agreed.message());
        outcome.step = assignment->resume_step;
        outcome.agreed = true;
      } else {
        outcome = (*prepared)->Run();
        prepared = absl::CancelledError("done");  // frees the models before the next job
        if (spec && spec->type == JobType::kPrepare) outcome = AgreeOnOutcome(group, outcome);
      }

      // Forget the job's plans before reporting its end: the coordinator may
      // hand this group the same job again right after.
      session->FinishJob(job_id);
      bool abort_world = false;
      switch (outcome.end) {
        case JobEnd::kCompleted:
          if (lead) {
            // After every report about the job (Run() reported its final
            // step), on the same stream: the coordinator applies them first.
            session->SendCompleted(job_id, outcome.step, outcome.checkpoint_path);
            out << "align-worker: " << job_id << " done\n" << std::flush;
          }
          break;
        case JobEnd::kStopped:
          if (lead && !session->lost()) session->SendStopped(job_id, outcome.step);
          if (lead) out << "align-worker: " << job_id << " stopped after step " << outcome.step << "\n" << std::flush;
          break;
        case JobEnd::kFailed:
          err << tag << job_id << " failed: " << outcome.message << "\n" << std::flush;
          if (lead || !outcome.agreed) session->SendFailure(job_id, outcome.message, outcome.step, false);
          abort_world = !outcome.agreed;
          break;
      }
      if (abort_world) {
        // A peer may be waiting in a collective this rank will never join.
        session->Close();
        return 1;
      }
      ++jobs_ended;
      const bool lost = group.AnyTrue(session->lost());
      if (options.max_jobs > 0 && jobs_ended >= options.max_jobs) {
        session->Close();
        return 0;
      }
      if (lost) break;
    }
    if (lead) {
      err << tag << "lost the coordinator (" << session->lost_reason() << "); joining again\n" << std::flush;
    }
    session->Close();
    session.reset();
    Sleep(backoff);
  }
}

}  // namespace align::control
