#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "paddock/cli/commands.hpp"
#include "paddock/util/atomic_file.hpp"
#include "paddock/util/result.hpp"

extern char** environ;

namespace paddock::cli {

namespace {

constexpr const char* kProfile =
#include "paddock/apparmor_profile.inc"
    ;

constexpr const char* kDefaultTarget = "/etc/apparmor.d";
constexpr const char* kProfileName = "paddockd";

struct InstallArgs {
  std::string target = kDefaultTarget;
  bool no_load = false;
  bool print = false;
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

/// The first executable apparmor_parser in the usual places and $PATH, or "".
std::string find_parser() {
  std::vector<std::string> dirs{"/usr/sbin", "/sbin"};
  if (const char* p = std::getenv("PATH"); p != nullptr) {
    std::stringstream ss(p);
    std::string d;
    while (std::getline(ss, d, ':')) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  for (const auto& d : dirs) {
    const std::string c = d + "/apparmor_parser";
    if (::access(c.c_str(), X_OK) == 0) return c;
  }
  return {};
}

/// Runs `argv`, returns its exit status (or 128+signal), or an Error when it cannot start.
Result<int> run_program(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ);
  if (rc != 0) {
    return make_error("exec", "posix_spawn(" + argv[0] + "): " + std::strerror(rc), argv[0]);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return make_error("wait", "waitpid(" + std::to_string(pid) + "): " + std::strerror(errno));
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run_install(const InstallArgs& a) {
  if (a.print) {
    std::cout << kProfile;
    return 0;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(a.target, ec)) {
    if (a.target == kDefaultTarget) {
      std::cerr << "paddock install-apparmor: " << kDefaultTarget
                << " does not exist: AppArmor is not installed on this host, and nothing needs "
                   "to be done here (the profile only matters where AppArmor restricts user "
                   "namespaces, e.g. Ubuntu 23.10 and later). To write the profile anyway, pass "
                   "--target DIR.\n";
    } else {
      std::cerr << "paddock install-apparmor: --target " << a.target
                << " is not a directory; create it first.\n";
    }
    return 1;
  }
  const std::string path = (fs::path(a.target) / kProfileName).string();
  const std::string profile = kProfile;
  if (read_all(path) == profile) {
    std::cout << path << ": unchanged\n";
  } else {
    // Whatever the umask: AppArmor's loader expects a world-readable profile.
    if (auto w = util::write_file_atomically(path, profile, 0644, /*exact_mode=*/true); !w) {
      std::cerr << "paddock install-apparmor: " << w.error().message << "\n";
      return 1;
    }
    std::cout << path << ": written\n";
  }
  if (a.no_load) {
    std::cout << "not loaded (--no-load); load it with: apparmor_parser -r " << path << "\n";
    return 0;
  }
  if (trimmed(read_all("/sys/module/apparmor/parameters/enabled")) != "Y") {
    std::cout
        << "AppArmor is not enabled in this kernel (/sys/module/apparmor/parameters/enabled); "
           "the profile was not loaded and is not needed on this host.\n";
    return 0;
  }
  const std::string parser = find_parser();
  if (parser.empty()) {
    std::cerr << "paddock install-apparmor: apparmor_parser not found (apt-get install apparmor); "
                 "the profile was written but not loaded. Load it with: apparmor_parser -r "
              << path << "\n";
    return 1;
  }
  auto rc = run_program({parser, "-r", path});
  if (!rc) {
    std::cerr << "paddock install-apparmor: " << rc.error().message << "\n";
    return 1;
  }
  if (*rc != 0) {
    std::cerr << "paddock install-apparmor: " << parser << " -r " << path << " failed (exit " << *rc
              << "); see its message above. The profile needs AppArmor 4 (Ubuntu 24.04 or "
                 "later).\n";
    return 1;
  }
  std::cout << "loaded with " << parser << " -r " << path << "\n";
  const std::string restrict =
      trimmed(read_all("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"));
  if (restrict == "1") {
    std::cout << "kernel.apparmor_restrict_unprivileged_userns=1: paddockd and the bwrap it runs "
                 "may now create user namespaces. Restart paddockd to use it.\n";
  } else {
    std::cout << "kernel.apparmor_restrict_unprivileged_userns is "
              << (restrict.empty() ? "absent" : restrict)
              << ": user namespaces are not restricted here; the profile is harmless.\n";
  }
  return 0;
}

}  // namespace

void add_apparmor_commands(CLI::App& app) {
  auto args = std::make_shared<InstallArgs>();
  auto* cmd = app.add_subcommand(
      "install-apparmor",
      "Write the AppArmor profile that lets paddockd's bwrap create user namespaces "
      "(Ubuntu 23.10+) and load it with apparmor_parser");
  cmd->add_option("--target", args->target, "Directory to write the profile 'paddockd' into")
      ->capture_default_str();
  cmd->add_flag("--no-load", args->no_load, "Only write the file; do not run apparmor_parser");
  cmd->add_flag("--print", args->print, "Print the profile to stdout and do nothing else");
  cmd->callback([args] {
    if (const int rc = run_install(*args); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace paddock::cli
