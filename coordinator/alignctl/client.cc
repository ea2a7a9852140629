#include "coordinator/alignctl/client.h"

#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/auth/token_file.h"
#include "common/file_util.h"
#include "coordinator/alignctl/subcommand.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace align::alignctl {

std::shared_ptr<ClientOptions> AddClientOptions(CLI::App& app) {
  auto options = std::make_shared<ClientOptions>();
  app.add_option("--coordinator", options->coordinator, "Coordinator address, host:port")
      ->envname("ALIGN_COORDINATOR")
      ->capture_default_str();
  app.add_option("--token-file", options->token_file,
                 "Token file; the first client:<token> (or bare token) line is sent")
      ->envname("ALIGN_TOKEN_FILE");
  app.add_option("--tls-ca", options->tls_ca, "PEM CA certificates: connect with TLS, trusting these");
  app.add_option("--timeout", options->timeout_s, "Seconds to wait for each answer (not for watch/wait)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  // Global options may come after the subcommand too: alignctl status ID --coordinator X.
  app.fallthrough();
  return options;
}

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Create(const ClientOptions& options) {
  std::string token;
  if (!options.token_file.empty()) {
    absl::StatusOr<std::vector<auth::Token>> tokens = auth::LoadTokenFile(options.token_file);
    if (!tokens.ok()) return absl::InvalidArgumentError(absl::StrCat("--token-file: ", tokens.status().message()));
    absl::StatusOr<std::string> chosen = auth::TokenForRole(*tokens, auth::Role::kClient, options.token_file);
    if (!chosen.ok()) return absl::InvalidArgumentError(absl::StrCat("--token-file: ", chosen.status().message()));
    token = *std::move(chosen);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!options.tls_ca.empty()) {
    absl::StatusOr<std::string> roots = ReadFileToString(options.tls_ca);
    if (!roots.ok()) return absl::InvalidArgumentError(absl::StrCat("--tls-ca: ", roots.status().message()));
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *roots;
    credentials = grpc::SslCredentials(ssl);
  }
  std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(options.coordinator, credentials);
  return std::unique_ptr<CoordinatorClient>(
      new CoordinatorClient(options, std::move(token), v1::JobService::NewStub(channel)));
}

std::unique_ptr<grpc::ClientContext> CoordinatorClient::NewContext(bool unary) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!token_.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  if (unary) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_s * 1000)));
  }
  return context;
}

int CoordinatorClient::ReportError(const std::string& command, const grpc::Status& status, std::ostream& err) const {
  err << "alignctl " << command << ": ";
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      err << "cannot reach the coordinator at " << address() << " (" << status.error_message()
          << "); is align-coordinator running there? (--coordinator or ALIGN_COORDINATOR)\n";
      return kExitFailure;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      err << "no answer from the coordinator at " << address() << " within " << options_.timeout_s
          << " s (--timeout)\n";
      return kExitFailure;
    case grpc::StatusCode::UNAUTHENTICATED:
      err << "the coordinator at " << address() << " did not accept our credentials: " << status.error_message()
          << (token_.empty() ? " (no token sent: give --token-file or set ALIGN_TOKEN_FILE)"
                             : " (check the client:<token> line of --token-file / ALIGN_TOKEN_FILE)")
          << "\n";
      return kExitFailure;
    case grpc::StatusCode::PERMISSION_DENIED:
      err << status.error_message();
      if (status.error_message().find("cannot use this service") != std::string::npos) {
        err << " (--token-file needs a client:<token> line)";
      }
      err << "\n";
      return kExitFailure;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
      err << status.error_message() << "\n";
      return kExitUsage;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      if (status.error_message().find("larger than max") != std::string::npos) {
        err << "the request is larger than the coordinator at " << address()
            << " accepts (its --max-message-bytes): " << status.error_message() << "\n";
        return kExitUsage;
      }
      err << status.error_message() << "\n";
      return kExitFailure;
    default:
      err << status.error_message() << "\n";
      return kExitFailure;
  }
}

std::unique_ptr<CoordinatorClient> ConnectOrReport(const ClientOptions& options, const std::string& command,
                                                   std::ostream& err, int* exit_code) {
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> client = CoordinatorClient::Create(options);
  if (!client.ok()) {
    err << "alignctl " << command << ": " << client.status().message() << "\n";
    *exit_code = kExitUsage;
    return nullptr;
  }
  return *std::move(client);
}

}  // namespace align::alignctl
