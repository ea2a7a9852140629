#pragma once
// Bearer-token files shared by align-coordinator (which tokens it accepts),
// alignctl and align-worker (which token they send). One token a line:
//   client:<token>   may use JobService (alignctl)
//   worker:<token>   may use WorkerService (align-worker)
//   <token>          a bare token: a client token
// Blank lines and lines starting with '#' are ignored. docs/operations.md has
// the format; error messages never repeat a token.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace align::auth {

enum class Role { kClient, kWorker };

std::string RoleName(Role role);

struct Token {
  Role role = Role::kClient;
  std::string secret;
  bool bare = false;  // written without a role prefix
};

// Tokens must be 8 to 4096 printable ASCII characters without spaces or ':'
// (they travel in an HTTP/2 header). `what` names the file in errors.
absl::StatusOr<std::vector<Token>> ParseTokenFile(absl::string_view text, const std::string& what);
absl::StatusOr<std::vector<Token>> LoadTokenFile(const std::string& path);

// The token a program acting as `role` sends: the first line with that role,
// else the first bare line. NotFound when there is neither.
absl::StatusOr<std::string> TokenForRole(const std::vector<Token>& tokens, Role role, const std::string& what);

// The server side: which role, if any, a presented token has. Comparison
// takes the same time wherever the tokens differ.
class TokenSet {
 public:
  explicit TokenSet(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}
  std::optional<Role> Lookup(absl::string_view presented) const;
  size_t size() const { return tokens_.size(); }

 private:
  std::vector<Token> tokens_;
};

}  // namespace align::auth
