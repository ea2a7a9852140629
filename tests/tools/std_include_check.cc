// std_include_check: fails when a project source file uses a standard-library facility without
// including its header (tests/tools/std_includes.h says why and how).
//   std_include_check [--fix] ROOT [SUBDIR...]
// Checks *.h, *.cc, *.cu and *.cuh under ROOT/SUBDIR (default: common worker coordinator tests),
// skipping data folders. A .cc file may rely on what its own header (same folder, same stem,
// .h) includes. --fix adds the missing includes instead of failing. Exit 0 when clean, 1 when
// something is missing, 2 on bad arguments or unreadable files.

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "tests/tools/std_includes.h"

namespace fs = std::filesystem;

namespace {

bool ReadFile(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

bool IsSource(const fs::path& path) {
  const std::string ext = path.extension().string();
  return ext == ".h" || ext == ".cc" || ext == ".cu" || ext == ".cuh";
}

// Folders that hold data or fuzz inputs, not sources.
bool IsSkippedDir(const fs::path& path) {
  const std::string name = path.filename().string();
  return name == "data" || name == "corpus" || name.rfind('.', 0) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool fix = false;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--fix") fix = true;
    else if (arg.rfind("--", 0) == 0) {
      std::cerr << "std_include_check: unknown option " << arg << "\n";
      return 2;
    } else {
      args.push_back(arg);
    }
  }
  if (args.empty()) {
    std::cerr << "usage: std_include_check [--fix] ROOT [SUBDIR...]\n";
    return 2;
  }
  const fs::path root = args[0];
  std::vector<std::string> subdirs(args.begin() + 1, args.end());
  if (subdirs.empty()) subdirs = {"common", "worker", "coordinator", "tests"};

  std::vector<fs::path> files;
  for (const std::string& sub : subdirs) {
    const fs::path dir = root / sub;
    std::error_code ec;
    if (fs::is_regular_file(dir, ec)) {
      files.push_back(dir);
      continue;
    }
    if (!fs::is_directory(dir, ec)) {
      std::cerr << "std_include_check: " << dir.string() << " is not a folder or file\n";
      return 2;
    }
    for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (ec) break;
      if (it->is_directory() && IsSkippedDir(it->path())) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file() && IsSource(it->path())) files.push_back(it->path());
    }
    if (ec) {
      std::cerr << "std_include_check: cannot list " << dir.string() << ": " << ec.message() << "\n";
      return 2;
    }
  }

  int missing_count = 0;
  int fixed_files = 0;
  for (const fs::path& file : files) {
    std::string source;
    if (!ReadFile(file, &source)) {
      std::cerr << "std_include_check: cannot read " << file.string() << "\n";
      return 2;
    }
    std::set<std::string> from_own_header;
    if (file.extension() == ".cc" || file.extension() == ".cu") {
      fs::path own = file;
      own.replace_extension(".h");
      std::string header;
      if (fs::exists(own) && ReadFile(own, &header)) {
        from_own_header = align::tools::IncludedStdHeaders(header);
      }
    }
    const auto missing = align::tools::FindMissingStdIncludes(source, from_own_header);
    if (missing.empty()) continue;
    if (fix) {
      std::set<std::string> headers;
      for (const auto& m : missing) headers.insert(m.header);
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out << align::tools::AddStdIncludes(source, headers);
      if (!out) {
        std::cerr << "std_include_check: cannot write " << file.string() << "\n";
        return 2;
      }
      ++fixed_files;
      continue;
    }
    for (const auto& m : missing) {
      std::cout << fs::relative(file, root).string() << ":" << m.line << ": uses '" << m.symbol
                << "' without #include <" << m.header << ">\n";
      ++missing_count;
    }
  }
  if (fix) {
    std::cout << "std_include_check: added includes to " << fixed_files << " of " << files.size()
              << " files\n";
    return 0;
  }
  if (missing_count > 0) {
    std::cout << "std_include_check: " << missing_count << " missing standard includes in "
              << files.size() << " files; include what you use (std_include_check --fix adds them)\n";
    return 1;
  }
  std::cout << "std_include_check: " << files.size() << " files include what they use\n";
  return 0;
}
