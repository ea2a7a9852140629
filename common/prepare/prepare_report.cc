#include "common/prepare/prepare_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace align::prepare {

int64_t PrepareReport::pairs_written() const {
  int64_t n = 0;
  for (const auto& [split, count] : pairs) n += count;
  return n;
}

PrepareReport BuildReport(const InputIndex& index, const std::vector<ChunkRecord>& records,
                          double max_error_ratio) {
  PrepareReport r;
  r.total = index.total;
  r.ties = index.ties;
  r.swapped = index.swapped;
  r.repaired_captions = index.repaired_captions;
  r.max_error_ratio = max_error_ratio;
  r.problems = index.rejected;
  r.pairs = {{"train", 0}, {"heldout", 0}};
  r.shards = {{"train", 0}, {"heldout", 0}};
  for (const ChunkRecord& record : records) {
    r.pairs[record.split] += record.pairs;
    if (!record.shard.empty()) ++r.shards[record.split];
    r.captions_truncated += record.captions_truncated;
    r.problems.insert(r.problems.end(), record.problems.begin(), record.problems.end());
  }
  r.failed = static_cast<int64_t>(r.problems.size());
  for (const ItemProblem& p : r.problems) ++r.failed_by_reason[p.reason];
  const int64_t considered = r.total - r.ties;
  r.error_ratio = considered > 0 ? static_cast<double>(r.failed) / static_cast<double>(considered) : 0.0;
  return r;
}

nlohmann::json ReportToJson(const PrepareReport& r, size_t max_listed) {
  nlohmann::json problems = nlohmann::json::array();
  for (size_t i = 0; i < r.problems.size() && i < max_listed; ++i) {
    const ItemProblem& p = r.problems[i];
    problems.push_back({{"id", p.id}, {"where", p.where}, {"reason", p.reason}, {"detail", p.detail}});
  }
  return {{"items", r.total},
          {"ties", r.ties},
          {"swapped", r.swapped},
          {"repaired_captions", r.repaired_captions},
          {"captions_truncated", r.captions_truncated},
          {"failed", r.failed},
          {"failed_by_reason", r.failed_by_reason},
          {"pairs", r.pairs},
          {"shards", r.shards},
          {"error_ratio", r.error_ratio},
          {"max_error_ratio", r.max_error_ratio},
          {"ok", r.ok()},
          {"problems", problems},
          {"problems_listed", problems.size()}};
}

std::string FailureMessage(const PrepareReport& r, size_t max_listed) {
  std::vector<std::string> reasons, listed;
  for (const auto& [reason, count] : r.failed_by_reason) reasons.push_back(absl::StrCat(count, " ", reason));
  for (size_t i = 0; i < r.problems.size() && i < max_listed; ++i) {
    const ItemProblem& p = r.problems[i];
    listed.push_back(absl::StrCat(p.where, " (", p.reason, "): ", p.detail));
  }
  return absl::StrFormat("%d of %d items failed (error ratio %.4g > max_error_ratio %.4g; ties excluded): %s; "
                         "first %d:\n  %s",
                         r.failed, r.total - r.ties, r.error_ratio, r.max_error_ratio, absl::StrJoin(reasons, ", "),
                         listed.size(), absl::StrJoin(listed, "\n  "));
}

}  // namespace align::prepare
