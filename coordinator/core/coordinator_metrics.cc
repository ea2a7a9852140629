#include "coordinator/core/coordinator_metrics.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <utility>

#include "coordinator/core/job_id.h"
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

// Jobs take minutes to days; the same boundaries serve the time in the queue.
const std::vector<double>& JobDurationBuckets() {
  static const std::vector<double> buckets = {1,    10,   30,    60,    300,   600,    1800,
                                              3600, 7200, 14400, 43200, 86400, 259200, 604800};
  return buckets;
}

// A histogram built from values known all at once (not observed over time).
class ScrapeHistogram {
 public:
  void Add(double value) {
    ++count_;
    sum_ += value;
    values_.push_back(value);
  }
  prometheus::ClientMetric ToMetric(std::vector<prometheus::ClientMetric::Label> labels) const {
    prometheus::ClientMetric metric;
    metric.label = std::move(labels);
    metric.histogram.sample_count = count_;
    metric.histogram.sample_sum = sum_;
    std::vector<double> bounds = JobDurationBuckets();
    bounds.push_back(std::numeric_limits<double>::infinity());
    for (double bound : bounds) {
      const auto at_most = std::count_if(values_.begin(), values_.end(), [bound](double v) { return v <= bound; });
      metric.histogram.bucket.push_back({static_cast<std::uint64_t>(at_most), bound});
    }
    return metric;
  }

 private:
  std::uint64_t count_ = 0;
  double sum_ = 0;
  std::vector<double> values_;
};

// Job durations, time in the queue and the running jobs' age, computed from
// the store's timestamps at every scrape: they survive coordinator restarts,
// count jobs that ended while no one scraped, and never drift from the
// database. The counts only grow (jobs are never deleted), so increase() and
// rate() over the buckets work as for any histogram.
class JobTimingCollector : public prometheus::Collectable {
 public:
  explicit JobTimingCollector(JobStore* store) : store_(store) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    absl::StatusOr<std::vector<JobTiming>> timings = store_->ListStartedJobTimings();
    if (!timings.ok()) return {};
    const int64_t now_ms = store_->NowMs();
    std::map<std::pair<std::string, JobState>, ScrapeHistogram> durations;
    std::map<std::string, ScrapeHistogram> waits;
    prometheus::MetricFamily running;
    running.name = "align_job_running_seconds";
    running.help = "Seconds since a running job first started (interruptions included), by job";
    running.type = prometheus::MetricType::Gauge;
    for (const JobTiming& job : *timings) {
      waits[job.type].Add(Seconds(*job.started_ms - job.created_ms));
      if (IsFinal(job.state) && job.finished_ms) {
        durations[{job.type, job.state}].Add(Seconds(*job.finished_ms - *job.started_ms));
      } else if (job.state == JobState::kRunning) {
        prometheus::ClientMetric metric;
        metric.label = {{"job", FormatJobId(job.id)}, {"type", job.type}};
        metric.gauge.value = Seconds(now_ms - *job.started_ms);
        running.metric.push_back(std::move(metric));
      }
    }
    prometheus::MetricFamily duration;
    duration.name = "align_job_duration_seconds";
    duration.help = "Time from a job's first start to its final state, by type and final state";
    duration.type = prometheus::MetricType::Histogram;
    for (const auto& [key, histogram] : durations) {
      duration.metric.push_back(histogram.ToMetric({{"state", JobStateName(key.second)}, {"type", key.first}}));
    }
    prometheus::MetricFamily wait;
    wait.name = "align_job_queue_wait_seconds";
    wait.help = "Time from a job's submission to its first start, by type";
    wait.type = prometheus::MetricType::Histogram;
    for (const auto& [type, histogram] : waits) wait.metric.push_back(histogram.ToMetric({{"type", type}}));
    return {duration, wait, running};
  }

 private:
  // The wall clock can step back; a negative duration would only confuse quantiles.
  static double Seconds(int64_t ms) { return std::max<int64_t>(ms, 0) / 1000.0; }

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
      job_counts_(std::make_shared<JobCountCollector>(store)),
      job_timings_(std::make_shared<JobTimingCollector>(store)) {
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
  return {registry_, job_counts_, job_timings_};
}

std::vector<prometheus::MetricFamily> CoordinatorMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (const auto& collectable : {job_counts_, job_timings_}) {
    for (prometheus::MetricFamily& family : collectable->Collect()) families.push_back(std::move(family));
  }
  return families;
}

}  // namespace align::coordinator
