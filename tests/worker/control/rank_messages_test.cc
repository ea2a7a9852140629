// The typed messages a worker group's ranks agree with over MPI
// (worker/control/rank_messages.h): each round-trips through its
// Encode/Decode pair, any bytes in its text included, and a malformed
// message is an error, never misread.

#include "worker/control/rank_messages.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::control {
namespace {

using ::testing::HasSubstr;

TEST(JoinVerdict, RoundTripsEveryKind) {
  for (JoinVerdict::Kind kind : {JoinVerdict::Kind::kJoined, JoinVerdict::Kind::kRetry, JoinVerdict::Kind::kRefused}) {
    const JoinVerdict sent{kind, std::string("group-7: it's \0 fine:ok:", 24)};
    absl::StatusOr<JoinVerdict> received = DecodeJoinVerdict(EncodeJoinVerdict(sent));
    ASSERT_TRUE(received.ok()) << received.status();
    EXPECT_EQ(received->kind, sent.kind);
    EXPECT_EQ(received->detail, sent.detail);
  }
}

TEST(JoinVerdict, DetailThatLooksLikeAnotherKindStaysDetail) {
  // A reason may start with what reads like a kind.
  absl::StatusOr<JoinVerdict> received =
      DecodeJoinVerdict(EncodeJoinVerdict({JoinVerdict::Kind::kRetry, "fatal: not really"}));
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->kind, JoinVerdict::Kind::kRetry);
  EXPECT_EQ(received->detail, "fatal: not really");
}

TEST(JoinVerdict, RetryAndRefusalMayHaveNoDetail) {
  absl::StatusOr<JoinVerdict> received = DecodeJoinVerdict(EncodeJoinVerdict({JoinVerdict::Kind::kRefused, ""}));
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->kind, JoinVerdict::Kind::kRefused);
  EXPECT_EQ(received->detail, "");
}

TEST(JoinVerdict, MalformedMessagesAreErrors) {
  absl::StatusOr<JoinVerdict> empty = DecodeJoinVerdict("");
  EXPECT_TRUE(absl::IsInvalidArgument(empty.status())) << empty.status();
  absl::StatusOr<JoinVerdict> unknown = DecodeJoinVerdict("ok:group-1");
  EXPECT_TRUE(absl::IsInvalidArgument(unknown.status())) << unknown.status();
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown kind"));
  // Joined names the group it joined.
  absl::StatusOr<JoinVerdict> no_group = DecodeJoinVerdict(EncodeJoinVerdict({JoinVerdict::Kind::kJoined, ""}));
  EXPECT_TRUE(absl::IsInvalidArgument(no_group.status())) << no_group.status();
}

TEST(RankFailure, RoundTripsCodeAndMessage) {
  const RankFailure sent{absl::StatusCode::kFailedPrecondition, "output has no complete checkpoint-4: a:b"};
  absl::StatusOr<RankFailure> received = DecodeRankFailure(EncodeRankFailure(sent));
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->code, sent.code);
  EXPECT_EQ(received->message, sent.message);
}

TEST(RankFailure, EmptyMessageRoundTrips) {
  absl::StatusOr<RankFailure> received = DecodeRankFailure(EncodeRankFailure({absl::StatusCode::kCancelled, ""}));
  ASSERT_TRUE(received.ok()) << received.status();
  EXPECT_EQ(received->code, absl::StatusCode::kCancelled);
  EXPECT_EQ(received->message, "");
}

TEST(RankFailure, MalformedMessagesAreErrors) {
  for (const char* bad : {"", "no colon", "x:message", "0:ok is no failure", "17:beyond the codes", "-3:negative"}) {
    absl::StatusOr<RankFailure> received = DecodeRankFailure(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(received.status())) << bad << ": " << received.status();
  }
}

}  // namespace
}  // namespace align::control
