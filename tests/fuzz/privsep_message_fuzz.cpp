// Fuzzes the spawner protocol's decoding: privsep::decode on arbitrary datagrams, then what the
// spawner reads from a launch request (the API's strict spec parser) and a reply's status. Any
// exception escaping, sanitizer report or broken invariant is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "paddock/api/worker_json.hpp"
#include "paddock/privsep/protocol.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto m = paddock::privsep::decode(bytes);
  if (!m) {
    check(m.error().code == "bad_message");
    check(!m.error().message.empty());
    return 0;
  }
  check(m->body.is_object());
  check(paddock::privsep::known_type(static_cast<std::uint16_t>(m->type)));
  // What decodes encodes back to something that decodes to the same message.
  const std::string again = paddock::privsep::encode(m->type, m->id, m->body);
  auto m2 = paddock::privsep::decode(again);
  check(static_cast<bool>(m2) && m2->type == m->type && m2->id == m->id && m2->body == m->body);
  if (m->type == paddock::privsep::Type::Launch) {
    if (auto spec = m->body.find("spec"); spec != m->body.end() && spec->is_object()) {
      auto parsed = paddock::api::parse_worker_spec(*spec);
      if (!parsed) check(!parsed.error().code.empty());
    }
  }
  if (m->type == paddock::privsep::Type::Reply) {
    auto st = paddock::privsep::reply_status(m->body);
    if (!st) check(!st.error().code.empty());
  }
  if (auto id = m->body.find("worker_id"); id != m->body.end() && id->is_string()) {
    (void)paddock::privsep::valid_worker_id(id->get<std::string>());
  }
  return 0;
}
