#pragma once
/// TempDir: a fresh directory under the system's temporary directory (mode 0755, so worker UIDs
/// may search it), removed with everything in it when the object goes.

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace paddock::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "paddock") {
    std::string t = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    path_ = ::mkdtemp(t.data());
    ::chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace paddock::test
