#pragma once
/// Small host-side fixtures for network isolation tests: listeners a worker must not reach, the
/// cgroup of a process, and a shell command's status and output.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "paddock/util/fd.hpp"

namespace paddock::test {

/// A TCP listener on the host's 127.0.0.1 (an ephemeral port); fd is empty when it failed.
struct HostListener {
  util::UniqueFd fd;
  std::uint16_t port = 0;
  HostListener();
};

/// A listening unix socket in the host's abstract namespace (tied to the host's network
/// namespace); fd is empty when it failed.
struct AbstractListener {
  util::UniqueFd fd;
  std::string name;
  explicit AbstractListener(std::string n);
};

/// The "0::" (cgroup v2) path of a process, "" when it has none.
std::string v2_cgroup_of(pid_t pid);

/// Runs `cmd` with /bin/sh (stderr merged into stdout); returns its exit status (128+N for a
/// signal, -1 when it could not run) and its output in `out` when given.
int run_shell(const std::string& cmd, std::string* out = nullptr);

}  // namespace paddock::test
