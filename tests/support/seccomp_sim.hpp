#pragma once
/// A classic-BPF interpreter for seccomp programs, for tests: runs a compiled filter on one
/// system call (architecture, number, arguments) and returns what the kernel would act on
/// (SECCOMP_RET_*). It checks the program as it goes and fails the run (returns
/// SECCOMP_RET_KILL_PROCESS with `error` set) on anything the kernel would refuse.

#include <cstdint>
#include <string>
#include <string_view>

namespace paddock::test {

struct SimulatedCall {
  std::uint32_t arch = 0;  ///< AUDIT_ARCH_* (libseccomp's SCMP_ARCH_* have the same values)
  int nr = 0;
  std::uint64_t args[6] = {0, 0, 0, 0, 0, 0};
};

/// The filter's return value for `call`; `error` gets a message on a malformed program.
std::uint32_t simulate_seccomp(std::string_view bpf, const SimulatedCall& call,
                               std::string* error = nullptr);

}  // namespace paddock::test
