#include "paddock/privsep/protocol.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "paddock/util/fd.hpp"

namespace paddock::privsep {

namespace {

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint32_t get(std::string_view in, std::size_t at, int bytes) {
  std::uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |=
        static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]))
        << (8 * i);
  }
  return v;
}

Error bad(std::string message) { return make_error("bad_message", std::move(message)); }

}  // namespace

std::string_view to_string(Type type) {
  switch (type) {
    case Type::Hello:
      return "hello";
    case Type::LeaseUid:
      return "lease_uid";
    case Type::ReleaseUid:
      return "release_uid";
    case Type::LeasePort:
      return "lease_port";
    case Type::ReleasePort:
      return "release_port";
    case Type::Launch:
      return "launch";
    case Type::Signal:
      return "signal";
    case Type::Kill:
      return "kill";
    case Type::RemoveData:
      return "remove_data";
    case Type::Preflight:
      return "preflight";
    case Type::Reload:
      return "reload";
    case Type::Stats:
      return "stats";
    case Type::Collect:
      return "collect";
    case Type::Bye:
      return "bye";
    case Type::Adopt:
      return "adopt";
    case Type::AdoptFds:
      return "adopt_fds";
    case Type::Handoff:
      return "handoff";
    case Type::LaunchWarm:
      return "launch_warm";
    case Type::Reply:
      return "reply";
    case Type::Started:
      return "started";
    case Type::Relay:
      return "relay";
    case Type::Exited:
      return "exited";
  }
  return "unknown";
}

bool known_type(std::uint16_t raw) { return to_string(static_cast<Type>(raw)) != "unknown"; }

std::string encode(Type type, std::uint32_t id, const nlohmann::json& body) {
  std::string out;
  put32(out, kMagic);
  put16(out, kVersion);
  put16(out, static_cast<std::uint16_t>(type));
  put32(out, id);
  out += body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return out;
}

Result<Message> decode(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes) {
    return bad("message of " + std::to_string(bytes.size()) + " bytes is shorter than its header");
  }
  if (get(bytes, 0, 4) != kMagic) return bad("message does not start with the protocol's magic");
  const auto version = static_cast<std::uint16_t>(get(bytes, 4, 2));
  if (version != kVersion) {
    return bad("protocol version " + std::to_string(version) + " (this side speaks " +
               std::to_string(kVersion) + ")");
  }
  const auto raw_type = static_cast<std::uint16_t>(get(bytes, 6, 2));
  if (!known_type(raw_type)) return bad("unknown message type " + std::to_string(raw_type));
  Message m;
  m.type = static_cast<Type>(raw_type);
  m.id = get(bytes, 8, 4);
  m.body = nlohmann::json::parse(bytes.substr(kHeaderBytes), nullptr, false);
  if (m.body.is_discarded())
    return bad("the body of a " + std::string(to_string(m.type)) +
               " message is not valid JSON (truncated?)");
  if (!m.body.is_object()) {
    return bad("the body of a " + std::string(to_string(m.type)) + " message is not an object");
  }
  return m;
}

Result<void> send_message(int sock, Type type, std::uint32_t id, const nlohmann::json& body,
                          const std::vector<int>& fds, std::size_t max_bytes) {
  const std::string bytes = encode(type, id, body);
  if (bytes.size() > max_bytes) {
    return make_error("too_large", "a " + std::string(to_string(type)) + " message of " +
                                       std::to_string(bytes.size()) +
                                       " bytes is over the limit of " + std::to_string(max_bytes));
  }
  if (fds.size() > kMaxFds) return make_error("too_large", "too many descriptors in one message");
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (!fds.empty()) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0) return {};
    if (errno == EINTR) continue;
    return make_error("io", "sendmsg to the " +
                                std::string(type >= Type::Reply ? "daemon" : "spawner") + ": " +
                                util::errno_name(errno));
  }
}

Result<Received> receive_message(int sock, std::size_t max_bytes, Message& out) {
  // One buffer per thread, kept: a reply may be up to a megabyte, and allocating and zeroing
  // that for every message was most of what a small message cost to receive.
  static thread_local std::unique_ptr<char[]> buf;
  static thread_local std::size_t buf_size = 0;
  if (buf_size < max_bytes + 1) {
    buf.reset(new char[max_bytes + 1]);
    buf_size = max_bytes + 1;
  }
  iovec iov{buf.get(), max_bytes + 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * (kMaxFds + 1))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Received::WouldBlock;
    if (errno == ECONNRESET) return Received::Closed;
    return make_error("io", "recvmsg: " + util::errno_name(errno));
  }
  std::vector<util::UniqueFd> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (n == 0 && fds.empty()) return Received::Closed;
  if ((msg.msg_flags & MSG_CTRUNC) != 0 || fds.size() > kMaxFds) {
    return bad("message with more than " + std::to_string(kMaxFds) + " descriptors");
  }
  if ((msg.msg_flags & MSG_TRUNC) != 0 || static_cast<std::size_t>(n) > max_bytes) {
    return bad("message longer than the limit of " + std::to_string(max_bytes) + " bytes");
  }
  auto decoded = decode(std::string_view(buf.get(), static_cast<std::size_t>(n)));
  if (!decoded) return decoded.error();
  out = std::move(*decoded);
  out.fds = std::move(fds);
  return Received::Message;
}

nlohmann::json ok_body(nlohmann::json fields) {
  fields["ok"] = true;
  return fields;
}

nlohmann::json error_body(const Error& e) {
  return {{"ok", false}, {"error", {{"code", e.code}, {"message", e.message}, {"field", e.field}}}};
}

Result<void> reply_status(const nlohmann::json& body) {
  const auto ok = body.find("ok");
  if (ok == body.end() || !ok->is_boolean()) return bad("a reply without \"ok\"");
  if (ok->get<bool>()) return {};
  const auto e = body.find("error");
  if (e == body.end() || !e->is_object()) return bad("a failed reply without \"error\"");
  // A code or message that is missing, empty or not a string still reads as a refusal.
  const auto text = [&](const char* key, const char* fallback) {
    const auto v = e->find(key);
    return v != e->end() && v->is_string() && !v->get<std::string>().empty()
               ? v->get<std::string>()
               : std::string(fallback);
  };
  return make_error(text("code", "spawn_failed"), text("message", "the spawner refused"),
                    text("field", ""));
}

bool valid_worker_id(std::string_view id) {
  if (id.size() != 24 || (id[0] != 'w' && id[0] != 'r') || id[1] != '-') return false;
  for (char c : id.substr(2)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace paddock::privsep
