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
  auto role = ParseTokenFile("operator:supersecret123\n", "tokens");
  EXPECT_EQ(role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(role.status().message()), HasSubstr("tokens line 1: unknown role \"operator\""));
  auto name = ParseTokenFile("client:al ice:supersecret123\n", "tokens");
  EXPECT_THAT(std::string(name.status().message()), HasSubstr("tokens line 1: a token name"));
  EXPECT_THAT(std::string(name.status().message()), Not(HasSubstr("supersecret")));
  EXPECT_THAT(std::string(role.status().message()), Not(HasSubstr("supersecret")));

  auto short_token = ParseTokenFile("# c\nclient:short\n", "f");
  EXPECT_THAT(std::string(short_token.status().message()), HasSubstr("f line 2: a token must be 8 to"));
  auto spaces = ParseTokenFile("client:has a space\n", "f");
  EXPECT_EQ(spaces.status().code(), absl::StatusCode::kInvalidArgument);
  auto empty = ParseTokenFile("# nothing\n\n", "f");
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("no tokens"));
  EXPECT_EQ(LoadTokenFile("/nonexistent/tokens").status().code(), absl::StatusCode::kNotFound);
}

TEST(TokenFileTest, NamesAndAdminTokens) {
  auto tokens = ParseTokenFile("client:alice:alice-secret-1\nadmin:ops@site:admin-secret-1\nclient:anon-secret-1\n", "f");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ((*tokens)[0].name, "alice");
  EXPECT_EQ((*tokens)[0].secret, "alice-secret-1");
  EXPECT_EQ((*tokens)[1].role, Role::kAdmin);
  EXPECT_EQ((*tokens)[1].name, "ops@site");
  EXPECT_EQ((*tokens)[2].name, "");
  // A client program uses an admin line when there is no client line.
  auto admin_only = ParseTokenFile("worker:worker-token-1\nadmin:admin-secret-1\n", "f");
  EXPECT_EQ(*TokenForRole(*admin_only, Role::kClient, "f"), "admin-secret-1");
  EXPECT_EQ(TokenForRole(*admin_only, Role::kWorker, "f").value(), "worker-token-1");
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
  ASSERT_NE(set.Lookup("client-token-1"), nullptr);
  EXPECT_EQ(set.Lookup("client-token-1")->role, Role::kClient);
  ASSERT_NE(set.Lookup("worker-token-1"), nullptr);
  EXPECT_EQ(set.Lookup("worker-token-1")->role, Role::kWorker);
  EXPECT_EQ(set.Lookup("client-token-"), nullptr);
  EXPECT_EQ(set.Lookup("client-token-12"), nullptr);
  EXPECT_EQ(set.Lookup(""), nullptr);
}

}  // namespace
}  // namespace align::auth
