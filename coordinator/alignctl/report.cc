// alignctl report ID|PATH [--json]: an evaluate job's report as a table.
//
// The coordinator does not serve the report: like every output of a job it
// is on the storage shared with the workers, at <output>/report.json. Given a
// job id, alignctl asks the coordinator for the job (GetJob), resolves its
// spec's output against the job's base directory as the workers did, and
// reads the file there; given a report.json or an evaluate job's output
// directory, it reads that without a coordinator.

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/evaluation/evaluation_report.h"
#include "common/file_util.h"
#include "common/job_spec.h"
#include "coordinator/alignctl/job_commands.h"

namespace align::alignctl {
namespace {

struct ReportOptions {
  std::string target;
  bool json = false;
};

// The report.json `target` names when it is a path; empty otherwise.
std::string ReportPathOf(const std::string& target) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(target, ec)) return target;
  const std::string inside = (std::filesystem::path(target) / evaluation::kReportFile).string();
  if (std::filesystem::is_directory(target, ec) && std::filesystem::exists(inside, ec)) return inside;
  return "";
}

int RunReport(const ReportOptions& options, const ClientOptions& client_options, std::ostream& out,
              std::ostream& err) {
  std::string path = ReportPathOf(options.target);
  if (path.empty()) {
    int exit_code = 0;
    std::unique_ptr<CoordinatorClient> client = ConnectOrReport(client_options, "report", err, &exit_code);
    if (client == nullptr) return exit_code;
    v1::GetJobRequest request;
    request.set_job_id(options.target);
    v1::GetJobResponse response;
    const grpc::Status status = client->jobs().GetJob(client->NewContext(true).get(), request, &response);
    if (!status.ok()) return client->ReportError("report", status, err);
    absl::StatusOr<JobSpec> spec = ParseJobSpec(response.job().spec_yaml());
    if (!spec.ok()) {
      err << "alignctl report: " << options.target << ": its spec does not parse: " << spec.status().message() << "\n";
      return 1;
    }
    if (spec->type != JobType::kEvaluate) {
      err << "alignctl report: " << options.target << " is a " << JobTypeName(spec->type)
          << " job; reports are an evaluate job's\n";
      return kExitUsage;
    }
    path = (std::filesystem::path(ResolveJobPaths(*spec, response.job().base_dir()).output) / evaluation::kReportFile)
               .string();
  }
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    err << "alignctl report: " << path << ": " << text.status().message()
        << " (the report is written when the job succeeds; it must be on storage this machine sees)\n";
    return 1;
  }
  if (options.json) {
    out << *text;
    return 0;
  }
  absl::StatusOr<evaluation::EvaluationFigures> figures = evaluation::ParseReport(*text);
  if (!figures.ok()) {
    err << "alignctl report: " << path << ": " << figures.status().message() << "\n";
    return 1;
  }
  out << evaluation::FormatReportTable(*figures);
  return 0;
}

}  // namespace

Subcommand AddReportCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand("report", "Show an evaluate job's report as a table");
  cmd->add_option("job", options->target, "Job id (job-000042), or a report.json or evaluate output directory")
      ->required();
  cmd->add_flag("--json", options->json, "Print report.json as it is");
  return {cmd, [options, client] { return RunReport(*options, *client, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
