// output/metrics.jsonl (worker/engine/metrics_log.h): a resumed run cuts it
// back to its checkpoint, and a writer of an earlier attempt that goes on
// cannot add lines to the new attempt's file.

#include "worker/engine/metrics_log.h"

#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"

namespace align::engine {
namespace {

std::vector<std::pair<int64_t, double>> StepsAndLosses(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::pair<int64_t, double>> lines;
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    lines.emplace_back(j["step"].get<int64_t>(), j["loss"].get<double>());
  }
  return lines;
}

StepMetrics Step(int64_t step, double loss) {
  StepMetrics m;
  m.step = step;
  m.loss = loss;
  return m;
}

TEST(MetricsLogTest, AResumedRunKeepsTheStepsUpToItsCheckpoint) {
  align::testing::TempDir dir("metrics_log_test");
  const std::string path = dir.File("metrics.jsonl");
  {
    absl::StatusOr<std::unique_ptr<MetricsLog>> first = MetricsLog::Open(path, 0);
    ASSERT_TRUE(first.ok()) << first.status();
    for (int64_t step = 1; step <= 3; ++step) ASSERT_TRUE((*first)->WriteStep(Step(step, 1.0)).ok());
  }
  absl::StatusOr<std::unique_ptr<MetricsLog>> resumed = MetricsLog::Open(path, 2);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_TRUE((*resumed)->WriteStep(Step(3, 2.0)).ok());
  EXPECT_EQ(StepsAndLosses(path), (std::vector<std::pair<int64_t, double>>{{1, 1.0}, {2, 1.0}, {3, 2.0}}));
}

TEST(MetricsLogTest, AStaleWriterCannotAddToTheNewAttemptsFile) {
  align::testing::TempDir dir("metrics_log_test");
  const std::string path = dir.File("metrics.jsonl");
  absl::StatusOr<std::unique_ptr<MetricsLog>> stale = MetricsLog::Open(path, 0);
  ASSERT_TRUE(stale.ok()) << stale.status();
  ASSERT_TRUE((*stale)->WriteStep(Step(1, 1.0)).ok());
  // The job moved to another group, which resumed from step 1.
  absl::StatusOr<std::unique_ptr<MetricsLog>> current = MetricsLog::Open(path, 1);
  ASSERT_TRUE(current.ok()) << current.status();
  ASSERT_TRUE((*stale)->WriteStep(Step(2, 9.0)).ok());  // the old group went on
  ASSERT_TRUE((*current)->WriteStep(Step(2, 2.0)).ok());
  EXPECT_EQ(StepsAndLosses(path), (std::vector<std::pair<int64_t, double>>{{1, 1.0}, {2, 2.0}}));
}

}  // namespace
}  // namespace align::engine
