#pragma once
/// Compiling a parsed profile to the classic-BPF program bwrap takes on `--seccomp FD`.

#include <string>
#include <vector>

#include "paddock/seccomp/profile.hpp"
#include "paddock/util/result.hpp"

namespace paddock::seccomp {

struct CompileOptions {
  /// An errno action whose errno is 0 makes a "denied" call report success; refused unless set.
  bool allow_errno_zero = false;
  /// Kernel version ("MAJOR.MINOR") rules with minKernel are judged against; "" means the
  /// kernel the compiler runs on.
  std::string kernel_version;
};

struct CompiledFilter {
  /// Raw struct sock_filter records (8 bytes each), as bwrap expects them.
  std::string bpf;
  /// Architectures the filter accepts (libseccomp spelling, native first).
  std::vector<std::string> architectures;
  /// One line per thing a person should know: unknown syscall names skipped, rules not applied
  /// because they need capabilities, ignored keys, non-native architectures not filtered.
  std::vector<std::string> warnings;
  /// Lines for a verbose listing: rules not applied by design (capability-gated, other
  /// architecture, kernel version) or redundant (same action as the default).
  std::vector<std::string> notes;
  /// Number of libseccomp rules added.
  std::size_t rules = 0;
};

/// Builds the filter with libseccomp and exports it. Syscalls from an architecture not in the
/// filter get `profile.arch_policy.bad_arch_action` (KILL_PROCESS unless the profile says
/// otherwise). Rules whose includes.caps is non-empty are not applied (workers hold no
/// capabilities). A rule whose args repeat an index is added once per condition (OR);
/// otherwise its conditions are ANDed in one rule. Errors (code "invalid_profile") name the
/// JSON path: errno 0 without allow_errno_zero, a deny rule that an unconditional rule for the
/// same syscall would silently override, libseccomp refusing a rule.
Result<CompiledFilter> compile(const Profile& profile, const CompileOptions& options = {});

/// The running kernel's "MAJOR.MINOR".
std::string running_kernel_version();

}  // namespace paddock::seccomp
