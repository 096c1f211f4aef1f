#pragma once
/// Checks on compiled filters: what the daemon runs at start on [process] seccomp_profile and
/// what `paddock seccomp inspect` prints.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/util/result.hpp"

namespace paddock::seccomp {

struct BpfInfo {
  std::size_t size = 0;          ///< bytes
  std::size_t instructions = 0;  ///< size / 8
  std::string sha256;            ///< lower-case hex of the file's bytes
  /// Audit architectures the program compares seccomp_data.arch against ("x86_64", "x86", ...).
  /// x32 has no audit arch of its own (it shares x86_64's and is told apart by the syscall
  /// number), so it never appears here.
  std::vector<std::string> architectures;
};

/// Checks raw BPF bytes: non-empty, a multiple of 8 bytes, at most 4096 instructions, ending in
/// a return. `what` names the source in messages (a path).
Result<BpfInfo> inspect_bpf(std::string_view bytes, const std::string& what);

/// Reads and checks a compiled filter file. Missing, unreadable, empty, size % 8 != 0, too
/// long or not ending in a return: an Error (code "invalid_seccomp_profile", field = path)
/// whose message says what is wrong and how to fix it.
Result<BpfInfo> validate_bpf_file(const std::string& path);

}  // namespace paddock::seccomp
