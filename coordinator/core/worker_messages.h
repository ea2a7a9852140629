#pragma once
// What the scheduler says to and hears from worker ranks, as plain structs:
// the gRPC layer (coordinator/server/worker_service.cc) converts them to and
// from align.v1 messages, and the scheduler's tests use them directly.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "common/plan/pair_plan.h"

namespace align::coordinator {

// ---- coordinator -> worker --------------------------------------------------

struct AssignmentOut {
  std::string job_id;  // "job-000042"
  std::string spec_yaml;
  std::string base_dir;
  int64_t resume_step = 0;
  int attempt = 1;
};

struct StepPlanOut {
  int64_t step = 0;
  std::vector<plan::MicroBatchPlan> micro_batches;  // grad_accum of them
};

struct PlanChunkOut {
  std::string job_id;
  int64_t first_step = 0;
  int64_t end_step = 0;
  std::vector<StepPlanOut> steps;
};

// A rank's share of a chunked job (prepare, generate, score, pairs):
// positions in the job's work plan. On the wire: align.v1.PrepareChunks, named
// for the first kind that had chunks.
struct WorkChunksOut {
  std::string job_id;
  std::vector<int64_t> positions;
  int64_t total_chunks = 0;
};

struct StageBoundaryOut {
  std::string job_id;
  int stage = 0;
  int64_t start_step = 0;
};

enum class StopReason { kCancelled, kPreempted, kShutdown };

struct StopOrderOut {
  std::string job_id;
  StopReason reason = StopReason::kCancelled;
  std::string message;
};

// A worker message that was not accepted; the session stays open.
struct RejectionOut {
  std::string job_id;
  absl::StatusCode code = absl::StatusCode::kFailedPrecondition;
  std::string message;
};

using OutboundMessage =
    std::variant<AssignmentOut, PlanChunkOut, WorkChunksOut, StageBoundaryOut, StopOrderOut, RejectionOut>;

// One rank's open session, as the scheduler sees it. Enqueue is cheap and
// never blocks on the network (the scheduler calls it under its lock, which
// fixes the order of a rank's messages); Flush writes what is queued and is
// called without the lock. Close ends the session (its group was lost).
class SessionSink {
 public:
  virtual ~SessionSink() = default;
  virtual void Enqueue(OutboundMessage message) = 0;
  virtual void Flush() = 0;
  virtual void Close() = 0;
};

// ---- worker -> coordinator --------------------------------------------------

struct StepMetricsIn {
  int64_t step = 0;
  std::map<std::string, double> values;  // metrics.jsonl's names
  bool evaluation = false;
};

}  // namespace align::coordinator
