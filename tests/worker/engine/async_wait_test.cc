#include "worker/engine/async_wait.h"

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::engine {
namespace {

using ::testing::HasSubstr;

TEST(WaitUntilDoneTest, PollsUntilDoneOrFailed) {
  int polls = 0;
  EXPECT_TRUE(WaitUntilDone(
                  [&] {
                    return ++polls < 3 ? AsyncPoll{AsyncState::kPending, ""} : AsyncPoll{AsyncState::kDone, ""};
                  },
                  absl::Seconds(10), "init")
                  .ok());
  EXPECT_EQ(polls, 3);
  const absl::Status failed =
      WaitUntilDone([] { return AsyncPoll{AsyncState::kFailed, "unhandled system error"}; }, absl::Seconds(10), "init");
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failed.message(), "init: unhandled system error");
}

TEST(WaitUntilDoneTest, GivesUpAtTheDeadline) {
  const absl::Time start = absl::Now();
  const absl::Status late = WaitUntilDone([] { return AsyncPoll{AsyncState::kPending, ""}; }, absl::Milliseconds(50),
                                          "ncclCommInitRankConfig");
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(late.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late.message(), "ncclCommInitRankConfig did not finish within 50ms");
}

TEST(AgreeOnOutcomeTest, EveryRankLearnsWhichRanksFailed) {
  const absl::Status own = absl::UnavailableError("ncclCommInitRankConfig: remote process exited");
  // Rank 2 failed: it keeps its own error, the others name it.
  EXPECT_EQ(AgreeOnOutcome({0, 0, 1, 0}, 2, own, "creating the NCCL communicator"), own);
  const absl::Status other = AgreeOnOutcome({0, 0, 1, 1}, 0, absl::OkStatus(), "creating the NCCL communicator");
  EXPECT_EQ(other.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(other.message(), "creating the NCCL communicator failed on rank 2, 3");
  EXPECT_TRUE(AgreeOnOutcome({0, 0, 0, 0}, 1, absl::OkStatus(), "x").ok());
}

TEST(ReadNcclTimeoutsTest, DefaultsAndEnvironment) {
  std::map<std::string, std::string> env;
  auto getenv = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  NcclTimeouts timeouts;
  ASSERT_TRUE(ReadNcclTimeouts(getenv, &timeouts).ok());
  EXPECT_EQ(timeouts.init, absl::Minutes(5));
  EXPECT_EQ(timeouts.collective, absl::Minutes(30));
  env["ALIGN_NCCL_INIT_TIMEOUT_S"] = "20";
  env["ALIGN_NCCL_TIMEOUT_S"] = "90.5";
  ASSERT_TRUE(ReadNcclTimeouts(getenv, &timeouts).ok());
  EXPECT_EQ(timeouts.init, absl::Seconds(20));
  EXPECT_EQ(timeouts.collective, absl::Seconds(90.5));
  for (const char* bad : {"0", "-3", "nan", "ten", "1e9"}) {
    env["ALIGN_NCCL_TIMEOUT_S"] = bad;
    const absl::Status status = ReadNcclTimeouts(getenv, &timeouts);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr("ALIGN_NCCL_TIMEOUT_S")) << bad;
  }
}

}  // namespace
}  // namespace align::engine
