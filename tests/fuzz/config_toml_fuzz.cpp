// Fuzzes configuration loading: config::load_from_string on arbitrary text, with host facts
// fixed so the result depends on the input only.
#include <cstddef>
#include <cstdint>
#include <string>

#include "paddock/config/loader.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

const paddock::config::HostFacts& host() {
  static const paddock::config::HostFacts facts = [] {
    paddock::config::HostFacts h;
    h.accounts = {{"root", 0}, {"daemon", 1}, {"nobody", 65534}, {"paddock", 998}};
    h.executables = {"/usr/bin/bwrap"};
    h.check_executables = false;
    return h;
  }();
  return facts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const paddock::config::Environment env;
  auto result = paddock::config::load_from_string(text, "fuzz.toml", env, host());
  // Either a config or at least one error that says something, never both.
  check(result.ok() == result.errors.empty());
  for (const auto& e : result.errors) check(!e.to_string().empty());
  if (result.ok()) {
    // An accepted config passes its own validation again.
    check(paddock::config::validate(*result.config, host()).empty());
    check(result.config->process.worker_uid_range_start <=
          result.config->process.worker_uid_range_end);
  }
  return 0;
}
