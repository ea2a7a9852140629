#pragma once
// Bearer-token checks for every RPC: `authorization: Bearer <token>` metadata
// with a token of the role the service needs (client: JobService, worker:
// WorkerService; an admin token passes as a client). Missing or unknown tokens
// are UNAUTHENTICATED; a known token of the other role is PERMISSION_DENIED.
// Handlers check before touching anything, so a rejected call changes nothing.
// A passing call's Requester names the token: its name from the token file,
// else "client:" and the first 12 hex digits of the token's SHA-256 (stable,
// and telling nothing of the token).

#include <optional>

#include "common/auth/token_file.h"
#include "coordinator/core/requester.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"

namespace align::coordinator {

class Authenticator {
 public:
  // --insecure-no-auth: every call passes.
  static Authenticator AllowAll() { return Authenticator(std::nullopt); }
  explicit Authenticator(std::optional<auth::TokenSet> tokens) : tokens_(std::move(tokens)) {}

  // --insecure-no-auth: every caller is the same anonymous admin.
  grpc::Status Check(const grpc::ServerContext& context, auth::Role role, Requester* requester = nullptr) const;
  bool enabled() const { return tokens_.has_value(); }

 private:
  std::optional<auth::TokenSet> tokens_;
};

}  // namespace align::coordinator
