#pragma once
// align-coordinator as an object: opens the state directory, starts the gRPC
// server (JobService, WorkerService) and, when asked, the Prometheus
// exposer. main.cc and the in-process service tests both start it this way.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/core/coordinator_metrics.h"
#include "coordinator/core/job_manager.h"
#include "coordinator/core/job_store.h"
#include "coordinator/core/scheduler.h"
#include "coordinator/core/training_metrics.h"
#include "coordinator/core/worker_registry.h"

namespace grpc {
class Server;
}
namespace prometheus {
class Exposer;
}

namespace align::coordinator {

class JobServiceImpl;
class WorkerServiceImpl;
class Authenticator;
class StateDirLock;

struct CoordinatorOptions {
  std::string listen;          // host:port, or a port (127.0.0.1); port 0 picks a free one (see address())
  std::string state_dir;       // holds coordinator.db; created if missing
  std::string metrics_listen;  // as listen; empty: no /metrics
  std::string token_file;      // exactly one of token_file and insecure_no_auth
  bool insecure_no_auth = false;
  std::string tls_cert;  // PEM files; both or neither
  std::string tls_key;
  int max_message_bytes = 4 << 20;
  // WatchJob streams open at once (each holds a server thread); more are
  // refused with RESOURCE_EXHAUSTED.
  int max_watch_streams = 256;
  bool check_spec_paths = true;
  // --worker-timeout: a group none of whose ranks sent anything for this long
  // is lost (its job requeued).
  absl::Duration worker_lease = absl::Seconds(30);
  SchedulerOptions scheduler;
};

class CoordinatorServer {
 public:
  // Errors name the option at fault (a bad token file, an unusable state
  // directory, an address that cannot be bound). A metrics address that cannot
  // be bound is logged and skipped: jobs matter more than dashboards.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(const CoordinatorOptions& options);
  ~CoordinatorServer();

  // Stops accepting calls, ends watch streams, and waits up to `grace` for
  // calls in flight before cancelling them.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  std::string address() const { return address_; }  // the bound host:port
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // 0: no exposer
  JobManager& jobs() { return *manager_; }
  CoordinatorMetrics& metrics() { return *metrics_; }
  TrainingMetrics& training_metrics() { return *training_metrics_; }
  Scheduler& scheduler() { return *scheduler_; }

 private:
  CoordinatorServer() = default;

  std::unique_ptr<StateDirLock> lock_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<JobManager> manager_;
  std::unique_ptr<WorkerRegistry> registry_;
  std::unique_ptr<CoordinatorMetrics> metrics_;
  std::unique_ptr<TrainingMetrics> training_metrics_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Authenticator> authenticator_;
  std::unique_ptr<JobServiceImpl> job_service_;
  std::unique_ptr<WorkerServiceImpl> worker_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
  int port_ = 0;
  int metrics_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace align::coordinator
