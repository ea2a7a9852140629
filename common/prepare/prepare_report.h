#pragma once
// The outcome of a prepare job, assembled from the input index (ties, swaps,
// items malformed at index time) and the chunk records (items that failed to
// load, decode or encode). Written to `<output>/prepare-report.json`; decides
// whether the job failed: the error ratio is failed / (total - ties), ties
// being dropped by design, not failures.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/prepare/chunk_record.h"
#include "common/prepare/input_index.h"
#include "nlohmann/json.hpp"

namespace align::prepare {

inline constexpr char kReportFile[] = "prepare-report.json";

struct PrepareReport {
  int64_t total = 0;
  int64_t ties = 0;
  int64_t swapped = 0;
  int64_t repaired_captions = 0;
  int64_t captions_truncated = 0;
  int64_t failed = 0;
  std::map<std::string, int64_t> failed_by_reason;
  std::map<std::string, int64_t> pairs;   // per split
  std::map<std::string, int64_t> shards;  // per split
  double error_ratio = 0;
  double max_error_ratio = 0;
  std::vector<ItemProblem> problems;  // every failure: index-time first, then by chunk and id

  bool ok() const { return error_ratio <= max_error_ratio; }
  int64_t pairs_written() const;
};

PrepareReport BuildReport(const InputIndex& index, const std::vector<ChunkRecord>& records,
                          double max_error_ratio);
// `max_listed` problems are listed; the counts are always complete.
nlohmann::json ReportToJson(const PrepareReport& report, size_t max_listed = 1000);
// "12 of 400 items failed (3.2% > max_error_ratio 2%): 7 corrupt_image, ...; first 10: ..."
std::string FailureMessage(const PrepareReport& report, size_t max_listed = 10);

}  // namespace align::prepare
