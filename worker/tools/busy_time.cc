#include "worker/tools/busy_time.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace align::tools {

BusyTime MeasureBusyTime(std::vector<Interval> intervals) {
  BusyTime result;
  if (intervals.empty()) return result;
  std::sort(intervals.begin(), intervals.end(),
            [](const Interval& a, const Interval& b) { return a.start_ns < b.start_ns; });
  uint64_t run_start = intervals.front().start_ns, run_end = intervals.front().end_ns, last_end = run_end;
  for (const Interval& i : intervals) {
    last_end = std::max(last_end, i.end_ns);
    if (i.start_ns > run_end) {
      result.busy_ns += run_end - run_start;
      run_start = i.start_ns;
      run_end = i.end_ns;
    } else {
      run_end = std::max(run_end, i.end_ns);
    }
  }
  result.busy_ns += run_end - run_start;
  result.span_ns = last_end - intervals.front().start_ns;
  return result;
}

}  // namespace align::tools
