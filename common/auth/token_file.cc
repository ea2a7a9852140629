#include "common/auth/token_file.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace align::auth {

std::string RoleName(Role role) { return role == Role::kWorker ? "worker" : "client"; }

namespace {

constexpr size_t kMinTokenLength = 8;
constexpr size_t kMaxTokenLength = 4096;

bool IsTokenChar(char c) { return c > ' ' && c < 0x7f && c != ':'; }

}  // namespace

absl::StatusOr<std::vector<Token>> ParseTokenFile(absl::string_view text, const std::string& what) {
  std::vector<Token> tokens;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#') continue;
    const std::string where = absl::StrCat(what, " line ", line_number);
    Token token;
    absl::string_view secret = line;
    if (const size_t colon = line.find(':'); colon != absl::string_view::npos) {
      const absl::string_view role = line.substr(0, colon);
      if (role == "client") {
        token.role = Role::kClient;
      } else if (role == "worker") {
        token.role = Role::kWorker;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": unknown role \"", role, "\" (expected client:<token> or worker:<token>)"));
      }
      secret = line.substr(colon + 1);
    } else {
      token.bare = true;
    }
    if (secret.size() < kMinTokenLength || secret.size() > kMaxTokenLength) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": a token must be ", kMinTokenLength, " to ",
                                                     kMaxTokenLength, " characters, this one has ",
                                                     secret.size()));
    }
    for (char c : secret) {
      if (!IsTokenChar(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": a token may only hold printable ASCII without spaces or ':'"));
      }
    }
    token.secret = std::string(secret);
    tokens.push_back(std::move(token));
  }
  if (tokens.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no tokens"));
  return tokens;
}

absl::StatusOr<std::vector<Token>> LoadTokenFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseTokenFile(text, path);
}

absl::StatusOr<std::string> TokenForRole(const std::vector<Token>& tokens, Role role, const std::string& what) {
  for (const Token& token : tokens) {
    if (!token.bare && token.role == role) return token.secret;
  }
  for (const Token& token : tokens) {
    if (token.bare) return token.secret;
  }
  return absl::NotFoundError(
      absl::StrCat(what, " has no ", RoleName(role), ":<token> line and no bare token line"));
}

std::optional<Role> TokenSet::Lookup(absl::string_view presented) const {
  std::optional<Role> found;
  for (const Token& token : tokens_) {
    // Every byte of every token is compared so that timing does not reveal
    // how long a matching prefix is.
    unsigned char diff = token.secret.size() == presented.size() ? 0 : 1;
    for (size_t i = 0; i < token.secret.size(); ++i) {
      diff |= static_cast<unsigned char>(token.secret[i]) ^
              static_cast<unsigned char>(i < presented.size() ? presented[i] : 0);
    }
    if (diff == 0 && !found.has_value()) found = token.role;
  }
  return found;
}

}  // namespace align::auth
