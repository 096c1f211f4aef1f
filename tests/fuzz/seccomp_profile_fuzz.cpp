// Fuzzes seccomp profiles: seccomp::parse_profile on arbitrary text and, for what parses,
// compile() with libseccomp. A compiled filter must be one the daemon's own start check
// (inspect_bpf) accepts.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "paddock/seccomp/bpf_file.hpp"
#include "paddock/seccomp/compile.hpp"
#include "paddock/seccomp/profile.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto profile = paddock::seccomp::parse_profile(text);
  if (!profile) {
    check(profile.error().code == "invalid_profile");
    check(!profile.error().message.empty());
    return 0;
  }
  paddock::seccomp::CompileOptions options;
  options.kernel_version = "6.1";  // fixed, so a crash reproduces on any host
  auto compiled = paddock::seccomp::compile(*profile, options);
  if (!compiled) {
    check(!compiled.error().message.empty());
    return 0;
  }
  check(!compiled->bpf.empty() && compiled->bpf.size() % 8 == 0);
  auto info = paddock::seccomp::inspect_bpf(compiled->bpf, "fuzz.bpf");
  check(info.ok());
  return 0;
}
