#include "common/job_chain.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/printable_text.h"
#include "common/status_macros.h"
#include "yaml-cpp/yaml.h"

namespace align {
namespace {

constexpr char kReferenceOpen[] = "${jobs.";
constexpr size_t kReferenceOpenSize = sizeof(kReferenceOpen) - 1;
const std::vector<std::string>& ReferenceFields() {
  static const std::vector<std::string> fields = {"output", "dataset", "model"};
  return fields;
}

// A '---' or '...' line: the marker, then nothing or a space and more.
bool IsMarkerLine(absl::string_view line, absl::string_view marker) {
  if (!absl::StartsWith(line, marker)) return false;
  if (line.size() == marker.size()) return true;
  const char next = line[marker.size()];
  return next == ' ' || next == '\t' || next == '\r';
}

bool HasContent(const std::string& document) {
  for (absl::string_view line : absl::StrSplit(document, '\n')) {
    if (IsMarkerLine(line, "---") || IsMarkerLine(line, "...")) continue;
    const absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (!stripped.empty() && stripped[0] != '#') return true;
  }
  return false;
}

// ${jobs.<name>.<field>} as written in a value.
struct Reference {
  std::string text;
  std::string name;
  std::string field;
};

// The references in `value`; an error for a "${jobs." that does not start one.
absl::StatusOr<std::vector<Reference>> ReferencesIn(const std::string& value) {
  std::vector<Reference> references;
  size_t at = 0;
  while ((at = value.find(kReferenceOpen, at)) != std::string::npos) {
    const size_t close = value.find('}', at);
    const std::string text = value.substr(at, close == std::string::npos ? std::string::npos : close + 1 - at);
    const absl::string_view inner =
        close == std::string::npos
            ? absl::string_view()
            : absl::string_view(value).substr(at + kReferenceOpenSize, close - at - kReferenceOpenSize);
    const size_t dot = inner.rfind('.');
    if (dot == absl::string_view::npos || dot == 0 || dot + 1 == inner.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", EscapeControlCharacters(text.substr(0, 100)),
                       "\" is not a reference (expected ${jobs.<name>.<field>}, field one of ",
                       absl::StrJoin(ReferenceFields(), ", "), ")"));
    }
    references.push_back({text, std::string(inner.substr(0, dot)), std::string(inner.substr(dot + 1))});
    at = close + 1;
  }
  return references;
}

using PathTable = std::map<std::pair<std::string, std::string>, std::string>;  // (name, field) -> path

// `text` with every reference found in `paths` replaced; anything else kept.
std::string SubstitutePaths(const std::string& text, const PathTable& paths) {
  std::string out;
  size_t from = 0;
  size_t at = 0;
  while ((at = text.find(kReferenceOpen, from)) != std::string::npos) {
    const size_t close = text.find('}', at);
    if (close == std::string::npos) break;
    const absl::string_view inner =
        absl::string_view(text).substr(at + kReferenceOpenSize, close - at - kReferenceOpenSize);
    const size_t dot = inner.rfind('.');
    auto path = dot == absl::string_view::npos
                    ? paths.end()
                    : paths.find({std::string(inner.substr(0, dot)), std::string(inner.substr(dot + 1))});
    if (path == paths.end()) {
      out.append(text, from, at + kReferenceOpenSize - from);
      from = at + kReferenceOpenSize;
      continue;
    }
    out.append(text, from, at - from);
    out += path->second;
    from = close + 1;
  }
  out.append(text, from, std::string::npos);
  return out;
}

// Every value scalar of `node` (mapping keys aside), depth first.
absl::Status ForEachValue(const YAML::Node& node, const std::function<absl::Status(const YAML::Node&)>& visit) {
  if (node.IsScalar()) return visit(node);
  if (node.IsSequence()) {
    for (const YAML::Node& item : node) RETURN_IF_ERROR(ForEachValue(item, visit));
  } else if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) RETURN_IF_ERROR(ForEachValue(it->second, visit));
  }
  return absl::OkStatus();
}

