#pragma once
// A fresh directory under the system's temp directory, removed with
// everything in it when the object goes out of scope.

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace align::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "align_test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace align::testing
