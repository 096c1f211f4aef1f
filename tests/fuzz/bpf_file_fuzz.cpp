// Fuzzes the daemon's start check of a compiled filter: seccomp::inspect_bpf on arbitrary bytes
// (a truncated or corrupted .bpf file must be refused with a message, never crash the check).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "paddock/seccomp/bpf_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto info = paddock::seccomp::inspect_bpf(bytes, "fuzz.bpf");
  if (!info && info.error().message.empty()) __builtin_trap();
  return 0;
}