// Whether `replaced` is `original` with each scalar's references replaced,
// and nothing else changed: a path put into the text must not change how the
// YAML around it reads (a path with ": " in a plain value would).
bool ReadsAsSubstituted(const YAML::Node& original, const YAML::Node& replaced, const PathTable& paths) {
  if (original.Type() != replaced.Type()) return false;
  if (original.IsScalar()) {
    return replaced.Scalar() == SubstitutePaths(original.Scalar(), paths) && replaced.Tag() == original.Tag();
  }
  if (original.size() != replaced.size()) return false;
  if (original.IsSequence()) {
    for (size_t i = 0; i < original.size(); ++i) {
      if (!ReadsAsSubstituted(original[i], replaced[i], paths)) return false;
    }
  } else if (original.IsMap()) {
    auto a = original.begin();
    auto b = replaced.begin();
    for (; a != original.end() && b != replaced.end(); ++a, ++b) {
      if (!ReadsAsSubstituted(a->first, b->first, paths) || !ReadsAsSubstituted(a->second, b->second, paths)) {
        return false;
      }
    }
  }
  return true;
}

std::string LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? "" : absl::StrCat("line ", mark.line + 1, ": ");
}

class ChainParser {
 public:
  ChainParser(const std::vector<std::string>& documents, const std::string& base_dir)
      : documents_(documents), base_dir_(base_dir) {}

  absl::StatusOr<std::vector<ChainJob>> Parse() {
    RETURN_IF_ERROR(CheckSize());
    jobs_.resize(documents_.size());
    for (size_t i = 0; i < documents_.size(); ++i) {
      absl::StatusOr<JobSpec> spec = ParseJobSpec(documents_[i]);
      if (!spec.ok()) return Error(i, spec.status().message());
      jobs_[i].spec = *std::move(spec);
      jobs_[i].spec_yaml = documents_[i];
    }
    RETURN_IF_ERROR(IndexNames());
    waits_for_.resize(documents_.size());
    references_.resize(documents_.size());
    for (size_t i = 0; i < documents_.size(); ++i) {
      RETURN_IF_ERROR(ResolveAfter(i));
      RETURN_IF_ERROR(FindReferences(i));
    }
    ASSIGN_OR_RETURN(std::vector<size_t> order, DependenciesFirst());
    for (size_t i : order) RETURN_IF_ERROR(ReplaceReferences(i));
    for (size_t i = 0; i < jobs_.size(); ++i) {
      jobs_[i].after.assign(waits_for_[i].begin(), waits_for_[i].end());
    }
    return std::move(jobs_);
  }

 private:
  // Errors name the document only when there are several.
  absl::Status Error(size_t index, absl::string_view message) const {
    if (documents_.size() == 1) return absl::InvalidArgumentError(message);
    const std::string& name = jobs_.size() > index ? jobs_[index].spec.name : std::string();
    return absl::InvalidArgumentError(absl::StrCat(ChainDocumentLabel(index, name), ": ", message));
  }

  absl::Status CheckSize() const {
    if (documents_.empty()) return absl::InvalidArgumentError("the submission holds no job spec");
    if (static_cast<int64_t>(documents_.size()) > chain_limits::kMaxJobs) {
      return absl::InvalidArgumentError(absl::StrCat("the submission holds ", documents_.size(),
                                                     " job specs; at most ", chain_limits::kMaxJobs,
                                                     " are accepted"));
    }
    int64_t bytes = 0;
    for (const std::string& document : documents_) bytes += static_cast<int64_t>(document.size());
    if (documents_.size() > 1 && bytes > spec_limits::kMaxSpecBytes) {
      return absl::InvalidArgumentError(absl::StrCat("the submission's specs are ", bytes, " bytes; at most ",
                                                     spec_limits::kMaxSpecBytes, " are accepted"));
    }
    return absl::OkStatus();
  }

