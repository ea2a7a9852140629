// align-coordinator: the job queue and job state behind alignctl and the
// worker groups. docs/operations.md describes running it.

#include <signal.h>

#include <iostream>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "coordinator/core/log.h"
#include "coordinator/server/coordinator_server.h"

namespace {

constexpr int kExitUsage = 2;

}  // namespace

int main(int argc, char** argv) {
  using align::coordinator::CoordinatorOptions;
  using align::coordinator::CoordinatorServer;
  CoordinatorOptions options;
  CLI::App app{"align-coordinator: job queue, job state and metrics for preference-alignment jobs"};
  app.add_option("--listen", options.listen,
                 "gRPC address: host:port, or a port alone for 127.0.0.1 (port 0: any free port)")
      ->required();
  app.add_option("--state", options.state_dir, "State directory (coordinator.db); created if missing")
      ->required();
  app.add_option("--metrics-listen", options.metrics_listen,
                 "Prometheus /metrics address: host:port, or a port alone for 127.0.0.1");
  auto* token_file = app.add_option("--token-file", options.token_file,
                                    "Accepted bearer tokens: client:<token> / worker:<token> lines");
  auto* insecure = app.add_flag("--insecure-no-auth", options.insecure_no_auth,
                                "Accept every caller (tests and single-user machines only)");
  token_file->excludes(insecure);
  app.add_option("--tls-cert", options.tls_cert, "PEM certificate chain: serve TLS");
  app.add_option("--tls-key", options.tls_key, "PEM private key for --tls-cert");
  app.add_option("--max-message-bytes", options.max_message_bytes, "Largest request or response")
      ->capture_default_str()
      ->check(CLI::Range(1024, 64 << 20));
  app.add_option("--max-watch-streams", options.max_watch_streams, "WatchJob streams served at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  std::string worker_timeout = "30s";
  app.add_option("--worker-timeout", worker_timeout,
                 "A worker group silent this long (e.g. 10s, 2m) is lost and its job requeued")
      ->capture_default_str();
  bool skip_path_checks = false;
  app.add_flag("--skip-path-checks", skip_path_checks,
               "Do not check model/dataset/output paths at submit (the coordinator does not see the workers' storage)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (options.token_file.empty() && !options.insecure_no_auth) {
    std::cerr << "align-coordinator: give --token-file F (see docs/operations.md) or --insecure-no-auth\n";
    return kExitUsage;
  }
  options.check_spec_paths = !skip_path_checks;
  if (!absl::ParseDuration(worker_timeout, &options.worker_lease) ||
      options.worker_lease < absl::Milliseconds(300)) {
    std::cerr << "align-coordinator: --worker-timeout: expected a duration of at least 300ms such as 10s or 2m, got \""
              << worker_timeout << "\"\n";
    return kExitUsage;
  }

  // Block the stop signals before gRPC starts its threads, so only the
  // sigwait below ever sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<CoordinatorServer>> server = CoordinatorServer::Start(options);
  if (!server.ok()) {
    std::cerr << "align-coordinator: " << server.status().message() << "\n";
    return absl::IsInvalidArgument(server.status()) ? kExitUsage : 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  align::coordinator::LogLine(signal_number == SIGINT ? "SIGINT: shutting down" : "SIGTERM: shutting down");
  (*server)->Shutdown();
  return 0;
}
