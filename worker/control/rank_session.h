#pragma once
// One rank's connection to the coordinator (WorkerService): the group
// registration (rank 0) and this rank's Session stream. A reader thread files
// what the coordinator sends (assignments, plan chunks, prepare chunks, stage
// boundaries, stop orders); a heartbeat thread keeps the group's lease. RPC side only: never
// included by translation units that include LibTorch.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/plan/pair_plan.h"
#include "worker/engine/plan_source.h"

namespace grpc {
class Channel;
}

namespace align::control {

struct LinkOptions {
  std::string address;  // host:port
  std::string token;    // bearer token (a worker token); empty: none
  std::string tls_ca;   // PEM roots; empty: plaintext
};

struct GroupRegistration {
  std::string group_id;
  absl::Duration lease;
};

struct Assignment {
  std::string job_id;
  std::string spec_yaml;
  std::string base_dir;
  int64_t resume_step = 0;
  int attempt = 1;
};

class RankSession;

class CoordinatorLink {
 public:
  static absl::StatusOr<std::unique_ptr<CoordinatorLink>> Create(const LinkOptions& options);

  // gRPC status codes map onto absl's.
  absl::StatusOr<GroupRegistration> RegisterGroup(const std::string& name, int world_size,
                                                  const std::vector<std::string>& hosts, const std::string& device);
  // Opens the stream and completes the handshake (Hello -> SessionAccepted).
  absl::StatusOr<std::unique_ptr<RankSession>> OpenSession(const std::string& group_id, int rank,
                                                           const std::string& host);

 private:
  CoordinatorLink(LinkOptions options, std::shared_ptr<grpc::Channel> channel)
      : options_(std::move(options)), channel_(std::move(channel)) {}
  LinkOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
};

class RankSession {
 public:
  ~RankSession();
  // Ends the stream and joins the threads. Idempotent.
  void Close();

  bool lost() const;
  std::string lost_reason() const;

  // The next JobAssignment; nullopt once the session is lost.
  std::optional<Assignment> WaitForAssignment();
  // Until the plan for `step` of `job_id` is here; false when the session is
  // lost or the job was told to stop first.
  bool WaitForPlan(const std::string& job_id, int64_t step);
  // This rank's micro-batch; blocks like WaitForPlan. Unavailable when the
  // plan cannot come any more (session lost, job stopping).
  absl::StatusOr<plan::MicroBatchPlan> MicroBatch(const std::string& job_id, int64_t step, int64_t micro);
  int64_t StageOf(const std::string& job_id, int64_t step);
  // A prepare job's chunk positions for this rank; nullopt when the session
  // is lost or the job was told to stop first.
  std::optional<std::vector<int64_t>> WaitForPrepareChunks(const std::string& job_id);
  bool StopRequested(const std::string& job_id) const;
  // Forgets the job's plans.
  void FinishJob(const std::string& job_id);

  // What heartbeats say this rank is doing.
  void SetActivity(const std::string& job_id, int64_t step, int64_t device_memory_bytes);

  // Reports (false: the stream is broken; the session is then lost).
  bool SendProgress(const std::string& job_id, int64_t step, const std::map<std::string, double>& metrics);
  bool SendEval(const std::string& job_id, int64_t step, const std::map<std::string, double>& metrics);
  bool SendCheckpoint(const std::string& job_id, int64_t step, const std::string& path);
  bool SendCompleted(const std::string& job_id, int64_t step, const std::string& checkpoint_path);
  bool SendFailure(const std::string& job_id, const std::string& message, int64_t step, bool retryable);
  bool SendStopped(const std::string& job_id, int64_t step);
  bool SendChunkDone(const std::string& job_id, int64_t position, int64_t pairs, int64_t failed_items);

  int64_t rejections() const;

 private:
  friend class CoordinatorLink;
  struct Impl;
  explicit RankSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The coordinator's plan for one job, as the trainer asks for it.
class RemotePlanSource : public engine::PlanSource {
 public:
  RemotePlanSource(RankSession* session, std::string job_id) : session_(session), job_id_(std::move(job_id)) {}
  absl::StatusOr<plan::MicroBatchPlan> MicroBatch(int64_t step, int64_t micro) override {
    return session_->MicroBatch(job_id_, step, micro);
  }
  int64_t StageOf(int64_t step) override { return session_->StageOf(job_id_, step); }

 private:
  RankSession* session_;
  std::string job_id_;
};

}  // namespace align::control
