#include "worker/tools/busy_time.h"

#include <gtest/gtest.h>

namespace align::tools {
namespace {

TEST(BusyTimeTest, NoIntervalsIsIdle) {
  const BusyTime busy = MeasureBusyTime({});
  EXPECT_EQ(busy.span_ns, 0u);
  EXPECT_EQ(busy.fraction(), 0.0);
}

TEST(BusyTimeTest, GapsBetweenActivitiesAreIdle) {
  // [0,10) busy, [10,30) idle, [30,40) busy.
  const BusyTime busy = MeasureBusyTime({{30, 40}, {0, 10}});
  EXPECT_EQ(busy.span_ns, 40u);
  EXPECT_EQ(busy.busy_ns, 20u);
  EXPECT_DOUBLE_EQ(busy.fraction(), 0.5);
}

TEST(BusyTimeTest, OverlappingActivitiesCountOnce) {
  // Two streams: [0,20) and [5,25), a contained [6,7), then [25,30) touching.
  const BusyTime busy = MeasureBusyTime({{0, 20}, {5, 25}, {6, 7}, {25, 30}, {40, 50}});
  EXPECT_EQ(busy.span_ns, 50u);
  EXPECT_EQ(busy.busy_ns, 40u);
}

TEST(BusyTimeTest, AnEarlyLongActivityCoversLaterShortOnes) {
  const BusyTime busy = MeasureBusyTime({{0, 100}, {10, 20}, {30, 40}});
  EXPECT_EQ(busy.span_ns, 100u);
  EXPECT_EQ(busy.busy_ns, 100u);
  EXPECT_DOUBLE_EQ(busy.fraction(), 1.0);
}

}  // namespace
}  // namespace align::tools
