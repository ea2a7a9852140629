#include "worker/engine/bucket_schedule.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace align::engine {
namespace {

using Buckets = std::vector<std::vector<size_t>>;

TEST(ReverseOrderBucketsTest, GroupsFromTheLastParameterUpToTheBucketSize) {
  EXPECT_EQ(ReverseOrderBuckets({10, 10, 10, 10, 10}, 20), (Buckets{{4, 3}, {2, 1}, {0}}));
  // A parameter larger than a bucket is a bucket of its own.
  EXPECT_EQ(ReverseOrderBuckets({5, 100, 5}, 20), (Buckets{{2}, {1}, {0}}));
  EXPECT_EQ(ReverseOrderBuckets({1, 2, 3}, 1000), (Buckets{{2, 1, 0}}));
  EXPECT_EQ(BucketBytes(25), 25 << 20);
  EXPECT_EQ(BucketBytes(1e-9), 1);
}

TEST(BucketScheduleTest, BucketsStartInOrderOnceAllTheirGradientsAreFinal) {
  BucketSchedule schedule({{3, 2}, {1}, {0}}, 4);
  EXPECT_TRUE(schedule.MarkReady(1).empty());  // bucket 1 is complete, but bucket 0 has not started
  EXPECT_TRUE(schedule.MarkReady(3).empty());
  EXPECT_TRUE(schedule.MarkReady(3).empty());  // again: ignored
  EXPECT_EQ(schedule.MarkReady(2), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(schedule.TakeRemaining(), (std::vector<size_t>{2}));  // parameter 0 got no gradient
  EXPECT_TRUE(schedule.TakeRemaining().empty());

  schedule.Reset();
  EXPECT_EQ(schedule.MarkReady(3), std::vector<size_t>{});
  EXPECT_EQ(schedule.MarkReady(2), (std::vector<size_t>{0}));
  EXPECT_EQ(schedule.MarkReady(1), (std::vector<size_t>{1}));
  EXPECT_EQ(schedule.MarkReady(0), (std::vector<size_t>{2}));
  EXPECT_TRUE(schedule.TakeRemaining().empty());
}

TEST(BucketScheduleTest, BucketsMustPartitionTheParameters) {
  EXPECT_THROW(BucketSchedule({{0}, {0}}, 1), std::invalid_argument);
  EXPECT_THROW(BucketSchedule({{0}}, 2), std::invalid_argument);
  EXPECT_THROW(BucketSchedule({{2}}, 2), std::invalid_argument);
}

}  // namespace
}  // namespace align::engine
