#pragma once
// Generates preference-pair inputs for prepare tests and benchmarks: real JPEG
// and PNG files (or WebDataset tar shards) with a known mix of ties, swapped
// labels, corrupt and missing images, and awkward captions, and the exact
// counts a correct prepare job must report for them.

#include <cstdint>
#include <string>

namespace align::testing {

struct TestPairsOptions {
  int items = 40;
  bool webdataset = false;     // false: pairs.jsonl + images/; true: shard-NNNNN.tar
  int samples_per_shard = 16;  // webdataset
  int base_size = 80;          // images are about this size, in mixed aspect ratios
  uint64_t seed = 1;
  bool faults = true;          // ties, corrupt and missing images, bad lines
};

struct TestPairsCounts {
  int64_t total = 0;     // items (lines / samples)
  int64_t ties = 0;
  int64_t swapped = 0;   // usable items with label_0 = 0
  int64_t failed = 0;    // items that must be reported as failures
  int64_t pairs = 0;     // pairs that must be written
  int64_t missing = 0, corrupt = 0, malformed = 0;  // failures by kind
  std::string input;     // what prepare.input should name
};

// Writes into `dir` (created). Deterministic in the options.
TestPairsCounts WriteTestPairs(const std::string& dir, const TestPairsOptions& options);

}  // namespace align::testing
