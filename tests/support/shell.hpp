#pragma once
/// Running a shell command line from a test (popen), with its exit code and combined output.

#include <string>

namespace paddock::test {

struct ShellResult {
  int code = -1;       ///< exit code; 128 + signal when killed
  std::string output;  ///< stdout and stderr together
};

/// Runs `cmd` with /bin/sh, stderr merged into stdout, and waits for it.
ShellResult run_shell(const std::string& cmd);

}  // namespace paddock::test
