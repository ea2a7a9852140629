#include "coordinator/core/store_writes.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/core/log.h"

namespace align::coordinator {

bool StoreWrites::MayPass(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:  // SQLITE_BUSY, SQLITE_LOCKED
    case absl::StatusCode::kInternal:     // SQLITE_FULL, SQLITE_IOERR, ...
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kPermissionDenied:  // a file system remounted read-only
      return true;
    default:
      return false;
  }
}

bool StoreWrites::KeepFailed(const Pending& write, const absl::Status& status, bool retried) {
  const std::string about = absl::StrCat(write.subject, ": cannot ", write.what, ": ", status.ToString());
  if (!MayPass(status)) {
    LogLine(absl::StrCat(about, retried ? " (given up after retrying)" : ""));
    return false;
  }
  if (!retried) {
    std::lock_guard<std::mutex> lock(mu_);
    if (waiting_.size() >= max_waiting_) {
      LogLine(absl::StrCat(about, "; given up: ", waiting_.size(), " store writes are already waiting"));
      return false;
    }
  }
  if (!retried) LogLine(absl::StrCat(about, "; trying again"));
  return true;
}

bool StoreWrites::Run(std::string subject, std::string what, Write write) {
  Pending pending{std::move(subject), std::move(what), std::move(write)};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!waiting_.empty()) {
      if (waiting_.size() >= max_waiting_) {
        LogLine(absl::StrCat(pending.subject, ": cannot ", pending.what, "; given up: ", waiting_.size(),
                             " store writes are already waiting"));
        return false;
      }
      waiting_.push_back(std::move(pending));
      return false;
    }
  }
  const absl::Status status = pending.write();
  if (status.ok()) return true;
  if (!KeepFailed(pending, status, /*retried=*/false)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  // In front of any write queued while it ran: those were made after it.
  waiting_.push_front(std::move(pending));
  return false;
}

void StoreWrites::Retry() {
  while (true) {
    Pending front;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (retrying_ || waiting_.empty()) return;
      retrying_ = true;
      front = waiting_.front();
    }
    const absl::Status status = front.write();
    const bool keep = !status.ok() && KeepFailed(front, status, /*retried=*/true);
    std::lock_guard<std::mutex> lock(mu_);
    retrying_ = false;
    if (keep) return;  // still failing: the next Retry() tries it first
    if (status.ok()) LogLine(absl::StrCat(front.subject, ": ", front.what, " done on a later try"));
    waiting_.pop_front();
  }
}

size_t StoreWrites::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_.size();
}

}  // namespace align::coordinator
