// The coordinator's scrape-time job metrics: align_jobs and the job timing
// histograms are read from the store, so they agree with it after any change,
// including a restart on the same state file, and serialize as Prometheus
// expects (cumulative buckets ending in +Inf).

#include "coordinator/core/coordinator_metrics.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "coordinator/core/job_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace align::coordinator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kSecond = 1000;

class CoordinatorMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "coordinator_metrics_test_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    Reopen();
  }
  void TearDown() override {
    metrics_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A coordinator restart: a fresh store and metrics on the same file.
  void Reopen() {
    metrics_.reset();
    store_.reset();
    JobStoreOptions options;
    options.now_ms = [this] { return now_ms_.load(); };
    auto store = JobStore::Open(dir_ + "/coordinator.db", options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    metrics_ = std::make_unique<CoordinatorMetrics>(store_.get());
  }
  void Advance(int64_t seconds) { now_ms_ += seconds * kSecond; }

  int64_t Submit(const std::string& name, const std::string& type = "train") {
    auto job = store_->CreateJob({name, type, "name: " + name + "\n", "/tmp", 10});
    EXPECT_TRUE(job.ok()) << job.status();
    return job->id;
  }
  void Start() {
    auto job = store_->TakeNextQueued("group-1");
    ASSERT_TRUE(job.ok() && job->has_value()) << job.status();
  }
  void End(int64_t id, JobState state) { ASSERT_TRUE(store_->Transition(id, state, "done").ok()); }

  std::optional<prometheus::MetricFamily> Family(const std::string& name) {
    for (prometheus::MetricFamily& family : metrics_->Collect()) {
      if (family.name == name) return family;
    }
    return std::nullopt;
  }
  // The metric whose labels include every pair in `labels`.
  std::optional<prometheus::ClientMetric> Metric(const std::string& name,
                                                 const std::vector<prometheus::ClientMetric::Label>& labels) {
    std::optional<prometheus::MetricFamily> family = Family(name);
    if (!family) return std::nullopt;
    for (const prometheus::ClientMetric& metric : family->metric) {
      bool matches = true;
      for (const auto& label : labels) {
        if (std::find(metric.label.begin(), metric.label.end(), label) == metric.label.end()) matches = false;
      }
      if (matches) return metric;
    }
    return std::nullopt;
  }
  // How many observations the histogram has at or below `bound`.
  static uint64_t BucketCount(const prometheus::ClientMetric& metric, double bound) {
    for (const auto& bucket : metric.histogram.bucket) {
      if (bucket.upper_bound == bound) return bucket.cumulative_count;
    }
    ADD_FAILURE() << "no bucket le=" << bound;
    return 0;
  }

  std::string dir_;
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<CoordinatorMetrics> metrics_;
};

TEST_F(CoordinatorMetricsTest, AnEmptyStoreHasTheFamiliesButNoTimings) {
  std::optional<prometheus::MetricFamily> duration = Family("align_job_duration_seconds");
  ASSERT_TRUE(duration.has_value());
  EXPECT_EQ(duration->type, prometheus::MetricType::Histogram);
  EXPECT_TRUE(duration->metric.empty());
  ASSERT_TRUE(Family("align_job_queue_wait_seconds").has_value());
  ASSERT_TRUE(Family("align_job_running_seconds").has_value());
  EXPECT_TRUE(Family("align_job_running_seconds")->metric.empty());
  std::optional<prometheus::MetricFamily> jobs = Family("align_jobs");
  ASSERT_TRUE(jobs.has_value());
  EXPECT_EQ(jobs->metric.size(), 6u);  // every state, zeros included
}

TEST_F(CoordinatorMetricsTest, FinishedJobsAreBucketedByTypeAndFinalState) {
  const int64_t quick = Submit("quick");
  Advance(10);
  Start();  // waited 10 s
  Advance(120);
  End(quick, JobState::kSucceeded);  // ran 120 s

  const int64_t broken = Submit("broken");
  Start();  // waited 0 s
  Advance(45);
  End(broken, JobState::kFailed);  // ran 45 s

  const int64_t prepare = Submit("prepare", "prepare");
  Advance(5);
  Start();
  Advance(4000);
  End(prepare, JobState::kSucceeded);

  // Cancelled in the queue: never ran, so it has no duration and no wait.
  const int64_t never = Submit("never");
  End(never, JobState::kCancelled);

  auto succeeded = Metric("align_job_duration_seconds", {{"type", "train"}, {"state", "succeeded"}});
  ASSERT_TRUE(succeeded.has_value());
  EXPECT_EQ(succeeded->histogram.sample_count, 1u);
  EXPECT_DOUBLE_EQ(succeeded->histogram.sample_sum, 120);
  EXPECT_EQ(BucketCount(*succeeded, 60), 0u);
  EXPECT_EQ(BucketCount(*succeeded, 300), 1u);
  EXPECT_EQ(BucketCount(*succeeded, std::numeric_limits<double>::infinity()), 1u);

  auto failed = Metric("align_job_duration_seconds", {{"type", "train"}, {"state", "failed"}});
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->histogram.sample_count, 1u);
  EXPECT_DOUBLE_EQ(failed->histogram.sample_sum, 45);
  EXPECT_EQ(BucketCount(*failed, 30), 0u);
  EXPECT_EQ(BucketCount(*failed, 60), 1u);

  auto prepared = Metric("align_job_duration_seconds", {{"type", "prepare"}, {"state", "succeeded"}});
  ASSERT_TRUE(prepared.has_value());
  EXPECT_DOUBLE_EQ(prepared->histogram.sample_sum, 4000);
  EXPECT_EQ(BucketCount(*prepared, 3600), 0u);
  EXPECT_EQ(BucketCount(*prepared, 7200), 1u);

  EXPECT_FALSE(Metric("align_job_duration_seconds", {{"state", "cancelled"}}).has_value());
  EXPECT_EQ(Family("align_job_duration_seconds")->metric.size(), 3u);

  auto train_wait = Metric("align_job_queue_wait_seconds", {{"type", "train"}});
  ASSERT_TRUE(train_wait.has_value());
  EXPECT_EQ(train_wait->histogram.sample_count, 2u);  // quick and broken, not the cancelled one
  EXPECT_DOUBLE_EQ(train_wait->histogram.sample_sum, 10);
  EXPECT_EQ(BucketCount(*train_wait, 1), 1u);
  EXPECT_EQ(BucketCount(*train_wait, 10), 2u);
  auto prepare_wait = Metric("align_job_queue_wait_seconds", {{"type", "prepare"}});
  ASSERT_TRUE(prepare_wait.has_value());
  EXPECT_DOUBLE_EQ(prepare_wait->histogram.sample_sum, 5);
}

