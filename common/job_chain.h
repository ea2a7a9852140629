#pragma once
// Several jobs submitted together: the YAML documents of one file ('---'
// between them), each a job spec (job_spec.h) that its `name:` identifies
// within the submission. A job waits for the jobs its `after:` names (other
// documents of the submission, or existing jobs by id), and a string value
// may refer to another document's paths as ${jobs.<name>.output} (also
// .dataset and .model): the reference becomes that job's path, resolved
// against the submission's base directory, and the job waits for that job
// too. alignctl checks a file with this before it sends it; the coordinator
// checks the documents again and stores the jobs (docs/job-spec.md, "Job
// chains").

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/job_spec.h"

namespace align {

namespace chain_limits {
// Documents in one submission; together they are at most spec_limits::kMaxSpecBytes.
inline constexpr int64_t kMaxJobs = 64;
}  // namespace chain_limits

struct ChainJob {
  JobSpec spec;  // references replaced by paths
  // The document as written, or, where it holds references, with each
  // replaced by its path: what the coordinator stores and workers parse.
  std::string spec_yaml;
  // Documents of the submission this job waits for (its `after:` names and
  // the jobs it refers to), by index, ascending.
  std::vector<size_t> after;
  // Existing jobs it waits for, as `after:` names them ("job-000042").
  std::vector<std::string> after_jobs;
};

// A file's documents, split at its '---' lines (and after '...' lines).
// Documents of nothing but blank lines and comments are left out.
std::vector<std::string> SplitYamlDocuments(const std::string& text);

// The jobs of one submission, in the order of `documents`. Errors are
// InvalidArgument and name the document (when there are several) and the
// problem: a spec error, two documents of one name, an `after:` entry that
// names neither a document nor a job id, a reference to an unknown job or
// field, jobs that wait for each other in a cycle (named in order).
absl::StatusOr<std::vector<ChainJob>> ParseJobChain(const std::vector<std::string>& documents,
                                                    const std::string& base_dir);

// How errors name document `index` (0-based) of a submission: `document 2 ("train")`.
std::string ChainDocumentLabel(size_t index, const std::string& name);

// Whether `text` has the form of a job id ("job-" and digits): in `after:`,
// such an entry that names no document refers to an existing job.
bool IsJobIdForm(absl::string_view text);

}  // namespace align
