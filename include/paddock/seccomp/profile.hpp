#pragma once
/// Seccomp profiles in the Docker/OCI JSON format, parsed into a plain model.
///
/// Accepted top-level keys: defaultAction, defaultErrnoRet, architectures, archMap, syscalls,
/// flags (ignored with a warning), comment, and the paddock extension object "paddock"
/// (badArchAction, badArchErrnoRet, filterNonNativeArches; see docs/security-model.md).
/// Anything else is an error that names the JSON path of the offending value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::seccomp {

/// What the filter does with a matching call (the SCMP_ACT_* names of the format).
enum class ActionKind { Allow, Errno, KillThread, KillProcess, Trap, Trace, Log };

struct Action {
  ActionKind kind = ActionKind::Errno;
  /// errnoRet for Errno (absent: EPERM), the tracer's message for Trace.
  std::optional<std::uint32_t> ret;
};

/// The SCMP_CMP_* comparison operators.
enum class Op { NotEqual, LessThan, LessEqual, Equal, GreaterEqual, GreaterThan, MaskedEqual };

/// One argument comparison. For MaskedEqual, `value` is the mask and `value_two` the datum
/// ((arg & value) == value_two), as in the Docker format.
struct ArgCondition {
  unsigned index = 0;  ///< 0..5
  std::uint64_t value = 0;
  std::uint64_t value_two = 0;
  Op op = Op::Equal;
};

/// includes/excludes of a rule.
struct RuleFilter {
  std::vector<std::string> caps;    ///< CAP_* names
  std::vector<std::string> arches;  ///< Go-style names ("amd64", "x32", ...)
  std::string min_kernel;           ///< "MAJOR.MINOR" or ""
  bool empty() const { return caps.empty() && arches.empty() && min_kernel.empty(); }
};

struct SyscallRule {
  std::vector<std::string> names;
  Action action;
  std::vector<ArgCondition> args;
  RuleFilter includes;
  RuleFilter excludes;
  std::string path;  ///< JSON path of the entry, e.g. "syscalls[3]", for messages
};

/// Handling of system calls made through an ABI other than the native one (x32 and i386 on
/// x86_64). By default they are killed; `filter_non_native` instead adds the non-native
/// architectures the profile lists to the filter, so the same rules apply to them.
struct ArchPolicy {
  Action bad_arch_action{ActionKind::KillProcess, std::nullopt};
  bool filter_non_native = false;
};

struct Profile {
  Action default_action;
  /// Architectures named in "architectures", libseccomp spelling ("x86_64", "x32", ...).
  std::vector<std::string> architectures;
  /// archMap entries: the main architecture and its sub-architectures, libseccomp spelling.
  std::vector<std::pair<std::string, std::vector<std::string>>> arch_map;
  std::vector<SyscallRule> syscalls;
  ArchPolicy arch_policy;
  /// "paddock": {"unknownSyscallErrnoRet": N}: system calls the compiling libseccomp does not
  /// know on the native architecture (numbers above the highest it knows, and gaps below it)
  /// fail with errno N instead of the default action. ENOSYS (38) lets programs that probe
  /// newer calls fall back. Unset: they get the default action, as in Docker's format.
  std::optional<std::uint32_t> unknown_syscall_errno;
  /// Things that parsed but are ignored (e.g. "flags"); the compiler adds its own.
  std::vector<std::string> warnings;
};

/// Parses a profile. Errors have code "invalid_profile", `field` set to the JSON path and a
/// message that starts with that path, e.g.
/// "syscalls[3].args[0].op: unknown op 'SCMP_CMP_FOO' (expected one of SCMP_CMP_NE, ...)".
/// Syscall names are not checked here (the compiler skips unknown ones with a warning).
Result<Profile> parse_profile(std::string_view json_text);

/// Reads and parses a profile file; a file that cannot be read is an error naming the path.
Result<Profile> load_profile(const std::string& path);

/// "SCMP_ACT_ERRNO" etc. for messages.
std::string action_name(ActionKind kind);

/// "SCMP_CMP_EQ" etc. for messages.
std::string op_name(Op op);

}  // namespace paddock::seccomp
