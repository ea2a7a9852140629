#pragma once
// One YAML mapping of a job spec, read field by field with errors that name
// the field's path and line (`prepare.resolution: must be ... (line 7)`).
// Shared by the parsers of the spec's sections (job_spec.cc and the
// per-type sections beside it); not part of the spec's public interface.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace align::spec_fields {

template <typename E>
using NameTable = std::vector<std::pair<absl::string_view, E>>;

template <typename E>
std::string NamesOf(const NameTable<E>& table) {
  std::vector<absl::string_view> names;
  for (const auto& [name, value] : table) names.push_back(name);
  return absl::StrJoin(names, ", ");
}

// " (line N)" for a node that knows where it came from; empty otherwise.
std::string LineOf(const YAML::Node& node);

// One YAML mapping of the spec. The constructor rejects duplicate and unknown
// keys up front, so a misspelled option is reported as such rather than as a
// missing required field; getters leave the default in place when a key is absent.
class Fields {
 public:
  static absl::StatusOr<Fields> Of(const YAML::Node& node, std::string path,
                                   const std::vector<std::string>& known) {
    const std::string where = path.empty() ? "job spec" : path;
    if (!node.IsMap()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": expected a mapping of fields", LineOf(node)));
    }
    Fields fields(std::move(path));
    std::vector<std::string> unknown;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": field names must be plain strings", LineOf(it->first)));
      }
      const std::string key = it->first.Scalar();
      if (fields.entries_.count(key) != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(fields.Path(key), ": duplicate field", LineOf(it->first)));
      }
      fields.entries_.emplace(key, Entry{it->first, it->second});
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        unknown.push_back(fields.Path(key) + LineOf(it->first));
      }
    }
    if (!unknown.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown field", unknown.size() > 1 ? "s " : " ",
                                                     absl::StrJoin(unknown, ", "), " (", where,
                                                     " accepts: ", absl::StrJoin(known, ", "), ")"));
    }
    return fields;
  }

  bool Has(const std::string& key) const { return entries_.count(key) != 0; }

  std::string Path(const std::string& key) const {
    return path_.empty() ? key : absl::StrCat(path_, ".", key);
  }

  absl::Status Error(const std::string& key, absl::string_view message) const {
    auto it = entries_.find(key);
    return absl::InvalidArgumentError(
        absl::StrCat(Path(key), ": ", message, it == entries_.end() ? "" : LineOf(it->second.key)));
  }

  absl::Status Require(const std::string& key, absl::string_view why = "") const {
    if (Has(key)) return absl::OkStatus();
    return Error(key, why.empty() ? "required field is missing" : why);
  }

  absl::Status Check(const std::string& key, bool ok, absl::string_view message) const {
    return ok ? absl::OkStatus() : Error(key, message);
  }

  absl::Status String(const std::string& key, std::string* out) const {
    ASSIGN_OR_RETURN(const YAML::Node* node, Scalar(key));
    if (node == nullptr) return absl::OkStatus();
    *out = node->Scalar();
    return absl::OkStatus();
  }

  absl::Status Int(const std::string& key, int64_t* out) const {
    ASSIGN_OR_RETURN(absl::string_view text, NumberText(key));
    if (text.empty()) return absl::OkStatus();
    if (!absl::SimpleAtoi(text, out)) {
      return Error(key, absl::StrCat("expected an integer, got \"", text, "\""));
    }
    return absl::OkStatus();
  }

  absl::Status UInt64(const std::string& key, uint64_t* out) const {
    ASSIGN_OR_RETURN(absl::string_view text, NumberText(key));
    if (text.empty()) return absl::OkStatus();
    if (!absl::SimpleAtoi(text, out)) {
      return Error(key, absl::StrCat("expected an integer in [0, 2^64), got \"", text, "\""));
    }
    return absl::OkStatus();
  }

  absl::Status Double(const std::string& key, double* out) const {
    ASSIGN_OR_RETURN(absl::string_view text, NumberText(key));
    if (text.empty()) return absl::OkStatus();
    double value = 0;
    if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
      return Error(key, absl::StrCat("expected a finite number, got \"", text, "\""));
    }
    *out = value;
    return absl::OkStatus();
  }

  absl::Status Bool(const std::string& key, bool* out) const {
    ASSIGN_OR_RETURN(const YAML::Node* node, Scalar(key));
    if (node == nullptr) return absl::OkStatus();
    const std::string text = absl::AsciiStrToLower(node->Scalar());
    if (node->Tag() != "!" && (text == "true" || text == "false")) {
      *out = text == "true";
      return absl::OkStatus();
    }
    return Error(key, absl::StrCat("expected true or false, got \"", node->Scalar(), "\""));
  }

  template <typename E>
  absl::Status Enum(const std::string& key, const NameTable<E>& table, E* out) const {
    std::string text;
    if (!Has(key)) return absl::OkStatus();
    RETURN_IF_ERROR(String(key, &text));
    for (const auto& [name, value] : table) {
      if (name == text) {
        *out = value;
        return absl::OkStatus();
      }
    }
    return Error(key, absl::StrCat("\"", text, "\" is not one of ", NamesOf(table)));
  }

  // A list of single values; empty when absent or null.
  absl::StatusOr<std::vector<std::string>> StringList(const std::string& key) const {
    auto it = entries_.find(key);
    std::vector<std::string> values;
    if (it == entries_.end() || it->second.value.IsNull()) return values;
    if (!it->second.value.IsSequence()) return Error(key, "expected a list, e.g. [a, b]");
    for (const YAML::Node& item : it->second.value) {
      if (!item.IsScalar()) {
        return Error(key, "expected a list of single values, not of lists or mappings");
      }
      values.push_back(item.Scalar());
    }
    return values;
  }

  // A list of mappings, each read as Fields with the path `key[i]`; empty
  // when absent or null.
  absl::StatusOr<std::vector<Fields>> MappingList(const std::string& key, const std::vector<std::string>& known) const {
    auto it = entries_.find(key);
    std::vector<Fields> items;
    if (it == entries_.end() || it->second.value.IsNull()) return items;
    if (!it->second.value.IsSequence()) return Error(key, "expected a list, e.g. [{...}, {...}]");
    for (size_t i = 0; i < it->second.value.size(); ++i) {
      ASSIGN_OR_RETURN(Fields item, Of(it->second.value[i], absl::StrCat(Path(key), "[", i, "]"), known));
      items.push_back(std::move(item));
    }
    return items;
  }

  // A nested mapping; nullopt when absent or null (the section keeps its defaults).
  absl::StatusOr<std::optional<Fields>> Section(const std::string& key,
                                                const std::vector<std::string>& known) const {
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.value.IsNull()) return std::optional<Fields>();
    if (!it->second.value.IsMap()) {
      return Error(key, "expected a mapping of fields, e.g. {name: value, ...}");
    }
    ASSIGN_OR_RETURN(Fields fields, Of(it->second.value, Path(key), known));
    return std::optional<Fields>(std::move(fields));
  }

 private:
  struct Entry {
    YAML::Node key;
    YAML::Node value;
  };

  explicit Fields(std::string path) : path_(std::move(path)) {}

  // nullptr when absent; an error when present but not a single value.
  absl::StatusOr<const YAML::Node*> Scalar(const std::string& key) const {
    auto it = entries_.find(key);
    if (it == entries_.end()) return nullptr;
    const YAML::Node& value = it->second.value;
    if (value.IsNull()) return Error(key, "has no value");
    if (!value.IsScalar()) return Error(key, "expected a single value, not a list or mapping");
    return &value;
  }

  // Empty when absent. Quoted scalars are strings in YAML, so `lr: "1e-5"` is
  // rejected rather than silently converted: the user may have meant something else.
  absl::StatusOr<absl::string_view> NumberText(const std::string& key) const {
    ASSIGN_OR_RETURN(const YAML::Node* node, Scalar(key));
    if (node == nullptr) return absl::string_view();
    if (node->Tag() == "!") {
      return Error(key, absl::StrCat("expected a number, got the string \"", node->Scalar(), "\""));
    }
    if (node->Scalar().empty()) return Error(key, "has no value");
    return absl::string_view(node->Scalar());
  }

  std::string path_;
  std::map<std::string, Entry> entries_;
};

}  // namespace align::spec_fields
