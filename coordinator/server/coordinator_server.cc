#include "coordinator/server/coordinator_server.h"

#include <sys/stat.h>

#include <chrono>
#include <exception>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/auth/token_file.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "coordinator/core/log.h"
#include "coordinator/server/authenticator.h"
#include "coordinator/server/job_service.h"
#include "coordinator/server/listen_address.h"
#include "coordinator/server/state_dir_lock.h"
#include "coordinator/server/state_file_modes.h"
#include "coordinator/server/tls_key_pair.h"
#include "coordinator/server/worker_service.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "prometheus/exposer.h"

namespace align::coordinator {

namespace {

absl::StatusOr<Authenticator> MakeAuthenticator(const CoordinatorOptions& options) {
  if (options.insecure_no_auth == !options.token_file.empty()) {
    return absl::InvalidArgumentError("give exactly one of --token-file F and --insecure-no-auth");
  }
  if (options.insecure_no_auth) {
    LogLine("WARNING: --insecure-no-auth: every caller may submit, cancel and impersonate workers");
    return Authenticator::AllowAll();
  }
  absl::StatusOr<std::vector<auth::Token>> tokens = auth::LoadTokenFile(options.token_file);
  if (!tokens.ok()) return absl::InvalidArgumentError(absl::StrCat("--token-file: ", tokens.status().message()));
  struct stat info {};
  if (::stat(options.token_file.c_str(), &info) == 0 && (info.st_mode & 077) != 0) {
    LogLine(absl::StrCat("WARNING: ", options.token_file, " is readable by other users (chmod 600 it)"));
  }
  return Authenticator(auth::TokenSet(std::move(*tokens)));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(const CoordinatorOptions& options) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  if (options.tls_cert.empty()) return grpc::InsecureServerCredentials();
  absl::StatusOr<std::string> cert = ReadFileToString(options.tls_cert);
  if (!cert.ok()) return absl::InvalidArgumentError(absl::StrCat("--tls-cert: ", cert.status().message()));
  absl::StatusOr<std::string> key = ReadFileToString(options.tls_key);
  if (!key.ok()) return absl::InvalidArgumentError(absl::StrCat("--tls-key: ", key.status().message()));
  if (absl::Status pair = CheckTlsKeyPair(*cert, options.tls_cert, *key, options.tls_key); !pair.ok()) return pair;
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(ssl);
}

// "host:port" with the port the server actually bound (for port 0).
std::string BoundAddress(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  const std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(const CoordinatorOptions& options) {
  if (options.state_dir.empty()) return absl::InvalidArgumentError("--state is required");
  ASSIGN_OR_RETURN(const std::string listen, NormalizeListenAddress("--listen", options.listen));
  std::string metrics_listen;
  if (!options.metrics_listen.empty()) {
    ASSIGN_OR_RETURN(metrics_listen, NormalizeListenAddress("--metrics-listen", options.metrics_listen));
  }
  if (options.max_watch_streams < 1) {
    return absl::InvalidArgumentError("--max-watch-streams: must be at least 1");
  }
  ASSIGN_OR_RETURN(Authenticator authenticator, MakeAuthenticator(options));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, MakeCredentials(options));

  RETURN_IF_ERROR(PrepareStateFiles(options.state_dir));
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  ASSIGN_OR_RETURN(server->lock_, StateDirLock::Acquire(options.state_dir));
  absl::StatusOr<std::unique_ptr<JobStore>> store =
      JobStore::Open(absl::StrCat(options.state_dir, "/", kStateDatabaseName));
  if (!store.ok()) return absl::Status(store.status().code(), absl::StrCat("--state: ", store.status().message()));
  server->store_ = std::move(*store);

  JobStore* store_ptr = server->store_.get();
  server->registry_ =
      std::make_unique<WorkerRegistry>(options.worker_lease, [store_ptr] { return store_ptr->NowMs(); });
  server->metrics_ = std::make_unique<CoordinatorMetrics>(server->store_.get());
  server->training_metrics_ = std::make_unique<TrainingMetrics>(server->metrics_->registry());
  SchedulerOptions scheduler_options = options.scheduler;
  scheduler_options.check_released_paths = scheduler_options.check_released_paths && options.check_spec_paths;
  server->scheduler_ = std::make_unique<Scheduler>(server->store_.get(), server->registry_.get(),
                                                   server->training_metrics_.get(), scheduler_options);
  // Jobs a previous process left running have no group any more.
  if (absl::Status recovered = server->scheduler_->RecoverAfterRestart(); !recovered.ok()) {
    return absl::Status(recovered.code(), absl::StrCat("--state: ", recovered.message()));
  }

  JobManagerOptions manager_options;
  manager_options.spec_check.check_paths = options.check_spec_paths;
  Scheduler* scheduler = server->scheduler_.get();
  manager_options.on_submitted = [scheduler](const JobRecord&) { scheduler->JobSubmitted(); };
  manager_options.on_cancelled = [scheduler](const JobRecord& job) { scheduler->JobCancelled(job); };
  server->manager_ = std::make_unique<JobManager>(server->store_.get(), manager_options);
  server->authenticator_ = std::make_unique<Authenticator>(std::move(authenticator));
  const ServiceEnv env{server->authenticator_.get(), server->metrics_.get()};
  server->job_service_ = std::make_unique<JobServiceImpl>(server->manager_.get(), env, options.max_watch_streams);
  server->worker_service_ =
      std::make_unique<WorkerServiceImpl>(server->registry_.get(), server->scheduler_.get(), env);

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, credentials, &port);
  // gRPC sets SO_REUSEPORT by default: a second coordinator could then bind the same address
  // and the kernel would split clients between two job queues. Binding alone makes it fail.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Larger messages are refused with RESOURCE_EXHAUSTED before a handler runs.
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.RegisterService(server->job_service_.get());
  builder.RegisterService(server->worker_service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrCat("--listen: cannot listen on ", listen,
                                               " (address in use, or not a host:port this machine has?)"));
  }
  server->port_ = port;
  server->address_ = BoundAddress(listen, port);
  server->scheduler_->Start();
  LogLine(absl::StrCat("listening on ", server->address_, options.tls_cert.empty() ? "" : " (TLS)",
                       server->authenticator_->enabled() ? "" : " without authentication", "; state in ",
                       options.state_dir));

