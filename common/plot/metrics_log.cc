#include "common/plot/metrics_log.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace align::plot {
namespace {

// Long enough to recognise the line, short enough for one terminal line.
std::string Excerpt(const std::string& line) {
  constexpr size_t kMax = 60;
  return line.size() <= kMax ? line : line.substr(0, kMax) + "...";
}

}  // namespace

absl::StatusOr<MetricsLog> ReadMetricsLog(const std::string& path, const std::vector<std::string>& fields) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  MetricsLog log;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const auto where = [&] { return absl::StrCat(path, ":", number, ": "); };
    // No exceptions: a malformed line is an error to report, not a crash.
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "not valid JSON: ", Excerpt(line)));
    }
    if (!j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "not a JSON object: ", Excerpt(line)));
    }
    const auto step = j.find("step");
    if (step == j.end() || !step->is_number_integer()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "no integer \"step\": ", Excerpt(line)));
    }
    ++log.lines;
    for (const std::string& field : fields) {
      const auto value = j.find(field);
      if (value == j.end() || value->is_null()) continue;
      if (!value->is_number()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where(), "\"", field, "\" is ", value->type_name(), ", not a number"));
      }
      const double v = value->get<double>();
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat(where(), "\"", field, "\" is not finite: ", value->dump()));
      }
      log.fields[field].push_back({step->get<int64_t>(), v});
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  for (auto& [name, points] : log.fields) {
    std::stable_sort(points.begin(), points.end(),
                     [](const MetricPoint& a, const MetricPoint& b) { return a.step < b.step; });
  }
  return log;
}

}  // namespace align::plot