  absl::Status IndexNames() {
    for (size_t i = 0; i < jobs_.size(); ++i) {
      auto [it, added] = index_.emplace(jobs_[i].spec.name, i);
      if (!added) {
        return absl::InvalidArgumentError(absl::StrCat("documents ", it->second + 1, " and ", i + 1,
                                                       " are both named \"", jobs_[i].spec.name,
                                                       "\" (a name identifies one job of a submission)"));
      }
    }
    return absl::OkStatus();
  }

  std::string Names() const {
    std::vector<std::string> names;
    for (const ChainJob& job : jobs_) names.push_back(job.spec.name);
    return absl::StrJoin(names, ", ");
  }

  absl::Status ResolveAfter(size_t i) {
    for (const std::string& entry : jobs_[i].spec.after) {
      if (auto it = index_.find(entry); it != index_.end()) {
        waits_for_[i].insert(it->second);
      } else if (IsJobIdForm(entry)) {
        jobs_[i].after_jobs.push_back(entry);
      } else {
        return Error(i, absl::StrCat("after: \"", entry, "\" is neither a job of this submission (", Names(),
                                     ") nor a job id (e.g. job-000042)"));
      }
    }
    return absl::OkStatus();
  }

  absl::Status FindReferences(size_t i) {
    YAML::Node root;
    try {
      root = YAML::Load(documents_[i]);
    } catch (const YAML::Exception& e) {
      return Error(i, absl::StrCat("not valid YAML: ", e.msg));  // ParseJobSpec read it; not expected
    }
    return ForEachValue(root, [&](const YAML::Node& value) -> absl::Status {
      absl::StatusOr<std::vector<Reference>> found = ReferencesIn(value.Scalar());
      if (!found.ok()) return Error(i, absl::StrCat(LineOf(value), found.status().message()));
      for (const Reference& reference : *found) {
        // What the user wrote inside ${...} may hold anything: escaped in messages.
        const std::string text = EscapeControlCharacters(reference.text);
        auto target = index_.find(reference.name);
        if (target == index_.end()) {
          return Error(i, absl::StrCat(LineOf(value), text, ": no job \"", EscapeControlCharacters(reference.name),
                                       "\" in this submission (jobs: ", Names(), ")"));
        }
        const std::vector<std::string>& fields = ReferenceFields();
        if (std::find(fields.begin(), fields.end(), reference.field) == fields.end()) {
          return Error(i, absl::StrCat(LineOf(value), text, ": \"", EscapeControlCharacters(reference.field),
                                       "\" is not a field a reference can name (", absl::StrJoin(fields, ", "),
                                       ")"));
        }
        if (target->second == i) {
          return Error(i, absl::StrCat(LineOf(value), text, ": a job cannot refer to its own paths"));
        }
        waits_for_[i].insert(target->second);
        references_[i].emplace(reference.name, reference.field);
      }
      return absl::OkStatus();
    });
  }

  // Every document after those it waits for; an error naming the jobs of a cycle.
  absl::StatusOr<std::vector<size_t>> DependenciesFirst() const {
    enum class Mark { kNew, kOnPath, kDone };
    std::vector<Mark> marks(jobs_.size(), Mark::kNew);
    std::vector<size_t> order;
    std::vector<size_t> path;
    std::function<absl::Status(size_t)> visit = [&](size_t i) -> absl::Status {
      marks[i] = Mark::kOnPath;
      path.push_back(i);
      for (size_t next : waits_for_[i]) {
        if (marks[next] == Mark::kOnPath) {
          std::vector<std::string> cycle;
          for (auto it = std::find(path.begin(), path.end(), next); it != path.end(); ++it) {
            cycle.push_back(jobs_[*it].spec.name);
          }
          cycle.push_back(jobs_[next].spec.name);
          return absl::InvalidArgumentError(
              absl::StrCat("jobs wait for each other in a cycle: ", absl::StrJoin(cycle, " -> "),
                           " (each waits for the next, through after: or a ${jobs...} reference)"));
        }
        if (marks[next] == Mark::kNew) RETURN_IF_ERROR(visit(next));
      }
      path.pop_back();
      marks[i] = Mark::kDone;
      order.push_back(i);
      return absl::OkStatus();
    };
    for (size_t i = 0; i < jobs_.size(); ++i) {
      if (marks[i] == Mark::kNew) RETURN_IF_ERROR(visit(i));
    }
    return order;
  }

