// Store writes that a passing failure must not lose (coordinator/core/
// store_writes.h): one that fails for a reason that may pass is tried again,
// in the order the writes were made; one refused for good is not.

#include "coordinator/core/store_writes.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::coordinator {
namespace {

using ::testing::ElementsAre;

// A store whose writes fail while `down`, and that records those that land.
struct FlakyStore {
  StoreWrites::Write Append(const std::string& what) {
    return [this, what]() -> absl::Status {
      if (down) return absl::UnavailableError("database is locked");
      landed.push_back(what);
      return absl::OkStatus();
    };
  }
  bool down = false;
  std::vector<std::string> landed;
};

TEST(StoreWritesTest, AWriteThatFailsForAWhileLandsLaterInOrder) {
  StoreWrites writes;
  FlakyStore store;
  writes.Run("job-000001", "record progress", store.Append("progress"));
  EXPECT_THAT(store.landed, ElementsAre("progress"));  // at once when the store works

  store.down = true;
  writes.Run("job-000001", "make it interrupted", store.Append("interrupted"));
  EXPECT_EQ(writes.waiting(), 1u);
  store.down = false;
  // Behind the waiting one, although the store works again.
  writes.Run("job-000001", "requeue it", store.Append("requeued"));
  EXPECT_THAT(store.landed, ElementsAre("progress"));
  EXPECT_EQ(writes.waiting(), 2u);

  writes.Retry();
  EXPECT_THAT(store.landed, ElementsAre("progress", "interrupted", "requeued"));
  EXPECT_EQ(writes.waiting(), 0u);
}

TEST(StoreWritesTest, RetryStopsAtTheFirstWriteThatStillFails) {
  StoreWrites writes;
  FlakyStore store;
  store.down = true;
  writes.Run("job-000001", "a", store.Append("a"));
  writes.Run("job-000001", "b", store.Append("b"));
  writes.Retry();
  EXPECT_EQ(writes.waiting(), 2u);
  store.down = false;
  writes.Retry();
  EXPECT_THAT(store.landed, ElementsAre("a", "b"));
}

TEST(StoreWritesTest, AWriteRefusedForGoodIsNotTriedAgain) {
  StoreWrites writes;
  int tries = 0;
  writes.Run("job-000001", "make it succeeded", [&] {
    ++tries;
    return absl::FailedPreconditionError("job job-000001 is cancelled and cannot become succeeded");
  });
  EXPECT_EQ(writes.waiting(), 0u);
  writes.Retry();
  EXPECT_EQ(tries, 1);
}

TEST(StoreWritesTest, AWriteMadeByAWriteRunsAfterIt) {
  StoreWrites writes;
  FlakyStore store;
  store.down = true;
  writes.Run("worker group g", "interrupt its jobs", [&]() -> absl::Status {
    if (store.down) return absl::UnavailableError("database is locked");
    store.landed.push_back("interrupted");
    writes.Run("interrupted jobs", "requeue them", store.Append("requeued"));
    return absl::OkStatus();
  });
  store.down = false;
  writes.Retry();
  EXPECT_THAT(store.landed, ElementsAre("interrupted", "requeued"));
  EXPECT_EQ(writes.waiting(), 0u);
}

TEST(StoreWritesTest, AtMostTheLimitWaits) {
  StoreWrites writes(/*max_waiting=*/2);
  FlakyStore store;
  store.down = true;
  for (const char* what : {"a", "b", "c"}) writes.Run("job-000001", what, store.Append(what));
  EXPECT_EQ(writes.waiting(), 2u);
  store.down = false;
  writes.Retry();
  EXPECT_THAT(store.landed, ElementsAre("a", "b"));
}

TEST(StoreWritesTest, OnlyFailuresThatMayPassAreRetried) {
  EXPECT_TRUE(StoreWrites::MayPass(absl::UnavailableError("busy")));
  EXPECT_TRUE(StoreWrites::MayPass(absl::InternalError("disk I/O error")));
  EXPECT_FALSE(StoreWrites::MayPass(absl::FailedPreconditionError("job is cancelled")));
  EXPECT_FALSE(StoreWrites::MayPass(absl::NotFoundError("no job")));
  EXPECT_FALSE(StoreWrites::MayPass(absl::InvalidArgumentError("bad")));
}

}  // namespace
}  // namespace align::coordinator
