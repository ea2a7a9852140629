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

std::string RoleName(Role role) {
  switch (role) {
    case Role::kClient:
      return "client";
    case Role::kWorker:
      return "worker";
    case Role::kAdmin:
      return "admin";
  }
  return "client";
}

bool IsValidTokenName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '@' && c != '-') {
      return false;
    }
  }
  return true;
}

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
      } else if (role == "admin") {
        token.role = Role::kAdmin;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": unknown role \"", role, "\" (expected client:<token>, admin:<token> or worker:<token>)"));
      }
      secret = line.substr(colon + 1);
      if (const size_t second = secret.find(':'); second != absl::string_view::npos) {
        const absl::string_view name = secret.substr(0, second);
        if (!IsValidTokenName(name)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": a token name (role:name:token) is 1 to 64 of A-Z a-z 0-9 . _ @ -"));
        }
        token.name = std::string(name);
        secret = secret.substr(second + 1);
      }
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
  if (role == Role::kClient) {
    for (const Token& token : tokens) {
      if (!token.bare && token.role == Role::kAdmin) return token.secret;
    }
  }
  for (const Token& token : tokens) {
    if (token.bare) return token.secret;
  }
  return absl::NotFoundError(
      absl::StrCat(what, " has no ", RoleName(role), ":<token> line and no bare token line"));
}

const Token* TokenSet::Lookup(absl::string_view presented) const {
  const Token* found = nullptr;
  for (const Token& token : tokens_) {
    // Every byte of every token is compared so that timing does not reveal
    // how long a matching prefix is.
    unsigned char diff = token.secret.size() == presented.size() ? 0 : 1;
    for (size_t i = 0; i < token.secret.size(); ++i) {
      diff |= static_cast<unsigned char>(token.secret[i]) ^
              static_cast<unsigned char>(i < presented.size() ? presented[i] : 0);
    }
    if (diff == 0 && found == nullptr) found = &token;
  }
  return found;
}

}  // namespace align::auth
