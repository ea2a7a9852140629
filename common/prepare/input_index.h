#pragma once
// The input of a prepare job, indexed before any image is decoded: every
// preference item with its caption, label and where its two images are. The
// index is cheap (captions and labels only; tar image members are skipped), it
// is the same on every rank (so ranks agree on the work split without talking),
// and it settles ties, swaps and malformed items up front.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"

namespace align::prepare {

// Why an item was not turned into a pair; the report counts them by this code.
namespace reason {
inline constexpr char kBadJson[] = "bad_json";                  // the line / json member does not parse
inline constexpr char kMissingField[] = "missing_field";        // caption, image_0/1 or label_0 absent
inline constexpr char kBadField[] = "bad_field";                // present but of the wrong type
inline constexpr char kBadLabel[] = "bad_label";                // label_0 not in {0, 0.5, 1}
inline constexpr char kMissingImage[] = "missing_image";        // file or tar member not there
inline constexpr char kUnreadableImage[] = "unreadable_image";  // I/O error reading it
inline constexpr char kCorruptImage[] = "corrupt_image";        // decoder rejected corrupt/truncated data
inline constexpr char kUnsupportedImage[] = "unsupported_image";  // not JPEG/PNG, or too large
inline constexpr char kCorruptArchive[] = "corrupt_archive";    // a tar shard that cannot be read on
inline constexpr char kEncodeFailed[] = "encode_failed";        // non-finite latents or embeddings
}  // namespace reason

struct ItemProblem {
  int64_t id = -1;     // the item's id, -1 when the problem is not one item's (a broken archive)
  std::string where;   // "pairs.jsonl:12", "shard-0003.tar:000123"
  std::string reason;  // a reason:: code
  std::string detail;  // human-readable
};

// One usable preference item (not a tie, all fields well-formed).
struct PairItem {
  int64_t id = 0;       // position in the input (line ordinal / sample ordinal over shards); the pair id
  int32_t source = 0;   // index into InputIndex::sources
  std::string where;    // for messages
  int64_t position = 0; // WebDataset: the sample's ordinal within its shard (keys need not be unique)
  std::string caption;  // valid UTF-8 (repaired)
  std::string image_0;  // JSONL: resolved path; WebDataset: member name
  std::string image_1;
  bool swap = false;    // label_0 == 0: image_1 is the preferred one
};

struct InputIndex {
  PrepareFormat format = PrepareFormat::kJsonl;
  std::vector<std::string> sources;  // the .jsonl file, or the tar shards in order
  std::vector<PairItem> items;       // usable items, by id
  int64_t total = 0;                 // items seen (usable + ties + rejected)
  int64_t ties = 0;                  // label_0 = 0.5: dropped, not an error
  int64_t swapped = 0;               // usable items with label_0 = 0
  int64_t repaired_captions = 0;     // captions with invalid UTF-8 replaced by U+FFFD
  std::vector<ItemProblem> rejected; // malformed at index time, by id
};

// Interprets `label_0` as the reference does: 1 -> image_0 preferred, 0 -> image_1
// preferred (swap), 0.5 -> tie. Anything else is kBadLabel.
enum class Label { kFirst, kSecond, kTie, kInvalid };
Label ClassifyLabel(double label_0);

// Resolves `input` (a .jsonl path, or a directory / glob of tar shards) and
// indexes it. Errors are for the input as a whole (nothing to read, unreadable
// file); per-item problems go to `rejected`.
absl::StatusOr<InputIndex> BuildInputIndex(const PrepareSpec& spec);

}  // namespace align::prepare
