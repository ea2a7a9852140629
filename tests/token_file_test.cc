// Bearer-token files (common/auth): the format, which token a client or
// worker sends, and the server-side lookup.

#include "common/auth/token_file.h"

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::auth {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(TokenFileTest, ParsesRolesCommentsAndBareTokens) {
  auto tokens = ParseTokenFile(
      "# operators\n\nclient:alice-0123456789\r\n  worker:gpu-pool-secret  \nbare-token-xyz\n", "tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0].role, Role::kClient);
  EXPECT_EQ((*tokens)[0].secret, "alice-0123456789");
  EXPECT_EQ((*tokens)[1].role, Role::kWorker);
  EXPECT_EQ((*tokens)[1].secret, "gpu-pool-secret");
  EXPECT_TRUE((*tokens)[2].bare);
  EXPECT_EQ((*tokens)[2].role, Role::kClient);
}

TEST(TokenFileTest, RejectsBadLinesWithoutEchoingTheToken) {
  auto role = ParseTokenFile("admin:supersecret123\n", "tokens");
  EXPECT_EQ(role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(role.status().message()), HasSubstr("tokens line 1: unknown role \"admin\""));
  EXPECT_THAT(std::string(role.status().message()), Not(HasSubstr("supersecret")));

  auto short_token = ParseTokenFile("# c\nclient:short\n", "f");
  EXPECT_THAT(std::string(short_token.status().message()), HasSubstr("f line 2: a token must be 8 to"));
  auto spaces = ParseTokenFile("client:has a space\n", "f");
  EXPECT_EQ(spaces.status().code(), absl::StatusCode::kInvalidArgument);
  auto empty = ParseTokenFile("# nothing\n\n", "f");
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("no tokens"));
  EXPECT_EQ(LoadTokenFile("/nonexistent/tokens").status().code(), absl::StatusCode::kNotFound);
}

TEST(TokenFileTest, PicksTheTokenForARole) {
  auto tokens = ParseTokenFile("worker:worker-token-1\nbare-token-1\nclient:client-token-1\n", "f");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(*TokenForRole(*tokens, Role::kClient, "f"), "client-token-1");
  EXPECT_EQ(*TokenForRole(*tokens, Role::kWorker, "f"), "worker-token-1");
  auto bare_only = ParseTokenFile("just-a-token\n", "f");
  EXPECT_EQ(*TokenForRole(*bare_only, Role::kWorker, "f"), "just-a-token");
  auto workers = ParseTokenFile("worker:worker-token-1\n", "f");
  EXPECT_EQ(TokenForRole(*workers, Role::kClient, "f").status().code(), absl::StatusCode::kNotFound);
}

TEST(TokenFileTest, TokenSetLooksUpExactTokens) {
  TokenSet set(*ParseTokenFile("client:client-token-1\nworker:worker-token-1\n", "f"));
  EXPECT_EQ(set.Lookup("client-token-1"), Role::kClient);
  EXPECT_EQ(set.Lookup("worker-token-1"), Role::kWorker);
  EXPECT_EQ(set.Lookup("client-token-"), std::nullopt);
  EXPECT_EQ(set.Lookup("client-token-12"), std::nullopt);
  EXPECT_EQ(set.Lookup(""), std::nullopt);
}

}  // namespace
}  // namespace align::auth
