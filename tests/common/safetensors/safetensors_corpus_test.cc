// Replays the fuzz seed corpus plus a fixed-seed set of mutations of it through
// File::FromBytes. It is the deterministic, sanitizer-free cousin of the
// libFuzzer target: every input must either be rejected with a short message or
// yield tensors whose bytes lie inside the buffer and tile the data exactly.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/safetensors/reader.h"
#include "common/safetensors/writer.h"
#include "gtest/gtest.h"

namespace align::safetensors {
namespace {

namespace fs = std::filesystem;

constexpr int kMutants = 20'000;
constexpr uint64_t kSeed = 0x5afe7e4502ULL;

std::vector<std::string> LoadSeeds() {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(std::string(ALIGN_TESTS_DIR) + "/fuzz/corpus/safetensors")) {
    if (entry.is_regular_file()) paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());  // directory order is not deterministic
  std::vector<std::string> seeds;
  for (const fs::path& path : paths) {
    std::ifstream in(path, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return seeds;
}

uint64_t HeaderLength(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  return n;
}

void SetHeaderLength(std::string& bytes, uint64_t n) {
  if (bytes.size() < 8) bytes.resize(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
}

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  std::string Mutate(std::string bytes) {
    const int edits = 1 + static_cast<int>(Below(3));
    for (int i = 0; i < edits; ++i) MutateOnce(bytes);
    return bytes;
  }

  uint64_t Below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }

 private:
  // Characters that change JSON structure or numbers, where the bugs live.
  static constexpr char kInteresting[] = "{}[]\",:-+.0123456789eE \t\n\\u\xff\x80";

  void MutateOnce(std::string& b) {
    const size_t pos = Below(b.size());
    switch (Below(10)) {
      case 0:
        if (!b.empty()) b[pos] = static_cast<char>(b[pos] ^ (1u << Below(8)));
        break;
      case 1:
        if (!b.empty()) b[pos] = static_cast<char>(Below(256));
        break;
      case 2:
        if (!b.empty()) b[pos] = kInteresting[Below(sizeof(kInteresting) - 1)];
        break;
      case 3:
        b.resize(Below(b.size() + 1));
        break;
      case 4:
        for (uint64_t n = 1 + Below(16); n > 0; --n) b.push_back(static_cast<char>(Below(256)));
        break;
      case 5:
        EditHeaderLength(b);
        break;
      case 6:
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(Below(b.size() + 1)), kInteresting[Below(sizeof(kInteresting) - 1)]);
        break;
      case 7:
        if (!b.empty()) b.erase(pos, 1 + Below(8));
        break;
      case 8:
        EditNumber(b);
        break;
      default:
        if (!b.empty()) {
          const std::string chunk = b.substr(pos, 1 + Below(24));
          b.insert(Below(b.size() + 1), chunk);
        }
        break;
    }
  }

  void EditHeaderLength(std::string& b) {
    const uint64_t current = b.size() >= 8 ? HeaderLength(b) : 0;
    const uint64_t choices[] = {current + Below(7) - 3,
                                0,
                                b.size() >= 8 ? b.size() - 8 : 0,
                                b.size(),
                                kMaxHeaderBytes + 1,
                                rng_(),
                                uint64_t{1} << 63,
                                ~uint64_t{0}};
    SetHeaderLength(b, choices[Below(std::size(choices))]);
  }

  // Rewrites a digit run inside the JSON: offsets and shapes are where the
  // arithmetic is.
  void EditNumber(std::string& b) {
    std::vector<size_t> digits;
    for (size_t i = 8; i < b.size(); ++i) {
      if (b[i] >= '0' && b[i] <= '9') digits.push_back(i);
    }
    if (digits.empty()) return;
    const size_t at = digits[Below(digits.size())];
    static const char* const kNumbers[] = {"0", "1", "-1", "7", "4294967296", "9223372036854775807",
                                           "9223372036854775808", "18446744073709551615",
                                           "18446744073709551616", "1e3", "2.5", "100000000"};
    b.replace(at, 1, kNumbers[Below(std::size(kNumbers))]);
  }

