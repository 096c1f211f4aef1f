// Fuzzes request-body validation: api::parse_json_object, then the worker and run spec readers
// on whatever it accepts. Any exception escaping, sanitizer report or broken invariant is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "paddock/api/json_body.hpp"
#include "paddock/api/worker_json.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  auto parsed = paddock::api::parse_json_object(body, paddock::api::kDefaultJsonDepth);
  if (!parsed) {
    check(!parsed.error().code.empty());
    check(!parsed.error().message.empty());
    return 0;
  }
  // Whatever is accepted is valid UTF-8 and an object.
  check(paddock::api::is_valid_utf8(body));
  check(parsed->is_object());
  auto spec = paddock::api::parse_worker_spec(*parsed);
  if (spec) {
    // No string of an accepted spec may be cut short by a NUL on its way into argv or env.
    for (const auto& arg : spec->command) check(!has_nul(arg));
    for (const auto& [k, v] : spec->env) check(!has_nul(k) && !has_nul(v));
    for (const auto& [k, v] : spec->labels) check(!has_nul(k) && !has_nul(v));
    check(!has_nul(spec->bundle) && !has_nul(spec->name) && !has_nul(spec->profile));
  } else {
    check(!spec.error().code.empty());
  }
  auto run = paddock::api::parse_run_spec(*parsed);
  if (run) {
    for (const auto& arg : run->spec.command) check(!has_nul(arg));
  } else {
    check(!run.error().code.empty());
  }
  // The error body of a refusal is JSON that can be serialised (no invalid UTF-8 echoed back).
  if (!spec) (void)paddock::api::bad_request(spec.error());
  return 0;
}
