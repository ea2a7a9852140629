#pragma once
// How busy a device was: the union of its activities' intervals over the span
// from the first start to the last end. Overlapping kernels (several streams)
// count once, so the fraction never exceeds 1. Plain C++: tested without a GPU.

#include <cstdint>
#include <vector>

namespace align::tools {

struct Interval {
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;  // >= start_ns
};

struct BusyTime {
  uint64_t span_ns = 0;  // first start to last end; 0 without intervals
  uint64_t busy_ns = 0;  // length of the union of the intervals
  double fraction() const { return span_ns == 0 ? 0.0 : static_cast<double>(busy_ns) / static_cast<double>(span_ns); }
};

BusyTime MeasureBusyTime(std::vector<Interval> intervals);

}  // namespace align::tools