  // Puts the paths of the jobs document i refers to into its text; those
  // jobs' own references are already replaced (DependenciesFirst).
  absl::Status ReplaceReferences(size_t i) {
    if (references_[i].empty()) return absl::OkStatus();
    PathTable paths;
    for (const auto& [name, field] : references_[i]) {
      const JobSpec& target = jobs_[index_.at(name)].spec;
      const std::string& path = field == "output" ? target.output : field == "dataset" ? target.dataset : target.model;
      // A generate or score job has no dataset; a score or pairs job no model.
      if (path.empty()) {
        return Error(i, absl::StrCat("${jobs.", name, ".", field, "}: job ", name, " (type ",
                                     JobTypeName(target.type), ") has no ", field));
      }
      paths[{name, field}] = ResolveJobPath(path, base_dir_);
    }
    const std::string replaced = SubstitutePaths(documents_[i], paths);
    try {
      if (!ReadsAsSubstituted(YAML::Load(documents_[i]), YAML::Load(replaced), paths)) {
        return Error(i, "with its references replaced by paths the YAML reads differently; quote the values "
                        "that hold them (e.g. model: \"${jobs.train.output}\")");
      }
    } catch (const YAML::Exception& e) {
      return Error(i, absl::StrCat("with its references replaced by paths it is not valid YAML (", e.msg,
                                   "); quote the values that hold them"));
    }
    absl::StatusOr<JobSpec> spec = ParseJobSpec(replaced);
    if (!spec.ok()) return Error(i, absl::StrCat("with its references replaced: ", spec.status().message()));
    jobs_[i].spec = *std::move(spec);
    jobs_[i].spec_yaml = replaced;
    return absl::OkStatus();
  }

  const std::vector<std::string>& documents_;
  const std::string& base_dir_;
  std::vector<ChainJob> jobs_;
  std::map<std::string, size_t> index_;                              // name -> document
  std::vector<std::set<size_t>> waits_for_;                          // by document
  std::vector<std::set<std::pair<std::string, std::string>>> references_;  // (name, field) by document
};

}  // namespace

std::vector<std::string> SplitYamlDocuments(const std::string& text) {
  std::vector<std::string> documents;
  std::string current;
  const auto finish = [&] {
    if (HasContent(current)) documents.push_back(std::move(current));
    current.clear();
  };
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (IsMarkerLine(lines[i], "---")) finish();
    current.append(lines[i].data(), lines[i].size());
    if (i + 1 < lines.size()) current += '\n';
    if (IsMarkerLine(lines[i], "...")) finish();
  }
  finish();
  return documents;
}

absl::StatusOr<std::vector<ChainJob>> ParseJobChain(const std::vector<std::string>& documents,
                                                    const std::string& base_dir) {
  return ChainParser(documents, base_dir).Parse();
}

std::string ChainDocumentLabel(size_t index, const std::string& name) {
  if (name.empty()) return absl::StrCat("document ", index + 1);
  return absl::StrCat("document ", index + 1, " (\"", EscapeControlCharacters(name), "\")");
}

bool IsJobIdForm(absl::string_view text) {
  return absl::ConsumePrefix(&text, "job-") && !text.empty() &&
         std::all_of(text.begin(), text.end(),
                     [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); });
}

}  // namespace align
