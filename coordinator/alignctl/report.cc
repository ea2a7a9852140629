// alignctl report ID|PATH... [--json] [--plot FILE]: evaluate jobs' reports as
// tables, and their checkpoints' reward-diversity trade-off as one chart.
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
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/evaluation/evaluation_report.h"
#include "common/evaluation/tradeoff_plot.h"
#include "common/file_util.h"
#include "common/imaging/encode_image.h"
#include "common/job_spec.h"
#include "coordinator/alignctl/job_commands.h"

namespace align::alignctl {
namespace {

struct ReportOptions {
  std::vector<std::string> targets;
  bool json = false;
  std::string plot_path;
};

// The report.json `target` names when it is a path; empty otherwise.
std::string ReportPathOf(const std::string& target) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(target, ec)) return target;
  const std::string inside = (std::filesystem::path(target) / evaluation::kReportFile).string();
  if (std::filesystem::is_directory(target, ec) && std::filesystem::exists(inside, ec)) return inside;
  return "";
}

// A report found: where its file is and its name on a trade-off plot (the
// job's name, or the folder holding report.json).
struct FoundReport {
  std::string path;
  std::string label;
};

// 0 with `found` filled, or the exit code after saying why not.
int FindReport(const std::string& target, const ClientOptions& client_options, std::ostream& err,
               FoundReport* found) {
  found->path = ReportPathOf(target);
  if (!found->path.empty()) {
    found->label = std::filesystem::absolute(found->path).parent_path().filename().string();
    return 0;
  }
  int exit_code = 0;
  std::unique_ptr<CoordinatorClient> client = ConnectOrReport(client_options, "report", err, &exit_code);
  if (client == nullptr) return exit_code;
  v1::GetJobRequest request;
  request.set_job_id(target);
  v1::GetJobResponse response;
  const grpc::Status status = client->jobs().GetJob(client->NewContext(true).get(), request, &response);
  if (!status.ok()) return client->ReportError("report", status, err);
  absl::StatusOr<JobSpec> spec = ParseJobSpec(response.job().spec_yaml());
  if (!spec.ok()) {
    err << "alignctl report: " << target << ": its spec does not parse: " << spec.status().message() << "\n";
    return 1;
  }
  if (spec->type != JobType::kEvaluate) {
    err << "alignctl report: " << target << " is a " << JobTypeName(spec->type)
        << " job; reports are an evaluate job's\n";
    return kExitUsage;
  }
  found->path =
      (std::filesystem::path(ResolveJobPaths(*spec, response.job().base_dir()).output) / evaluation::kReportFile)
          .string();
  found->label = spec->name;
  return 0;
}

int RunReport(const ReportOptions& options, const ClientOptions& client_options, std::ostream& out,
              std::ostream& err) {
  if (options.json && options.targets.size() > 1) {
    err << "alignctl report: --json prints one report; " << options.targets.size() << " were named\n";
    return kExitUsage;
  }
  std::vector<evaluation::LabelledReport> reports;
  for (const std::string& target : options.targets) {
    FoundReport found;
    if (const int code = FindReport(target, client_options, err, &found); code != 0) return code;
    absl::StatusOr<std::string> text = ReadFileToString(found.path);
    if (!text.ok()) {
      err << "alignctl report: " << found.path << ": " << text.status().message()
          << " (the report is written when the job succeeds; it must be on storage this machine sees)\n";
      return 1;
    }
    if (options.json) {
      out << *text;
      return 0;
    }
    absl::StatusOr<evaluation::EvaluationFigures> figures = evaluation::ParseReport(*text);
    if (!figures.ok()) {
      err << "alignctl report: " << found.path << ": " << figures.status().message() << "\n";
      return 1;
    }
    if (options.targets.size() > 1) out << (reports.empty() ? "" : "\n") << "== " << target << " (" << found.label << ")\n";
    out << evaluation::FormatReportTable(*figures);
    reports.push_back({found.label, *std::move(figures)});
  }
  if (options.plot_path.empty()) return 0;
  absl::StatusOr<plot::Chart> chart = evaluation::RenderTradeoffPlot(reports);
  absl::StatusOr<std::string> png = chart.ok() ? imaging::EncodePng(chart->image) : chart.status();
  const absl::Status written = png.ok() ? WriteFileAtomically(options.plot_path, *png) : png.status();
  if (!written.ok()) {
    err << "alignctl report: --plot " << options.plot_path << ": " << written.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

Subcommand AddReportCommand(CLI::App& app, std::shared_ptr<ClientOptions> client) {
  auto options = std::make_shared<ReportOptions>();
  CLI::App* cmd = app.add_subcommand("report", "Show evaluate jobs' reports as tables; plot their trade-off");
  cmd->add_option("jobs", options->targets,
                  "Job ids (job-000042), or report.json files or evaluate output directories")
      ->required();
  cmd->add_flag("--json", options->json, "Print report.json as it is (one job)");
  cmd->add_option("--plot", options->plot_path,
                  "Write a PNG of mean reward against diversity, every checkpoint of every report named");
  return {cmd, [options, client] { return RunReport(*options, *client, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
