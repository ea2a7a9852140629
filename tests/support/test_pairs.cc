#include "tests/support/test_pairs.h"

#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/support/image_encode.h"
#include "tests/support/tar_write.h"

namespace align::testing {
namespace {

enum class Kind { kNormal, kSwap, kTie, kCorrupt, kMissing, kMalformed };

// The fault pattern: fixed by the item's position, so counts are exact.
Kind KindOf(int i, bool faults) {
  if (!faults) return i % 3 == 1 ? Kind::kSwap : Kind::kNormal;
  if (i % 10 == 3) return Kind::kTie;
  if (i % 13 == 7) return Kind::kCorrupt;
  if (i % 17 == 11) return Kind::kMissing;
  if (i % 29 == 20) return Kind::kMalformed;
  return i % 3 == 1 ? Kind::kSwap : Kind::kNormal;
}

std::string Caption(int i) {
  if (i % 11 == 5) {  // longer than 77 tokens: truncated, not an error
    std::string long_caption;
    for (int k = 0; k < 60; ++k) absl::StrAppend(&long_caption, "a very long caption ");
    return long_caption;
  }
  if (i % 11 == 8) return absl::StrCat("caf\xC3\xA9 with a broken byte \xFF here ", i);  // invalid UTF-8
  return absl::StrCat("a photo of test picture ", i);
}

}  // namespace

TestPairsCounts WriteTestPairs(const std::string& dir, const TestPairsOptions& options) {
  namespace fs = std::filesystem;
  fs::create_directories(dir + "/images");
  TestPairsCounts counts;
  std::vector<std::pair<std::string, std::string>> members;
  std::ofstream jsonl;
  if (!options.webdataset) {
    counts.input = dir + "/pairs.jsonl";
    jsonl.open(counts.input, std::ios::binary);
  } else {
    counts.input = dir;
  }
  int shard = 0;
  const auto flush_shard = [&] {
    if (members.empty()) return;
    WriteTar(absl::StrFormat("%s/shard-%05d.tar", dir, shard++), members);
    members.clear();
  };

  for (int i = 0; i < options.items; ++i) {
    const Kind kind = KindOf(i, options.faults);
    ++counts.total;
    // Mixed aspect ratios; image_1 sometimes of another size than image_0.
    const int s = options.base_size;
    const int w0 = (i % 3 == 0) ? s + s / 4 : (i % 3 == 1 ? s : s - s / 5);
    const int h0 = (i % 3 == 2) ? s + s / 3 : s;
    const int w1 = (i % 4 == 2) ? w0 + 6 : w0, h1 = (i % 4 == 2) ? h0 - 4 : h0;
    std::string bytes_0 = (i % 2 == 0) ? EncodeJpeg(TestPicture(w0, h0, options.seed * 1000 + 2 * i))
                                       : EncodePng(TestPicture(w0, h0, options.seed * 1000 + 2 * i));
    std::string bytes_1 = EncodeJpeg(TestPicture(w1, h1, options.seed * 1000 + 2 * i + 1), 85);
    if (kind == Kind::kCorrupt) bytes_1.resize(bytes_1.size() / 3);  // truncated
    const double label = kind == Kind::kTie ? 0.5 : (kind == Kind::kSwap ? 0.0 : 1.0);

    switch (kind) {
      case Kind::kTie: ++counts.ties; break;
      case Kind::kCorrupt: ++counts.failed, ++counts.corrupt; break;
      case Kind::kMissing: ++counts.failed, ++counts.missing; break;
      case Kind::kMalformed: ++counts.failed, ++counts.malformed; break;
      case Kind::kSwap: ++counts.swapped, ++counts.pairs; break;
      case Kind::kNormal: ++counts.pairs; break;
    }

    const std::string key = absl::StrFormat("%06d", i);
    if (!options.webdataset) {
      const std::string name_0 = absl::StrCat("images/", key, "_0", i % 2 == 0 ? ".jpg" : ".png");
      const std::string name_1 = absl::StrCat("images/", key, "_1.jpg");
      if (kind != Kind::kMissing) std::ofstream(dir + "/" + name_0, std::ios::binary) << bytes_0;
      std::ofstream(dir + "/" + name_1, std::ios::binary) << bytes_1;
      if (kind == Kind::kMalformed) {
        jsonl << "{\"caption\": \"no label\", \"image_0\": \"" << name_0 << "\", \"image_1\": \"" << name_1 << "\"}\n";
      } else {
        // Written by hand so that the invalid UTF-8 byte reaches the file as is.
        jsonl << "{\"caption\": \"";
        for (char c : Caption(i)) {
          if (c == '"' || c == '\\') jsonl << '\\';
          jsonl << c;
        }
        jsonl << "\", \"image_0\": \"" << name_0 << "\", \"image_1\": \"" << name_1
              << "\", \"label_0\": " << (label == 0.5 ? "0.5" : (label == 0.0 ? "0" : "1")) << "}\n";
      }
      if (i % 7 == 6) jsonl << "\n";  // blank lines are not items
    } else {
      std::string json_text = absl::StrCat("{\"caption\": \"", Caption(i), "\", \"label_0\": ",
                                           label == 0.5 ? "0.5" : (label == 0.0 ? "0.0" : "1.0"), "}");
      if (kind == Kind::kMalformed) json_text = "{\"caption\": \"cut off";
      if (kind != Kind::kMissing) members.emplace_back(key + ".jpg_0", bytes_0);
      members.emplace_back(key + ".jpg_1", bytes_1);
      members.emplace_back(key + ".json", json_text);
      if ((i + 1) % options.samples_per_shard == 0) flush_shard();
    }
  }
  flush_shard();
  return counts;
}

}  // namespace align::testing
