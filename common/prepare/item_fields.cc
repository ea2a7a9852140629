#include "common/prepare/item_fields.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/prepare/utf8_repair.h"
#include "nlohmann/json.hpp"

namespace align::prepare {

bool ParseItemFields(absl::string_view json_text, bool with_image_paths, ItemFields* fields,
                     ItemProblem* problem) {
  std::string text;
  fields->repaired = RepairUtf8(json_text, &text) > 0;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto fail = [&](const char* reason, std::string detail) {
    problem->reason = reason;
    problem->detail = std::move(detail);
    return false;
  };
  if (j.is_discarded()) return fail(reason::kBadJson, "not valid JSON");
  if (!j.is_object()) return fail(reason::kBadJson, "expected a JSON object");

  const auto string_field = [&](const char* key, std::string* out) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fail(reason::kMissingField, absl::StrCat("no \"", key, "\""));
    if (!it->is_string()) return fail(reason::kBadField, absl::StrCat("\"", key, "\" is not a string"));
    *out = it->get<std::string>();
    return true;
  };
  if (!string_field("caption", &fields->caption)) return false;
  if (with_image_paths) {
    if (!string_field("image_0", &fields->image_0) || !string_field("image_1", &fields->image_1)) return false;
    if (fields->image_0.empty() || fields->image_1.empty()) {
      return fail(reason::kBadField, "image_0 and image_1 must not be empty");
    }
  }
  auto label = j.find("label_0");
  if (label == j.end() || label->is_null()) return fail(reason::kMissingField, "no \"label_0\"");
  if (!label->is_number()) return fail(reason::kBadLabel, absl::StrCat("label_0 is not a number: ", label->dump()));
  fields->label_0 = label->get<double>();
  if (ClassifyLabel(fields->label_0) == Label::kInvalid) {
    return fail(reason::kBadLabel, absl::StrCat("label_0 must be 1, 0 or 0.5, got ", label->dump()));
  }
  return true;
}

void FileItem(InputIndex& index, PairItem item, const ItemFields* fields, ItemProblem* problem) {
  ++index.total;
  if (fields == nullptr) {
    problem->id = item.id;
    problem->where = item.where;
    index.rejected.push_back(std::move(*problem));
    return;
  }
  if (fields->repaired) ++index.repaired_captions;
  switch (ClassifyLabel(fields->label_0)) {
    case Label::kTie:
      ++index.ties;
      return;
    case Label::kSecond:
      item.swap = true;
      ++index.swapped;
      break;
    default:
      break;
  }
  item.caption = fields->caption;
  index.items.push_back(std::move(item));
}

}  // namespace align::prepare
