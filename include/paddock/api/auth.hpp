#pragma once
/// Authentication and authorisation of API requests.
///
/// TCP: `Authorization: Bearer <token>`, checked against the token file, which holds one token per
/// line as `<name> <read|write> sha256:<64 hex>` ('#' comments and blank lines allowed). A
/// presented token is hashed and compared with every entry in constant time. read scope allows
/// GET and HEAD; write allows every method. Missing or unknown token: 401 with
/// `WWW-Authenticate: Bearer`; a valid token with too small a scope: 403.
///
/// Unix socket: the peer's SO_PEERCRED credentials. A UID inside [process] worker_uid_range is
/// always refused (403), whatever else holds. Otherwise root, or a UID whose primary gid, peer gid
/// or supplementary groups include the configured admin group, gets write scope; anyone else 403.
///
/// Tokens are never logged; only token names appear in logs and the audit log.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/api/http.hpp"
#include "paddock/util/result.hpp"

namespace paddock::api {

enum class Scope { Read, Write };

/// "read" or "write".
const char* to_string(Scope scope);

/// One line of the token file. The token itself is never stored, only its sha256.
struct TokenEntry {
  std::string name;
  Scope scope = Scope::Read;
  std::string sha256_hex;  ///< 64 lower-case hex characters
};

/// Parses token-file text. Errors name the file and the 1-based line, e.g.
/// "tokens:3: expected '<name> <read|write> sha256:<hex>'"; the code is "invalid_token_file".
/// Duplicate names or hashes are errors too.
Result<std::vector<TokenEntry>> parse_token_file(std::string_view text,
                                                 const std::string& file_name);

/// The loaded token file and any warnings about it (e.g. a mode wider than 0640).
struct LoadedTokens {
  std::vector<TokenEntry> entries;
  std::vector<std::string> warnings;
};

/// Reads and parses `path`. A file readable or writable by others, or group-writable (any mode
/// bit outside 0640), gives a warning naming the mode and the chmod to run. A missing or
/// unreadable file is an error (code "io") naming the path and errno.
Result<LoadedTokens> load_token_file(const std::string& path);

/// The tokens the daemon accepts. Immutable; reloading builds a new store.
class TokenStore {
 public:
  TokenStore() = default;
  explicit TokenStore(std::vector<TokenEntry> entries);
  /// The entry whose hash equals sha256(presented), or nullopt. Every entry is compared with
  /// util::constant_time_equal, so the time taken does not depend on which entry matched.
  std::optional<TokenEntry> lookup(std::string_view presented) const;
  std::size_t size() const { return entries_.size(); }

 private:
  std::vector<TokenEntry> entries_;
};

/// Account lookups for unix-socket peers; the system implementation uses getpwuid_r,
/// getgrnam_r and getgrouplist. Unit tests use a fake.
class GroupDirectory {
 public:
  virtual ~GroupDirectory() = default;
  /// The gid of the group called `name`, or nullopt when it does not exist.
  virtual std::optional<std::uint32_t> group_id(const std::string& name) const = 0;
  /// Every gid of the account with this uid (primary gid from passwd plus supplementary groups
  /// from the group database); empty when the uid has no passwd entry.
  virtual std::vector<std::uint32_t> groups_of_uid(std::uint32_t uid) const = 0;
};

/// The GroupDirectory backed by the system's passwd and group databases.
std::shared_ptr<const GroupDirectory> system_group_directory();

/// Who made a request, once authenticated.
struct Identity {
  std::string who;  ///< "token:<name>", "uid:<n>" or "anonymous" (public routes)
  Scope scope = Scope::Read;
  bool authenticated = false;
};

/// The outcome of authentication: who asked (as far as known, also when refused) and, when the
/// request may not proceed, the 401/403 response to send instead.
struct AuthDecision {
  Identity identity;
  std::optional<Response> refusal;
  bool allowed() const { return !refusal.has_value(); }
};

struct AuthOptions {
  std::uint32_t worker_uid_start = 60000;  ///< inclusive
  std::uint32_t worker_uid_end = 60999;    ///< inclusive
  std::string admin_group;                 ///< [server] socket_group; "" means root only
  bool metrics_require_token = true;
};

/// Decides, per request, whether it may proceed.
class Authenticator {
 public:
  Authenticator(AuthOptions options, std::shared_ptr<const TokenStore> tokens,
                std::shared_ptr<const GroupDirectory> groups);

  /// Replaces the token store (after a reload); requests in flight keep the old one.
  void set_tokens(std::shared_ptr<const TokenStore> tokens);

  /// Decides whether the request may proceed. /healthz and /readyz are public (except to worker
  /// UIDs on the socket, which are refused everything); /metrics is public when
  /// metrics_require_token is false.
  AuthDecision authenticate(const Request& request) const;

  /// True when `method` is allowed for `scope` (read: GET and HEAD; write: everything).
  static bool scope_allows(Scope scope, const std::string& method);

 private:
  AuthDecision authenticate_peer(const Request& request) const;
  AuthDecision authenticate_token(const Request& request) const;
  bool is_public(const std::string& path) const;

  AuthOptions options_;
  mutable std::mutex tokens_mutex_;
  std::shared_ptr<const TokenStore> tokens_;
  std::shared_ptr<const GroupDirectory> groups_;
};

/// The bearer token in an Authorization header value ("Bearer <token>", scheme matched
/// case-insensitively), or nullopt when the header has another shape.
std::optional<std::string> bearer_token(std::string_view authorization);

}  // namespace paddock::api
