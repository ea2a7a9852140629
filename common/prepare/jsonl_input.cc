#include "common/prepare/jsonl_input.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/prepare/item_fields.h"

namespace align::prepare {

absl::StatusOr<InputIndex> IndexJsonl(const std::string& path) {
  namespace fs = std::filesystem;
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  const fs::path base = fs::path(path).parent_path();
  const std::string name = fs::path(path).filename().string();
  const auto resolve = [&](const std::string& p) {
    const fs::path image(p);
    return (image.is_absolute() ? image : base / image).lexically_normal().string();
  };

  InputIndex index;
  index.format = PrepareFormat::kJsonl;
  index.sources = {path};
  std::string line;
  int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    PairItem item;
    item.id = index.total;
    item.where = absl::StrCat(name, ":", line_number);
    ItemFields fields;
    ItemProblem problem;
    if (!ParseItemFields(line, /*with_image_paths=*/true, &fields, &problem)) {
      FileItem(index, std::move(item), nullptr, &problem);
      continue;
    }
    item.image_0 = resolve(fields.image_0);
    item.image_1 = resolve(fields.image_1);
    FileItem(index, std::move(item), &fields, &problem);
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  return index;
}

}  // namespace align::prepare
