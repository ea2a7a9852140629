#include "worker/engine/collective_watchdog.h"

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::engine {
namespace {

using ::testing::HasSubstr;

// Waits (bounded) until `done` holds.
template <typename Predicate>
bool Eventually(Predicate done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

struct AbortLog {
  std::mutex mu;
  std::vector<std::string> reasons;
  void Add(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    reasons.push_back(why);
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return reasons.size();
  }
};

TEST(CollectiveWatchdogTest, FinishedOperationsAreForgottenWithoutAnAbort) {
  AbortLog aborts;
  CollectiveWatchdog watchdog(absl::Seconds(5), [&](const std::string& why) { aborts.Add(why); },
                              absl::Milliseconds(1));
  std::atomic<bool> first_done{false};
  watchdog.Watch("ncclAllReduce of 8 elements", [&] {
    return first_done ? AsyncPoll{AsyncState::kDone, ""} : AsyncPoll{AsyncState::kPending, ""};
  });
  watchdog.Watch("ncclBroadcast of 4 elements", [] { return AsyncPoll{AsyncState::kDone, ""}; });
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(watchdog.pending(), 2u);  // in order: the second waits behind the first
  first_done = true;
  EXPECT_TRUE(Eventually([&] { return watchdog.pending() == 0; }));
  EXPECT_EQ(aborts.size(), 0u);
  EXPECT_EQ(watchdog.abort_reason(), "");
}

TEST(CollectiveWatchdogTest, AStuckOperationAbortsOnceAtItsDeadline) {
  AbortLog aborts;
  CollectiveWatchdog watchdog(absl::Milliseconds(50), [&](const std::string& why) { aborts.Add(why); },
                              absl::Milliseconds(1));
  const absl::Time start = absl::Now();
  watchdog.Watch("ncclAllReduce of 1024 elements", [] { return AsyncPoll{AsyncState::kPending, ""}; });
  ASSERT_TRUE(Eventually([&] { return aborts.size() == 1; }));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_THAT(watchdog.abort_reason(), HasSubstr("ncclAllReduce of 1024 elements did not finish within 50ms"));
  // Later operations are not watched again: the communicator is gone.
  watchdog.Watch("ncclAllReduce of 2 elements", [] { return AsyncPoll{AsyncState::kPending, ""}; });
  absl::SleepFor(absl::Milliseconds(120));
  EXPECT_EQ(aborts.size(), 1u);
}

TEST(CollectiveWatchdogTest, AFailureReportedByThePollAbortsAtOnce) {
  AbortLog aborts;
  CollectiveWatchdog watchdog(absl::Hours(1), [&](const std::string& why) { aborts.Add(why); },
                              absl::Milliseconds(1));
  watchdog.Watch("ncclAllReduce of 8 elements", [] { return AsyncPoll{AsyncState::kFailed, "remote process exited"}; });
  ASSERT_TRUE(Eventually([&] { return aborts.size() == 1; }));
  EXPECT_EQ(watchdog.abort_reason(), "ncclAllReduce of 8 elements failed: remote process exited");
}

}  // namespace
}  // namespace align::engine
