#pragma once
// One rank's connection to the coordinator (WorkerService): the group
// registration (rank 0) and this rank's Session stream. A reader thread files
// what the coordinator sends (assignments, plan chunks, prepare chunks, stage
// boundaries, stop orders) into the rank's JobMailbox, where the job runner
// waits for it; a heartbeat thread keeps the group's lease; Send* report. RPC
// side only: never included by translation units that include LibTorch.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "worker/control/job_mailbox.h"

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

  // What the coordinator sent; lost once the stream ends or a write fails.
  JobMailbox& mailbox();

  // What heartbeats say this rank is doing.
  void SetActivity(const std::string& job_id, int64_t step, int64_t device_memory_bytes);
  // Heartbeats name no job any more, if they named `job_id`.
  void ClearActivity(const std::string& job_id);

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

}  // namespace align::control
