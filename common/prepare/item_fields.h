#pragma once
// The per-item JSON both input formats carry (a JSONL line; a WebDataset
// sample's `json` member): caption and label_0, plus image_0/image_1 paths in
// JSONL. One parser, so both formats accept and reject the same things, and
// one place that files an item under ties, swaps or problems.

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/prepare/input_index.h"

namespace align::prepare {

struct ItemFields {
  std::string caption;
  std::string image_0, image_1;  // only when asked for
  double label_0 = 0;
  bool repaired = false;         // invalid UTF-8 was replaced
};

// Parses `json_text`; on failure fills `problem` (reason + detail, not id/where)
// and returns false. `with_image_paths`: require string fields image_0, image_1.
bool ParseItemFields(absl::string_view json_text, bool with_image_paths, ItemFields* fields,
                     ItemProblem* problem);

// Files one item into `index`: a problem, a tie, or a usable PairItem (with
// `item.swap` set from the label). `item` carries id, source, where, key and
// image references; its caption is taken from `fields`.
void FileItem(InputIndex& index, PairItem item, const ItemFields* fields, ItemProblem* problem);

}  // namespace align::prepare
