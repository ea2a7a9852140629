#pragma once
// What the coordinator has told one rank about its jobs, kept until the job
// runner asks for it: assignments, plan chunks per job and step, a prepare
// job's chunk positions, stage boundaries and stop orders; and whether the
// session that fills it is lost. RankSession's reader thread files messages
// in; the serve loop and the trainer (through RemotePlanSource) wait on them.
// Plain C++ (no gRPC, no protobuf), so its waits are tested without a network.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/plan/pair_plan.h"
#include "worker/engine/plan_source.h"

namespace align::control {

// A JobAssignment as the coordinator sent it.
struct Assignment {
  std::string job_id;
  std::string spec_yaml;
  std::string base_dir;  // relative spec paths resolve against it
  int64_t resume_step = 0;
  int attempt = 1;
};

// One step of a plan chunk: this rank's micro-batches, in order.
struct PlannedStep {
  int64_t step = 0;
  std::vector<plan::MicroBatchPlan> micro_batches;
};

class JobMailbox {
 public:
  // ---- filed by the session's reader ----
  // A new assignment; an earlier job with the same id is forgotten (a job
  // handed to this group again starts with no plans and no stop order).
  void AddAssignment(Assignment assignment);
  // Plans of a job this rank no longer holds are dropped.
  void AddPlanChunk(const std::string& job_id, std::vector<PlannedStep> steps);
  void AddWorkChunks(const std::string& job_id, std::vector<int64_t> positions);
  void AddStageBoundary(const std::string& job_id, int64_t start_step, int stage);
  void AddStopOrder(const std::string& job_id);
  // The session ended: every wait returns. The first reason is kept.
  void MarkLost(const std::string& reason);

  // ---- asked by the serve loop and the trainer ----
  bool lost() const;
  std::string lost_reason() const;
  // The next assignment; nullopt once the session is lost.
  std::optional<Assignment> WaitForAssignment();
  // Until the plan for `step` of `job_id` is here; false when the session is
  // lost or the job was told to stop first.
  bool WaitForPlan(const std::string& job_id, int64_t step);
  // This rank's micro-batch; blocks like WaitForPlan. Unavailable when the
  // plan cannot come any more (session lost, job stopping).
  absl::StatusOr<plan::MicroBatchPlan> MicroBatch(const std::string& job_id, int64_t step, int64_t micro);
  int64_t StageOf(const std::string& job_id, int64_t step) const;
  // A prepare job's chunk positions for this rank; nullopt when the session
  // is lost or the job was told to stop first.
  std::optional<std::vector<int64_t>> WaitForWorkChunks(const std::string& job_id);
  bool StopRequested(const std::string& job_id) const;
  // Forgets the job's plans and its stop order: the coordinator may hand the
  // same job to this group again right after.
  void FinishJob(const std::string& job_id);

 private:
  struct JobPlans {
    std::map<int64_t, std::vector<plan::MicroBatchPlan>> steps;
    std::map<int64_t, int> stages;                       // start step -> stage
    std::optional<std::vector<int64_t>> work_chunks;  // a chunked job's share, once it is here
  };

  bool HasPlanLocked(const std::string& job_id, int64_t step) const;

  mutable std::mutex mu_;
  std::condition_variable arrived_;
  bool lost_ = false;
  std::string lost_reason_;
  std::deque<Assignment> assignments_;
  std::map<std::string, JobPlans> jobs_;
  std::set<std::string> stops_;
};

// The coordinator's plan for one job, as the trainer asks for it.
class RemotePlanSource : public engine::PlanSource {
 public:
  RemotePlanSource(JobMailbox* mailbox, std::string job_id) : mailbox_(mailbox), job_id_(std::move(job_id)) {}
  absl::StatusOr<plan::MicroBatchPlan> MicroBatch(int64_t step, int64_t micro) override {
    return mailbox_->MicroBatch(job_id_, step, micro);
  }
  int64_t StageOf(int64_t step) override { return mailbox_->StageOf(job_id_, step); }

 private:
  JobMailbox* mailbox_;
  std::string job_id_;
};

}  // namespace align::control
