#pragma once
// Bearer-token files shared by align-coordinator (which tokens it accepts),
// alignctl and align-worker (which token they send). One token a line:
//   client:<token>   may use JobService (alignctl), and cancel the jobs it submitted
//   admin:<token>    a client token that may cancel any job
//   worker:<token>   may use WorkerService (align-worker)
//   <token>          a bare token: a client token
// A role may be followed by a name, `client:alice:<token>`: the jobs a client
// token submits are recorded as that name's (the owner). Blank lines and lines
// starting with '#' are ignored. docs/operations.md has the format; error
// messages never repeat a token.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace align::auth {

enum class Role { kClient, kWorker, kAdmin };

std::string RoleName(Role role);

struct Token {
  Role role = Role::kClient;
  std::string name;  // empty when the line names none
  std::string secret;
  bool bare = false;  // written without a role prefix
};

// Names are 1 to 64 of [A-Za-z0-9._@-].
bool IsValidTokenName(absl::string_view name);

// Tokens must be 8 to 4096 printable ASCII characters without spaces or ':'
// (they travel in an HTTP/2 header). `what` names the file in errors.
absl::StatusOr<std::vector<Token>> ParseTokenFile(absl::string_view text, const std::string& what);
absl::StatusOr<std::vector<Token>> LoadTokenFile(const std::string& path);

// The token a program acting as `role` sends: the first line with that role
// (for kClient: a client line, else an admin line), else the first bare line.
// NotFound when there is none.
absl::StatusOr<std::string> TokenForRole(const std::vector<Token>& tokens, Role role, const std::string& what);

// The server side: which role, if any, a presented token has. Comparison
// takes the same time wherever the tokens differ.
class TokenSet {
 public:
  explicit TokenSet(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}
  // The token presented, or null.
  const Token* Lookup(absl::string_view presented) const;
  size_t size() const { return tokens_.size(); }

 private:
  std::vector<Token> tokens_;
};

}  // namespace align::auth
