#include "coordinator/core/chunked_work.h"

#include <algorithm>
#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/prepare/work_split.h"
#include "common/status_macros.h"

namespace align::coordinator {

absl::Status ChunkLedger::CheckPosition(int64_t position) const {
  if (position >= 0 && position < size()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("position: chunk ", position, " is outside this job's plan of ", size(), " chunks"));
}

bool ChunkLedger::MarkDone(int64_t position) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_[position]) return false;
  done_[position] = true;
  ++done_count_;
  return true;
}

int64_t ChunkLedger::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_count_;
}

std::vector<std::vector<int64_t>> ChunkLedger::SplitPending(int parts) const {
  std::vector<int64_t> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < done_.size(); ++i) {
      if (!done_[i]) pending.push_back(static_cast<int64_t>(i));
    }
  }
  std::vector<std::vector<int64_t>> out(std::max(parts, 1));
  for (int part = 0; part < static_cast<int>(out.size()); ++part) {
    for (size_t k : prepare::ChunksOfPart(pending.size(), part, static_cast<int>(out.size()))) {
      out[part].push_back(pending[k]);
    }
  }
  return out;
}

void RecordedChunkWork::CountFinished() {
  for (int64_t chunk = 0; chunk < ledger_.size(); ++chunk) {
    if (Finished(chunk)) ledger_.MarkDone(chunk);
  }
}

absl::StatusOr<WorkProgress> RecordedChunkWork::ChunkDone(int /*rank*/, int64_t position, int64_t /*items*/,
                                                          int64_t /*failed_items*/) {
  RETURN_IF_ERROR(ledger_.CheckPosition(position));
  if (!Finished(position)) {
    return absl::FailedPreconditionError(
        absl::StrCat(MissingRecord(position), " is not there, though the chunk was reported done (is the storage shared?)"));
  }
  ledger_.MarkDone(position);
  WorkProgress progress;
  progress.steps_done = ledger_.done();
  return progress;
}

}  // namespace align::coordinator
