#pragma once
/// The privilege drop of the HTTP-facing daemon: the system user it runs as, the files and
/// directories handed over to that user while still root, the drop itself (capabilities,
/// groups, UIDs, no_new_privs) and the daemon's own seccomp filter.
///
/// Order at start, in the daemon process (after the spawner was started and the listeners were
/// bound): lookup_daemon_user → prepare_daemon_files → drop_privileges → install_daemon_seccomp.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::config {
struct Config;
}

namespace paddock::privsep {

/// The account the daemon drops to ([server] user, default "paddock").
struct DaemonUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// Checks an account against what the daemon may run as: not uid 0 nor gid 0, uid outside the
/// worker UID range [worker_first, worker_last], primary gid not the workers' group (workers
/// could otherwise read the daemon's group-readable files, such as the tokens file). Pure.
Result<void> check_daemon_user(const DaemonUser& u, uid_t worker_first, uid_t worker_last,
                               std::optional<gid_t> worker_gid = std::nullopt);

/// Looks the account up with getpwnam_r. A missing account is an error that says how to create
/// it (systemd-sysusers with the package's sysusers.d file, or useradd --system ...).
Result<DaemonUser> lookup_daemon_user(const std::string& name);

/// lookup_daemon_user, then check_daemon_user against the worker range (and worker group).
Result<DaemonUser> lookup_daemon_user(const std::string& name, uid_t worker_first,
                                      uid_t worker_last,
                                      std::optional<gid_t> worker_gid = std::nullopt);

/// lookup_daemon_user for [server] user, checked against [process] worker_uid_range_* and
/// worker_gid.
Result<DaemonUser> lookup_daemon_user(const config::Config& cfg);

/// Whether a process with `uid` and only the group `gid` may do `want` (a mask of 4 read,
/// 2 write, 1 execute/search) on a file with this mode and owner, by the kernel's rule: the
/// owner bits if it owns the file, else the group bits if the group matches, else the other
/// bits. POSIX ACLs are not considered. Pure.
bool permits(mode_t mode, uid_t owner, gid_t group, uid_t uid, gid_t gid, unsigned want);

/// permits(..., 4): the user may read a file with this mode and owner. Pure.
bool readable_by(mode_t mode, uid_t owner, gid_t group, uid_t uid, gid_t gid);

/// Directories handing over must never touch: "/", the top-level system directories and the
/// shared ones below /var and /usr (/var/log, /var/lib, ...). `path` is absolute and
/// lexically normal. Pure.
bool is_shared_system_dir(const std::string& path);

/// The directories the unprivileged daemon writes, from the config, each once: [process]
/// state_dir, [log] worker_log_dir, the directory of [log] audit_log and [bundles] dir (empty
/// keys skipped). Pure.
std::vector<std::string> daemon_writable_dirs(const config::Config& cfg);

/// Run as root, before the drop. For each directory (absolute; lexically normalised):
///  - every component is opened with openat(O_DIRECTORY|O_NOFOLLOW) from "/", so a symlink
///    anywhere in the path is refused (give the real path);
///  - a missing component is created: parents as root:root 0755, the directory itself 0750
///    owned by the user and its primary group;
///  - an existing directory keeps its mode and group; only its owner becomes the user
///    (fchown on the opened fd). It must be owned by root or already by the user; "/", the
///    shared system directories (is_shared_system_dir) and sticky directories are refused;
///  - every parent must be searchable by the user, or the daemon could not reach it after the
///    drop: the error names the parent and its mode.
/// Parents are handled before their children, whatever the order given.
/// Never recursive: files already inside (an older version's logs or bundles) keep their owner;
/// the operator guide says how to hand them over once.
Result<void> hand_over_paths(const std::vector<std::string>& dirs, const DaemonUser& u);

/// Run as root, before the drop, after hand_over_paths: a file the daemon appends to (the audit
/// log), when it exists, becomes owned by the user (fchown on an fd opened without following
/// any symlink). A missing file is fine (the daemon creates it). Refused: not a regular file,
/// owned by a UID other than root or the user, or with more than one hard link.
Result<void> hand_over_file(const std::string& file, const DaemonUser& u);

/// Everything below `dir` (not `dir` itself) that root owns becomes the user's: what an earlier
/// version, which ran the daemon as root, left in a directory the daemon now owns (the bundle
/// store's bundles and its .tmp). Walked without following symlinks (nftw FTW_PHYS, lchown);
/// a regular file with more than one hard link is left alone. Call it before the drop, when no
/// daemon of this service runs. Returns how many entries changed hands.
Result<std::size_t> hand_over_tree(const std::string& dir, const DaemonUser& u);

/// Whether the user will be able to read `file` after the drop (the tokens file): every parent
/// searchable and the file readable by the user with only its primary group. A missing file is
/// fine (no tokens). The error says what to run: chgrp <user> F && chmod 0640 F.
Result<void> check_readable_by(const std::string& file, const DaemonUser& u);

/// hand_over_paths(daemon_writable_dirs(cfg)), hand_over_file([log] audit_log) and
/// check_readable_by([server] token_file): everything the daemon's files need before the drop.
Result<void> prepare_daemon_files(const config::Config& cfg, const DaemonUser& u);

/// Drops the calling process to the user for good. Must run while the process has one thread
/// (bounding set and no_new_privs are per thread): refused otherwise. Steps, each failure an
/// Error naming the step and errno: PR_CAPBSET_DROP for every capability up to
/// /proc/sys/kernel/cap_last_cap (needs CAP_SETPCAP while any is still in the set),
/// PR_CAP_AMBIENT_CLEAR_ALL, setgroups({gid}), setresgid, setresuid, capset(empty); then it
/// verifies: real/effective/saved UID and GID are the user's, the only group is gid, setuid(0)
/// and setgid(0) fail, the effective, permitted and inheritable sets and the bounding set are
/// empty; finally PR_SET_NO_NEW_PRIVS.
Result<void> drop_privileges(const DaemonUser& u);

/// One group of system calls the daemon's filter denies, with the reason.
struct DeniedSyscalls {
  const char* reason;
  std::vector<const char*> names;
  /// The errno the call returns (EPERM; ENOSYS for clone3 so glibc falls back to clone).
  int err;
};

/// The daemon's deny list, one entry per group (docs/security-model.md lists the same).
/// clone with a CLONE_NEW* flag is denied by an argument rule on top of these.
const std::vector<DeniedSyscalls>& daemon_seccomp_denylist();

/// Loads the daemon's seccomp filter (libseccomp): default allow, the deny list above (names this
/// libseccomp does not know are skipped), clone with any CLONE_NEW* flag → EPERM; synchronised
/// to every thread (TSYNC). Sets no_new_privs if not set yet.
Result<void> install_daemon_seccomp();

}  // namespace paddock::privsep
