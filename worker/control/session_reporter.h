#pragma once
// The JobReporter of a job served for a coordinator: what the trainer (or a
// prepare job) reports goes out on this rank's session, by rank 0 where one
// report per group is enough; every rank keeps its heartbeat current and
// polls its own mailbox for a stop order or a lost session.

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>

#include "worker/control/job_session.h"
#include "worker/control/rank_session.h"

namespace align::control {

class SessionReporter : public JobReporter {
 public:
  // `out` gets rank 0's one-line progress; `total_steps` is only printed.
  SessionReporter(RankSession* session, std::string job_id, int rank, int64_t total_steps, std::ostream& out)
      : session_(session), job_id_(std::move(job_id)), rank_(rank), total_steps_(total_steps), out_(out) {}

  void Step(const StepReport& report) override;
  void Eval(const EvalReport& report) override;
  void Checkpoint(int64_t step, const std::string& dir) override;
  bool ShouldStop() override;
  void ChunkDone(int64_t position, int64_t pairs, int64_t failed_items) override;

 private:
  RankSession* session_;
  std::string job_id_;
  int rank_;
  int64_t total_steps_;
  std::ostream& out_;
  int64_t chunks_done_ = 0;
};

}  // namespace align::control
