// make_test_pairs: writes preference-pair inputs for `align-worker prepare`
// (tests/support/test_pairs.h) and prints the counts a correct job reports.
//   make_test_pairs --out DIR [--items N] [--webdataset] [--per-shard K]
//                   [--size PX] [--seed S] [--clean]
// --clean leaves out the deliberate faults (ties, corrupt, missing, malformed).
// Used by the benchmark in docs/benchmarks.md.

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "tests/support/test_pairs.h"

int main(int argc, char** argv) {
  align::testing::TestPairsOptions options;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::cerr << "make_test_pairs: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--out") out = next();
    else if (arg == "--items") options.items = std::atoi(next());
    else if (arg == "--webdataset") options.webdataset = true;
    else if (arg == "--per-shard") options.samples_per_shard = std::atoi(next());
    else if (arg == "--size") options.base_size = std::atoi(next());
    else if (arg == "--seed") options.seed = std::strtoull(next(), nullptr, 10);
    else if (arg == "--clean") options.faults = false;
    else {
      std::cerr << "make_test_pairs: unknown argument " << arg << "\n";
      return 2;
    }
  }
  if (out.empty() || options.items < 1 || options.base_size < 8 || options.samples_per_shard < 1) {
    std::cerr << "usage: make_test_pairs --out DIR [--items N] [--webdataset] [--per-shard K] [--size PX] "
                 "[--seed S] [--clean]\n";
    return 2;
  }
  const align::testing::TestPairsCounts c = align::testing::WriteTestPairs(out, options);
  std::cout << "input " << c.input << "\nitems " << c.total << "\nties " << c.ties << "\nswapped " << c.swapped
            << "\nfailed " << c.failed << "\npairs " << c.pairs << "\n";
  return 0;
}