  std::mt19937_64 rng_;
};

// The invariants a successfully opened file guarantees to its users.
void CheckValid(const File& file, const std::string& bytes) {
  const uint64_t data_bytes = bytes.size() - 8 - HeaderLength(bytes);
  uint64_t covered = 0;
  const uint8_t* base = nullptr;
  for (const TensorInfo& t : file.tensors()) {
    ASSERT_EQ(t.begin, covered) << t.name;
    ASSERT_LE(t.begin, t.end);
    ASSERT_LE(t.end, data_bytes);
    int64_t numel = 1;
    for (int64_t dim : t.shape) {
      ASSERT_GE(dim, 0);
      numel *= dim;
    }
    ASSERT_EQ(static_cast<uint64_t>(numel) * DTypeSize(t.dtype), t.nbytes());
    absl::StatusOr<TensorView> view = file.Get(t.name);
    ASSERT_TRUE(view.ok()) << view.status();
    ASSERT_EQ(view->info, &t);
    if (base == nullptr) base = view->data - t.begin;
    ASSERT_EQ(view->data, base + t.begin);
    covered = t.end;
  }
  ASSERT_EQ(covered, data_bytes);
  if (base != nullptr) {
    // The tensors' bytes are the file's last data_bytes bytes.
    ASSERT_EQ(std::memcmp(base, bytes.data() + bytes.size() - data_bytes, data_bytes), 0);
  }
}

// Whatever the reader accepts, the writer reproduces (and the reader accepts again).
void CheckRewrite(const File& file) {
  Writer writer;
  for (const auto& [key, value] : file.metadata()) writer.SetMetadata(key, value);
  for (const TensorInfo& t : file.tensors()) {
    absl::StatusOr<TensorView> view = file.Get(t.name);
    ASSERT_TRUE(view.ok());
    absl::Status added = writer.Add(t.name, t.dtype, t.shape, view->data, t.nbytes());
    ASSERT_TRUE(added.ok()) << added;
  }
  absl::StatusOr<std::unique_ptr<File>> again = File::FromBytes(writer.Serialize());
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ((*again)->tensors().size(), file.tensors().size());
  ASSERT_EQ((*again)->metadata(), file.metadata());
}

struct Tally {
  int inputs = 0;
  int valid = 0;
  std::map<absl::StatusCode, int> rejected;
};

void Replay(const std::string& bytes, Tally& tally) {
  ++tally.inputs;
  absl::StatusOr<std::unique_ptr<File>> file = File::FromBytes(bytes);
  if (!file.ok()) {
    ++tally.rejected[file.status().code()];
    ASSERT_FALSE(file.status().message().empty());
    ASSERT_LT(file.status().message().size(), 2048u) << file.status();
    return;
  }
  ++tally.valid;
  CheckValid(**file, bytes);
  CheckRewrite(**file);
}

TEST(SafetensorsCorpus, SeedsAndMutantsNeverBreakTheReader) {
  const std::vector<std::string> seeds = LoadSeeds();
  ASSERT_GE(seeds.size(), 10u);
  Tally tally;
  int valid_seeds = 0;
  for (const std::string& seed : seeds) {
    Replay(seed, tally);
    if (HasFatalFailure()) return;
  }
  valid_seeds = tally.valid;

  Mutator mutator(kSeed);
  for (int i = 0; i < kMutants; ++i) {
    const std::string& seed = seeds[mutator.Below(seeds.size())];
    const std::string input = mutator.Mutate(seed);
    Replay(input, tally);
    if (HasFatalFailure()) {
      ADD_FAILURE() << "mutant " << i << " of a " << seed.size() << "-byte seed";
      return;
    }
  }

  std::cout << "safetensors corpus: ran " << tally.inputs << " inputs (" << seeds.size() << " seeds, "
            << kMutants << " mutants): " << tally.valid << " valid";
  for (const auto& [code, count] : tally.rejected) {
    std::cout << ", " << count << " " << absl::StatusCodeToString(code);
  }
  std::cout << std::endl;
  EXPECT_EQ(tally.inputs, static_cast<int>(seeds.size()) + kMutants);
  EXPECT_GE(valid_seeds, 5);
  // The mutations must exercise both outcomes to mean anything.
  EXPECT_GE(tally.valid - valid_seeds, 100);
  EXPECT_GE(tally.rejected[absl::StatusCode::kInvalidArgument], 1000);
  EXPECT_GE(tally.rejected[absl::StatusCode::kDataLoss], 1000);
}

}  // namespace
}  // namespace align::safetensors
