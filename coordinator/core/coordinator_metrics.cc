#include "coordinator/core/coordinator_metrics.h"

#include "prometheus/client_metric.h"
#include "prometheus/metric_type.h"

namespace align::coordinator {

namespace {

// Counted at scrape time so the gauge can never drift from the database,
// whoever changed it (RPCs, the scheduler, a restart).
class JobCountCollector : public prometheus::Collectable {
 public:
  explicit JobCountCollector(JobStore* store) : store_(store) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    absl::StatusOr<std::map<JobState, int64_t>> counts = store_->CountByState();
    if (!counts.ok()) return {};  // a scrape without the family beats a wrong value
    prometheus::MetricFamily family;
    family.name = "align_jobs";
    family.help = "Jobs in the coordinator's store, by state";
    family.type = prometheus::MetricType::Gauge;
    for (const auto& [state, count] : *counts) {
      prometheus::ClientMetric metric;
      metric.label.push_back({"state", JobStateName(state)});
      metric.gauge.value = static_cast<double>(count);
      family.metric.push_back(std::move(metric));
    }
    return {family};
  }

 private:
  JobStore* store_;
};

const prometheus::Histogram::BucketBoundaries& RpcBuckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600};
  return buckets;
}

}  // namespace

CoordinatorMetrics::CoordinatorMetrics(JobStore* store)
    : registry_(std::make_shared<prometheus::Registry>()),
      job_counts_(std::make_shared<JobCountCollector>(store)) {
  rpc_duration_ = &prometheus::BuildHistogram()
                       .Name("align_rpc_duration_seconds")
                       .Help("Time spent in coordinator RPC handlers (streams: their lifetime), by method")
                       .Register(*registry_);
  rpc_requests_ = &prometheus::BuildCounter()
                       .Name("align_rpc_requests_total")
                       .Help("Coordinator RPCs by method and gRPC status code")
                       .Register(*registry_);
  workers_up_ = &prometheus::BuildGauge()
                     .Name("align_workers_up")
                     .Help("Worker ranks with an open session to the coordinator")
                     .Register(*registry_)
                     .Add({});
}

void CoordinatorMetrics::ObserveRpc(const std::string& method, const std::string& code, double seconds) {
  rpc_duration_->Add({{"method", method}}, RpcBuckets()).Observe(seconds);
  rpc_requests_->Add({{"method", method}, {"code", code}}).Increment();
}

void CoordinatorMetrics::SetWorkersUp(double ranks) { workers_up_->Set(ranks); }

std::vector<std::shared_ptr<prometheus::Collectable>> CoordinatorMetrics::collectables() const {
  return {registry_, job_counts_};
}

std::vector<prometheus::MetricFamily> CoordinatorMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& family : job_counts_->Collect()) families.push_back(std::move(family));
  return families;
}

}  // namespace align::coordinator