  if (!metrics_listen.empty()) {
    try {
      server->exposer_ = std::make_unique<prometheus::Exposer>(metrics_listen);
      for (const auto& collectable : server->metrics_->collectables()) server->exposer_->RegisterCollectable(collectable);
      const std::vector<int> ports = server->exposer_->GetListeningPorts();
      server->metrics_port_ = ports.empty() ? 0 : ports.front();
      LogLine(absl::StrCat("metrics on http://", BoundAddress(metrics_listen, server->metrics_port_),
                           "/metrics"));
    } catch (const std::exception& e) {
      server->exposer_.reset();
      LogLine(absl::StrCat("WARNING: cannot serve metrics on ", metrics_listen, ": ", e.what(),
                           "; serving jobs without /metrics"));
    }
  }
  return server;
}

void CoordinatorServer::Shutdown(absl::Duration grace) {
  if (shut_down_) return;
  shut_down_ = true;
  manager_->Shutdown();  // watch streams return at once instead of at the deadline
  // Worker sessions end at once too; their running jobs go back to the queue.
  scheduler_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  server_->Wait();
  exposer_.reset();
  LogLine("stopped");
}

CoordinatorServer::~CoordinatorServer() {
  if (server_ != nullptr) Shutdown(absl::ZeroDuration());
  if (scheduler_ != nullptr) scheduler_->Stop();
}

}  // namespace align::coordinator
