#pragma once
// Helpers for tests that start real sandboxes: a temporary daemon layout, a seccomp program,
// running a worker to completion.

#include <sys/types.h>

#include <chrono>
#include <string>

#include "paddock/config/config.hpp"
#include "paddock/sandbox/profile.hpp"
#include "paddock/spawn/spawn.hpp"

namespace paddock::testsupport {

/// A temporary directory tree laid out like a daemon's: etc/ (config file and token file, both
/// world-readable so only the mount rules keep them out), state/, state/data/, run/, log/,
/// bundles/app/ (with hello.txt). Removed on destruction.
class DaemonLayout {
 public:
  DaemonLayout();
  ~DaemonLayout();
  DaemonLayout(const DaemonLayout&) = delete;
  DaemonLayout& operator=(const DaemonLayout&) = delete;

  const std::string& root() const { return root_; }
  std::string path(const std::string& rel) const { return root_ + "/" + rel; }
  /// A Config pointing at this layout, with worker UIDs [first_uid, first_uid + count - 1].
  config::Config config(uid_t first_uid, uid_t count) const;

 private:
  std::string root_;
};

/// The seccomp program used by the tests: ${PADDOCK_BINARY_DIR}/profiles/seccomp/default.bpf
/// when the build produced one, else a small program generated here with libseccomp (allow
/// everything, EPERM for kexec_load and acct), which is enough for bwrap to install a filter.
std::string test_seccomp_bpf();

/// The profile named `name` from the source tree's profiles/sandbox/.
sandbox::SandboxProfile source_profile(const std::string& name);

/// What a finished worker left behind.
struct Finished {
  std::string out;
  std::string err;
  int exit_status = -1;  ///< bwrap's exit code (which is the workload's), or 128+signal
};

/// Reads stdout and stderr to EOF and reaps the child through its pidfd.
Finished run_to_end(spawn::Spawned& s, std::chrono::seconds timeout = std::chrono::seconds(30));

/// Kills bwrap (SIGKILL through the pidfd), then every process of `uid` (when not 0), and reaps
/// bwrap.
void kill_and_reap(spawn::Spawned& s, uid_t uid);

/// The contents of a small file, "" when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace paddock::testsupport
