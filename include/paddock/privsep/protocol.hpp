#pragma once
/// The spawner protocol: what the unprivileged daemon and the privileged spawner say to each
/// other over their socketpair (AF_UNIX, SOCK_SEQPACKET: one message per datagram, so a message
/// is never split or merged).
///
/// A message is a 12-byte header (magic "PDKS", version, type, request id; little-endian) and a
/// JSON object. Descriptors travel beside it as SCM_RIGHTS. Every request the daemon sends
/// carries names and limits only, never a UID, an argv for bwrap, a mount source or a cgroup
/// path; the spawner checks each one against its own config as if it came from an attacker.
/// A request with id 0 gets no reply; any other id gets exactly one Reply with that id.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/util/fd.hpp"
#include "paddock/util/result.hpp"

namespace paddock::privsep {

inline constexpr std::uint32_t kMagic = 0x534b4450;  // "PDKS" read as little-endian bytes
inline constexpr std::uint16_t kVersion = 1;
inline constexpr std::size_t kHeaderBytes = 12;
/// The largest message the spawner accepts (a launch request with a full environment fits).
inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;
/// The largest message the daemon accepts (a preflight report).
inline constexpr std::size_t kMaxReplyBytes = 1024 * 1024;
/// The largest sealed memfd of a collect reply (the daemon refuses a bigger one); the
/// spawner's [runs] collect_total_bytes is capped to it.
inline constexpr std::uint64_t kMaxCollectBlobBytes = 1ULL << 32;
/// The most descriptors one message may carry.
inline constexpr std::size_t kMaxFds = 4;

enum class Type : std::uint16_t {
  // daemon -> spawner
  Hello = 1,        ///< {} -> {version, uid_first, uid_last, port_first, port_last}
  LeaseUid = 2,     ///< {worker_id} -> {uid}
  ReleaseUid = 3,   ///< {worker_id}
  LeasePort = 4,    ///< {worker_id} -> {port} + [listener]
  ReleasePort = 5,  ///< {worker_id}
  /// {worker_id, spec, stdin, (workdir), (files: [{path, offset, size}] + [sealed memfd])}
  /// -> {proc, pid, cgroup} + [stdout, stderr, (stdin)]
  Launch = 6,
  Signal = 7,      ///< {proc, signal}
  Kill = 8,        ///< {proc}
  RemoveData = 9,  ///< {worker_id}
  Preflight = 10,  ///< {} -> {report}
  Reload = 11,     ///< {} -> {}
  Stats = 12,      ///< {} -> {uids_leased, uids_draining, ports_leased, oom_kills_closed}
  /// {worker_id, patterns} -> {files: [{path, pattern, size, truncated, offset, length} |
  /// {path, pattern, error}]} + [sealed memfd holding the contents]
  Collect = 13,
  /// {} (no reply): the daemon ends on purpose; at the socket's EOF every worker is stopped
  /// instead of kept for a daemon that adopts them.
  Bye = 14,
  /// {} -> {workers: [{worker_id, proc, pid, workload_pid, uid, port, spec, started_at_ms,
  /// cgroup, cgroup_path}], exited: [{worker_id, uid, port, spec, started_at_ms, exited_at_ms,
  /// exit_code, signal}]}: what a daemon that went away left running (or ended since).
  Adopt = 15,
  /// {proc} -> {listener, relay} + [stdout, stderr, (port listener), (relay control)]
  AdoptFds = 16,
  /// {} -> {}: the daemon is about to exec a newer paddockd in its place (an upgrade). From the
  /// reply on, the spawner sends no event and keeps what happens (ends of trees) for the next
  /// Adopt on the same socket, which the new image sends; if the socket closes first, it is an
  /// ordinary daemon that went away.
  Handoff = 17,
  /// A run served by a parked sandbox ([pool] warm): {spec, stdin, (files) + [sealed memfd]}
  /// -> {worker_id, uid, proc, pid, workload_pid, cgroup} + [stdout, stderr, (stdin)], or the
  /// error code "no_warm_sandbox" (none of the spec's profile is parked, or the run needs
  /// another sandbox: then the daemon starts it cold). The run takes the sandbox's id and UID.
  LaunchWarm = 18,
  // spawner -> daemon
  Reply = 64,    ///< {ok: true, ...} or {ok: false, error: {code, message, field}}
  Started = 65,  ///< {proc, workload_pid}
  Relay = 66,    ///< {proc} + [relay control socket]
  Exited = 67,   ///< {proc, exit_code, signal}
};

/// "launch", "reply", ...; "unknown" for a number that is no Type.
std::string_view to_string(Type type);
/// Whether `raw` is one of the Type values.
bool known_type(std::uint16_t raw);

struct Message {
  Type type = Type::Reply;
  std::uint32_t id = 0;
  nlohmann::json body = nlohmann::json::object();
  std::vector<util::UniqueFd> fds;
};

/// Header + compact JSON of `body` (which must be an object).
std::string encode(Type type, std::uint32_t id, const nlohmann::json& body);

/// Parses one datagram (no descriptors): magic, version, a known type, a JSON object body.
/// Errors have code "bad_message" and say what was wrong.
Result<Message> decode(std::string_view bytes);

/// Sends one message with `fds` (borrowed) attached. Fails with "too_large" over `max_bytes`.
Result<void> send_message(int sock, Type type, std::uint32_t id, const nlohmann::json& body,
                          const std::vector<int>& fds = {}, std::size_t max_bytes = kMaxReplyBytes);

/// What receive_message() found.
enum class Received { Message, Closed, WouldBlock };

/// Receives one datagram of at most `max_bytes` (descriptors arrive close-on-exec). A datagram
/// that was longer, carried more than kMaxFds descriptors, or does not decode is an Error (code
/// "bad_message"; descriptors that came with it are closed). `out` is set for
/// Received::Message.
Result<Received> receive_message(int sock, std::size_t max_bytes, Message& out);

/// Reply bodies.
nlohmann::json ok_body(nlohmann::json fields = nlohmann::json::object());
nlohmann::json error_body(const Error& e);
/// The Error in a reply body, or nothing when it says ok. A body that is neither is an Error.
Result<void> reply_status(const nlohmann::json& body);

/// Whether `id` has the form of a worker or run id ("w-"/"r-" and 22 base64url characters).
bool valid_worker_id(std::string_view id);

}  // namespace paddock::privsep
