#pragma once
// Axis ranges and tick marks at "nice" values (1, 2, 2.5 or 5 times a power of
// ten), so that tick labels are short and a reader can interpolate.

#include <string>
#include <vector>

namespace align::plot {

struct Axis {
  double lo = 0;  // the range shown; ticks lie inside it
  double hi = 1;
  double step = 0.2;
  std::vector<double> ticks;
};

// Share of the data range left free at each end, so that lines at the
// extremes stay clear of the frame.
inline constexpr double kAxisPadding = 0.04;

// An axis showing [lo, hi] (finite, lo <= hi) plus the padding, with at most
// `max_ticks` (>= 2) ticks at whole steps inside it. A degenerate range (one
// value) is widened around the value first.
Axis NiceAxis(double lo, double hi, int max_ticks);

// A tick label with as many decimals as `step` needs ("0.25", "40", "-1.5");
// exponent notation for very large or very small magnitudes ("2e+06", "5e-05").
std::string FormatTick(double value, double step);

}  // namespace align::plot
