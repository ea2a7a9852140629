#include "coordinator/server/authenticator.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace align::coordinator {

grpc::Status Authenticator::Check(const grpc::ServerContext& context, auth::Role role) const {
  if (!tokens_.has_value()) return grpc::Status::OK;
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
  const std::optional<auth::Role> found = tokens_->Lookup(absl::StripAsciiWhitespace(value.substr(kScheme.size())));
  if (!found.has_value()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token");
  }
  if (*found != role) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("a ", auth::RoleName(*found), " token cannot use this service (it needs a ",
                                     auth::RoleName(role), " token)"));
  }
  return grpc::Status::OK;
}

}  // namespace align::coordinator
