#include "common/plot/ticks.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace align::plot {
namespace {

// The smallest nice step at least `rough`.
double NiceStep(double rough) {
  const double magnitude = std::pow(10.0, std::floor(std::log10(rough)));
  for (double m : {1.0, 2.0, 2.5, 5.0}) {
    if (m * magnitude >= rough * (1 - 1e-9)) return m * magnitude;
  }
  return 10 * magnitude;
}

std::vector<double> TicksBetween(double lo, double hi, double step) {
  std::vector<double> ticks;
  const double first = std::ceil(lo / step - 1e-9);
  for (double k = first; k * step <= hi + step * 1e-9; k += 1) {
    double v = k * step;
    if (std::fabs(v) < step * 1e-9) v = 0;  // no "-0"
    ticks.push_back(v);
  }
  return ticks;
}

}  // namespace

Axis NiceAxis(double lo, double hi, int max_ticks) {
  max_ticks = std::max(max_ticks, 2);
  if (hi - lo <= std::fabs(hi) * 1e-12) {
    const double widen = hi == 0 ? 1 : std::fabs(hi) * 0.1;
    lo -= widen;
    hi += widen;
  }
  const double pad = (hi - lo) * kAxisPadding;
  Axis axis;
  axis.lo = lo - pad;
  axis.hi = hi + pad;
  // The smallest nice step for the range, grown while it gives too many ticks.
  axis.step = NiceStep((hi - lo) / (max_ticks - 1));
  axis.ticks = TicksBetween(axis.lo, axis.hi, axis.step);
  while (static_cast<int>(axis.ticks.size()) > max_ticks) {
    axis.step = NiceStep(axis.step * 1.01);
    axis.ticks = TicksBetween(axis.lo, axis.hi, axis.step);
  }
  return axis;
}

std::string FormatTick(double value, double step) {
  const double magnitude = std::max(std::fabs(value), step);
  if (magnitude >= 1e6 || step < 1e-4) return absl::StrFormat("%.3g", value);
  // Decimals to show the step exactly: 0.25 needs 2, 0.5 needs 1, 20 needs 0.
  int decimals = 0;
  while (decimals < 6 && std::fabs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) >
                             1e-6 * step * std::pow(10.0, decimals)) {
    ++decimals;
  }
  if (std::fabs(value) < step * 1e-9) value = 0;
  return absl::StrFormat("%.*f", decimals, value);
}

}  // namespace align::plot