TEST_F(CoordinatorMetricsTest, RunningJobsReportTheirAgeSinceTheFirstStart) {
  const int64_t id = Submit("long");
  Advance(3);
  Start();
  Advance(50);
  auto running = Metric("align_job_running_seconds", {{"job", "job-000001"}, {"type", "train"}});
  ASSERT_TRUE(running.has_value());
  EXPECT_DOUBLE_EQ(running->gauge.value, 50);

  // Interrupted and requeued: no age while it waits, and on its next attempt
  // the age still counts from the first start.
  ASSERT_TRUE(store_->InterruptGroup("group-1", "lost").ok());
  EXPECT_TRUE(Family("align_job_running_seconds")->metric.empty());
  ASSERT_TRUE(store_->RequeueInterrupted().ok());
  Advance(20);
  Start();
  Advance(10);
  EXPECT_DOUBLE_EQ(Metric("align_job_running_seconds", {{"job", "job-000001"}})->gauge.value, 80);
  EXPECT_FALSE(Metric("align_job_duration_seconds", {}).has_value());

  End(id, JobState::kSucceeded);
  EXPECT_TRUE(Family("align_job_running_seconds")->metric.empty());
  auto duration = Metric("align_job_duration_seconds", {{"state", "succeeded"}});
  ASSERT_TRUE(duration.has_value());
  EXPECT_DOUBLE_EQ(duration->histogram.sample_sum, 80);
  // The wait is counted once, up to the first start.
  EXPECT_DOUBLE_EQ(Metric("align_job_queue_wait_seconds", {{"type", "train"}})->histogram.sample_sum, 3);
}

TEST_F(CoordinatorMetricsTest, TimingsSurviveARestart) {
  const int64_t id = Submit("a");
  Start();
  Advance(90);
  End(id, JobState::kCancelled);
  Submit("b");
  Start();
  Advance(7);
  Reopen();
  auto cancelled = Metric("align_job_duration_seconds", {{"type", "train"}, {"state", "cancelled"}});
  ASSERT_TRUE(cancelled.has_value());
  EXPECT_EQ(cancelled->histogram.sample_count, 1u);
  EXPECT_DOUBLE_EQ(cancelled->histogram.sample_sum, 90);
  EXPECT_DOUBLE_EQ(Metric("align_job_running_seconds", {{"job", "job-000002"}})->gauge.value, 7);
  EXPECT_EQ(Metric("align_jobs", {{"state", "running"}})->gauge.value, 1);
}

TEST_F(CoordinatorMetricsTest, SerializesAsAPrometheusHistogram) {
  const int64_t id = Submit("a");
  Start();
  Advance(42);
  End(id, JobState::kSucceeded);
  const std::string text = prometheus::TextSerializer().Serialize(metrics_->Collect());
  EXPECT_THAT(text, HasSubstr("# TYPE align_job_duration_seconds histogram"));
  EXPECT_THAT(text, HasSubstr("align_job_duration_seconds_count{state=\"succeeded\",type=\"train\"} 1"));
  EXPECT_THAT(text, HasSubstr("align_job_duration_seconds_sum{state=\"succeeded\",type=\"train\"} 42"));
  EXPECT_THAT(text, HasSubstr("align_job_duration_seconds_bucket{state=\"succeeded\",type=\"train\",le=\"30\"} 0"));
  EXPECT_THAT(text, HasSubstr("align_job_duration_seconds_bucket{state=\"succeeded\",type=\"train\",le=\"60\"} 1"));
  const std::string inf = "align_job_duration_seconds_bucket{state=\"succeeded\",type=\"train\",le=\"+Inf\"} 1";
  const size_t first = text.find(inf);
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find(inf, first + 1), std::string::npos) << "+Inf bucket written twice:\n" << text;
  EXPECT_THAT(text, Not(HasSubstr("align_job_running_seconds{")));
}

}  // namespace
}  // namespace align::coordinator
