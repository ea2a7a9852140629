#include "common/spec_fields.h"

#include "absl/strings/str_cat.h"

namespace align::spec_fields {

std::string LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return "";
  return absl::StrCat(" (line ", mark.line + 1, ")");
}

}  // namespace align::spec_fields
