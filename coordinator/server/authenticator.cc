#include "coordinator/server/authenticator.h"

#include <openssl/sha.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace align::coordinator {

namespace {

std::string AnonymousName(const auth::Token& token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.secret.data()), token.secret.size(), digest);
  std::string hex;
  for (int i = 0; i < 6; ++i) absl::StrAppend(&hex, absl::Hex(digest[i], absl::kZeroPad2));
  return absl::StrCat(auth::RoleName(token.role), ":", hex);
}

}  // namespace

grpc::Status Authenticator::Check(const grpc::ServerContext& context, auth::Role role, Requester* requester) const {
  if (!tokens_.has_value()) {
    if (requester != nullptr) *requester = Requester{"", /*admin=*/true};
    return grpc::Status::OK;
  }
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing credentials: send \"authorization: Bearer <token>\" (alignctl --token-file)");
  }
  absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() || !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "malformed authorization metadata: expected \"Bearer <token>\"");
  }
  const auth::Token* found = tokens_->Lookup(absl::StripAsciiWhitespace(value.substr(kScheme.size())));
  if (found == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token");
  }
  const bool serves = found->role == role || (role == auth::Role::kClient && found->role == auth::Role::kAdmin);
  if (!serves) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("a ", auth::RoleName(found->role), " token cannot use this service (it needs a ",
                                     auth::RoleName(role), " token)"));
  }
  if (requester != nullptr) {
    *requester = Requester{found->name.empty() ? AnonymousName(*found) : found->name,
                           found->role == auth::Role::kAdmin};
  }
  return grpc::Status::OK;
}

}  // namespace align::coordinator
