#include "worker/engine/async_wait.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace align::engine {

absl::Status WaitUntilDone(const std::function<AsyncPoll()>& poll, absl::Duration timeout, absl::string_view what,
                           absl::Duration interval) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const AsyncPoll polled = poll();
    if (polled.state == AsyncState::kDone) return absl::OkStatus();
    if (polled.state == AsyncState::kFailed) return absl::UnavailableError(absl::StrCat(what, ": ", polled.error));
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(what, " did not finish within ", absl::FormatDuration(timeout)));
    }
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(interval));
  }
}

absl::Status AgreeOnOutcome(const std::vector<double>& failed_by_rank, int rank, const absl::Status& own,
                            absl::string_view what) {
  if (!own.ok()) return own;
  std::vector<int> failed;
  for (size_t r = 0; r < failed_by_rank.size(); ++r) {
    if (failed_by_rank[r] != 0 && static_cast<int>(r) != rank) failed.push_back(static_cast<int>(r));
  }
  if (failed.empty()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(what, " failed on rank ", absl::StrJoin(failed, ", ")));
}

namespace {

absl::Status ReadSeconds(const std::function<const char*(const char*)>& getenv, const char* name,
                         absl::Duration* out) {
  const char* text = getenv(name);
  if (text == nullptr || *text == '\0') return absl::OkStatus();
  double seconds = 0;
  if (!absl::SimpleAtod(text, &seconds) || !std::isfinite(seconds) || seconds <= 0 || seconds > 7 * 24 * 3600.0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be a number of seconds > 0 and at most a week, got \"", text, "\""));
  }
  *out = absl::Seconds(seconds);
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadNcclTimeouts(const std::function<const char*(const char*)>& getenv, NcclTimeouts* timeouts) {
  absl::Status init = ReadSeconds(getenv, "ALIGN_NCCL_INIT_TIMEOUT_S", &timeouts->init);
  if (!init.ok()) return init;
  return ReadSeconds(getenv, "ALIGN_NCCL_TIMEOUT_S", &timeouts->collective);
}

}  // namespace align::engine
