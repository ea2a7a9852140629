#pragma once
// The worker half of a chunked job (generate, score, pairs; the
// coordinator's half is coordinator/core/chunked_work.h): the rank waits for
// its share of the chunks, does them one by one, reports each when its files
// and record are in place, and stops between chunks when told to. Ranks share
// nothing but storage (no communicator); the serve loop agrees on the outcome
// once every rank is done. What differs per type is a ChunkProcessor.

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "worker/control/job_session.h"
#include "worker/control/worker_job_kind.h"

namespace align::runner {

// Does chunks of one job on one rank, with what it loaded once (models, the layout).
class ChunkProcessor {
 public:
  virtual ~ChunkProcessor() = default;
  // Writes chunk `position`'s files and its record. Returns the items it
  // holds (images, pairs: reported to the coordinator with the chunk).
  virtual absl::StatusOr<int64_t> Process(int64_t position) = 0;
};

class ChunkedWorkerKind : public control::WorkerJobKind {
 public:
  // `make` loads a processor for a job's (resolved) spec on this rank.
  using MakeProcessor = std::function<absl::StatusOr<std::unique_ptr<ChunkProcessor>>(const control::JobTicket&)>;

  ChunkedWorkerKind(JobType type, MakeProcessor make) : type_(type), make_(std::move(make)) {}
  JobType type() const override { return type_; }
  // Its chunk positions, into `work_units`.
  bool WaitForWork(control::JobMailbox& mailbox, const control::Assignment& assignment, const JobSpec& spec,
                   std::vector<int64_t>* work_units) const override;
  bool ranks_finish_apart() const override { return true; }
  absl::StatusOr<std::unique_ptr<control::PreparedJob>> SetUp(const control::JobTicket& ticket) const override;

 private:
  JobType type_;
  MakeProcessor make_;
};

}  // namespace align::runner
