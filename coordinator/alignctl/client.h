#pragma once
// How alignctl reaches the coordinator: the global options (--coordinator,
// --token-file, --tls-ca, --timeout, with ALIGN_COORDINATOR and
// ALIGN_TOKEN_FILE as fallbacks), the channel, per-call contexts carrying the
// bearer token, and error messages that say what to fix.

#include <memory>
#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "align/v1/job_service.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace align::alignctl {

// Exit status when the coordinator refused, failed or could not be reached,
// and when `wait`/`watch` saw a job end other than succeeded.
inline constexpr int kExitFailure = 1;

struct ClientOptions {
  std::string coordinator = "localhost:50051";
  std::string token_file;
  std::string tls_ca;  // PEM roots: connect with TLS
  double timeout_s = 30;
};

// Registers the global options on `app` (they may also follow a subcommand).
std::shared_ptr<ClientOptions> AddClientOptions(CLI::App& app);

class CoordinatorClient {
 public:
  // Reads the token file and builds the channel; connecting happens on the
  // first call. Errors name the option at fault.
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Create(const ClientOptions& options);

  v1::JobService::Stub& jobs() { return *jobs_; }
  // A context with the token and, for unary calls, the --timeout deadline.
  std::unique_ptr<grpc::ClientContext> NewContext(bool unary) const;
  const std::string& address() const { return options_.coordinator; }

  // Writes "alignctl <command>: <what went wrong and what to check>" to `err`
  // and returns the exit status for it.
  int ReportError(const std::string& command, const grpc::Status& status, std::ostream& err) const;

 private:
  CoordinatorClient(ClientOptions options, std::string token, std::unique_ptr<v1::JobService::Stub> jobs)
      : options_(std::move(options)), token_(std::move(token)), jobs_(std::move(jobs)) {}

  ClientOptions options_;
  std::string token_;  // empty: no authorization metadata
  std::unique_ptr<v1::JobService::Stub> jobs_;
};

// Creates the client or reports why not (exit status in `*exit_code`).
std::unique_ptr<CoordinatorClient> ConnectOrReport(const ClientOptions& options, const std::string& command,
                                                   std::ostream& err, int* exit_code);

}  // namespace align::alignctl
