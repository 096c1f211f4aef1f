#pragma once
// Test helper: runs a command inside a real bwrap sandbox as an unprivileged UID, the way the
// daemon's spawner does (setgroups/setresgid/setresuid, then exec bwrap), optionally with a
// compiled seccomp filter. Kept separate so it can be replaced by the real spawner.

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::test_support {

struct BwrapOptions {
  std::string bwrap = "/usr/bin/bwrap";
  uid_t uid = 60000;
  gid_t gid = 65534;
  /// Compiled filter passed with --seccomp FD; "" runs without one (a control run).
  std::string seccomp_bpf;
  /// (host path, sandbox path) read-only binds on top of /usr, /proc, /dev, /tmp.
  std::vector<std::pair<std::string, std::string>> ro_binds;
  /// Command inside the sandbox.
  std::vector<std::string> argv;
  int timeout_seconds = 60;
};

struct BwrapRun {
  int exit_code = -1;   ///< bwrap's exit status (128+N when the sandboxed command died of N)
  int term_signal = 0;  ///< signal that killed bwrap itself, 0 if it exited
  std::string out;
  std::string err;
  /// The signal that killed the sandboxed command: term_signal, or exit_code-128 for bwrap's
  /// propagated status; 0 when the command exited normally.
  int command_signal() const {
    if (term_signal != 0) return term_signal;
    return exit_code > 128 && exit_code < 128 + 65 ? exit_code - 128 : 0;
  }
};

/// Forks, drops to opts.uid/opts.gid with no supplementary groups, and execs bwrap with
/// --unshare-user --unshare-pid --disable-userns --die-with-parent --new-session --cap-drop ALL,
/// /usr read-only (with /bin, /lib, /lib64 symlinks), fresh /proc, /dev, /tmp. stdin is
/// /dev/null. Collects stdout/stderr until exit; kills the sandbox after the timeout. Needs root.
Result<BwrapRun> run_in_bwrap(const BwrapOptions& opts);

/// The probe's "NAME RESULT" lines as (name, result) pairs, in order.
std::vector<std::pair<std::string, std::string>> parse_probe_lines(const std::string& out);

}  // namespace paddock::test_support
