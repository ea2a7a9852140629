#pragma once
// The coordinator's Prometheus metrics (docs/monitoring.md lists them all):
//   align_jobs{state}                    jobs per state, read from the store at scrape time
//   align_rpc_duration_seconds{method}   handler time; for streams, the stream's lifetime
//   align_rpc_requests_total{method,code}
//   align_workers_up                     worker ranks with an open session
//   align_job_duration_seconds{type,state}  first start -> final state, from the store at scrape time
//   align_job_queue_wait_seconds{type}   submission -> first start, likewise
//   align_job_running_seconds{job,type}  age of each running job, likewise
// The exposer (HTTP) lives in the binary; this is plain prometheus-cpp core,
// so tests read the values without a socket.

#include <memory>
#include <string>
#include <vector>

#include "coordinator/core/job_store.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace align::coordinator {

class CoordinatorMetrics {
 public:
  explicit CoordinatorMetrics(JobStore* store);

  void ObserveRpc(const std::string& method, const std::string& code, double seconds);
  void SetWorkersUp(double ranks);

  // Where other metric sets (TrainingMetrics) register their families.
  prometheus::Registry& registry() { return *registry_; }

  // What an exposer registers: all are scraped on every request.
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables() const;
  // Everything, as a scrape would see it.
  std::vector<prometheus::MetricFamily> Collect() const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> job_counts_;
  std::shared_ptr<prometheus::Collectable> job_timings_;
  prometheus::Family<prometheus::Histogram>* rpc_duration_;
  prometheus::Family<prometheus::Counter>* rpc_requests_;
  prometheus::Gauge* workers_up_;
};

}  // namespace align::coordinator
