#include "paddock/api/auth.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "paddock/util/crypto.hpp"

namespace paddock::api {

const char* to_string(Scope scope) { return scope == Scope::Write ? "write" : "read"; }

namespace {

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

std::vector<std::string> split_ws(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

}  // namespace

Result<std::vector<TokenEntry>> parse_token_file(std::string_view text,
                                                 const std::string& file_name) {
  std::vector<TokenEntry> out;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  auto fail = [&](const std::string& what) {
    return make_error("invalid_token_file", file_name + ":" + std::to_string(line_no) + ": " + what,
                      file_name);
  };
  while (pos <= text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string line(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    if (const auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    const auto words = split_ws(line);
    if (words.empty()) {
      if (nl == text.size()) break;
      continue;
    }
    if (words.size() != 3) {
      return fail("expected '<name> <read|write> sha256:<64 hex digits>', got " +
                  std::to_string(words.size()) + " field(s)");
    }
    TokenEntry e;
    e.name = words[0];
    if (!valid_name(e.name)) {
      return fail("token name '" + e.name +
                  "' must be 1-64 characters of letters, digits, '_', '-' or '.'");
    }
    if (words[1] == "read") {
      e.scope = Scope::Read;
    } else if (words[1] == "write") {
      e.scope = Scope::Write;
    } else {
      return fail("scope '" + words[1] + "' of token '" + e.name + "' must be 'read' or 'write'");
    }
    const std::string& h = words[2];
    static constexpr std::string_view kPrefix = "sha256:";
    if (h.compare(0, kPrefix.size(), kPrefix) != 0) {
      return fail("the hash of token '" + e.name +
                  "' must start with 'sha256:' (store the hash, never the token)");
    }
    std::string hex = h.substr(kPrefix.size());
    std::transform(hex.begin(), hex.end(), hex.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), [](char c) {
          return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        })) {
      return fail("the hash of token '" + e.name + "' must be sha256: followed by 64 hex digits");
    }
    e.sha256_hex = std::move(hex);
    for (const auto& prev : out) {
      if (prev.name == e.name) return fail("duplicate token name '" + e.name + "'");
      if (prev.sha256_hex == e.sha256_hex) {
        return fail("token '" + e.name + "' has the same hash as token '" + prev.name + "'");
      }
    }
    out.push_back(std::move(e));
    if (nl == text.size()) break;
  }
  return out;
}

Result<LoadedTokens> load_token_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    const int e = errno;
    return make_error("io",
                      "cannot read token file " + path + ": " + std::strerror(e) +
                          "; create it with lines '<name> <read|write> sha256:<hex>' (mode 0640)",
                      path);
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto parsed = parse_token_file(text, path);
  if (!parsed) return parsed.error();
  LoadedTokens out;
  out.entries = std::move(*parsed);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 0777 & ~0640) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    out.warnings.push_back("token file " + path + " has mode " + mode +
                           ", wider than 0640; run 'chmod 0640 " + path + "'");
  }
  return out;
}

TokenStore::TokenStore(std::vector<TokenEntry> entries) : entries_(std::move(entries)) {}

std::optional<TokenEntry> TokenStore::lookup(std::string_view presented) const {
  const std::string digest = util::sha256_hex(presented);
  std::optional<TokenEntry> found;
  // Compare against every entry, with no early exit, so timing reveals nothing about which
  // (or whether an) entry matched.
  for (const auto& e : entries_) {
    const bool eq = util::constant_time_equal(digest, e.sha256_hex);
    if (eq && !found) found = e;
  }
  return found;
}

namespace {

class SystemGroupDirectory final : public GroupDirectory {
 public:
  std::optional<std::uint32_t> group_id(const std::string& name) const override {
    std::vector<char> buf(4096);
    for (;;) {
      struct group gr {};
      struct group* result = nullptr;
      const int rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &result);
      if (rc == ERANGE && buf.size() < (1u << 20)) {
        buf.resize(buf.size() * 2);
        continue;
      }
      if (rc != 0 || result == nullptr) return std::nullopt;
      return static_cast<std::uint32_t>(gr.gr_gid);
    }
  }

  std::vector<std::uint32_t> groups_of_uid(std::uint32_t uid) const override {
    std::vector<char> buf(4096);
    struct passwd pw {};
    struct passwd* result = nullptr;
    for (;;) {
      const int rc = ::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &result);
      if (rc == ERANGE && buf.size() < (1u << 20)) {
        buf.resize(buf.size() * 2);
        continue;
      }
      if (rc != 0 || result == nullptr) return {};
      break;
    }
    int n = 32;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    while (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) == -1) {
      if (n <= static_cast<int>(groups.size())) n = static_cast<int>(groups.size()) * 2;
      if (n > 65536) return {static_cast<std::uint32_t>(pw.pw_gid)};
      groups.resize(static_cast<std::size_t>(n));
    }
    std::vector<std::uint32_t> out;
    out.push_back(static_cast<std::uint32_t>(pw.pw_gid));
    for (int i = 0; i < n; ++i) out.push_back(static_cast<std::uint32_t>(groups[i]));
    return out;
  }
};

Response unauthorized(const std::string& message, bool invalid_token) {
  auto r = Response::error(401, "unauthorized", message);
  r.headers.emplace_back("WWW-Authenticate",
                         invalid_token ? "Bearer realm=\"paddock\", error=\"invalid_token\""
                                       : "Bearer realm=\"paddock\"");
  return r;
}

}  // namespace

std::shared_ptr<const GroupDirectory> system_group_directory() {
  return std::make_shared<SystemGroupDirectory>();
}

std::optional<std::string> bearer_token(std::string_view authorization) {
  while (!authorization.empty() && authorization.front() == ' ') authorization.remove_prefix(1);
  if (authorization.size() < 7) return std::nullopt;
  std::string scheme(authorization.substr(0, 6));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (scheme != "bearer" || (authorization[6] != ' ' && authorization[6] != '\t')) {
    return std::nullopt;
  }
  std::string_view token = authorization.substr(7);
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  if (token.empty() || token.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return std::string(token);
}

Authenticator::Authenticator(AuthOptions options, std::shared_ptr<const TokenStore> tokens,
                             std::shared_ptr<const GroupDirectory> groups)
    : options_(std::move(options)),
      tokens_(tokens ? std::move(tokens) : std::make_shared<const TokenStore>()),
      groups_(groups ? std::move(groups) : system_group_directory()) {}

void Authenticator::set_tokens(std::shared_ptr<const TokenStore> tokens) {
  std::lock_guard lock(tokens_mutex_);
  tokens_ = tokens ? std::move(tokens) : std::make_shared<const TokenStore>();
}

bool Authenticator::scope_allows(Scope scope, const std::string& method) {
  if (scope == Scope::Write) return true;
  return method == "GET" || method == "HEAD";
}

bool Authenticator::is_public(const std::string& path) const {
  if (path == "/healthz" || path == "/readyz") return true;
  return path == "/metrics" && !options_.metrics_require_token;
}

AuthDecision Authenticator::authenticate(const Request& request) const {
  if (request.peer.is_unix) return authenticate_peer(request);
  if (is_public(request.path)) return {Identity{"anonymous", Scope::Read, false}, std::nullopt};
  return authenticate_token(request);
}

AuthDecision Authenticator::authenticate_peer(const Request& request) const {
  const auto uid = request.peer.uid;
  Identity id{"uid:" + std::to_string(uid), Scope::Write, true};
  if (uid == static_cast<std::uint32_t>(-1)) {
    return {Identity{"uid:unknown", Scope::Read, false},
            Response::error(403, "forbidden",
                            "the peer's credentials (SO_PEERCRED) could not be read; connection "
                            "refused")};
  }
  // Checked first and unconditionally: a sandboxed worker must never drive the daemon, even if
  // its UID somehow ended up in the admin group or the socket's mode lets it connect.
  if (uid >= options_.worker_uid_start && uid <= options_.worker_uid_end) {
    id.authenticated = false;
    id.scope = Scope::Read;
    return {id, Response::error(403, "worker_uid_refused",
                                "uid " + std::to_string(uid) + " is in the worker UID range (" +
                                    std::to_string(options_.worker_uid_start) + "-" +
                                    std::to_string(options_.worker_uid_end) +
                                    "); workers may not use the admin socket")};
  }
  if (uid == 0) return {id, std::nullopt};
  if (!options_.admin_group.empty()) {
    if (const auto admin = groups_->group_id(options_.admin_group)) {
      if (request.peer.gid == *admin) return {id, std::nullopt};
      const auto groups = groups_->groups_of_uid(uid);
      if (std::find(groups.begin(), groups.end(), *admin) != groups.end()) {
        return {id, std::nullopt};
      }
    }
  }
  id.authenticated = false;
  id.scope = Scope::Read;
  if (is_public(request.path)) return {id, std::nullopt};
  const std::string group =
      options_.admin_group.empty() ? "<none configured>" : "'" + options_.admin_group + "'";
  return {id, Response::error(403, "forbidden",
                              "uid " + std::to_string(uid) +
                                  " is neither root nor a member of the admin group " + group +
                                  " ([server] socket_group); add the account to that group or "
                                  "use a TCP listener with a token")};
}

AuthDecision Authenticator::authenticate_token(const Request& request) const {
  const auto header = request.header("authorization");
  const Identity anonymous{"anonymous", Scope::Read, false};
  if (!header) {
    return {anonymous, unauthorized("this route needs 'Authorization: Bearer <token>'", false)};
  }
  const auto token = bearer_token(*header);
  if (!token) {
    return {anonymous, unauthorized("the Authorization header must be 'Bearer <token>'", false)};
  }
  std::shared_ptr<const TokenStore> store;
  {
    std::lock_guard lock(tokens_mutex_);
    store = tokens_;
  }
  const auto entry = store->lookup(*token);
  if (!entry) {
    return {anonymous, unauthorized("the bearer token is not valid; check it or ask an "
                                    "administrator for a new one",
                                    true)};
  }
  Identity id{"token:" + entry->name, entry->scope, true};
  if (!scope_allows(entry->scope, request.method)) {
    auto r = Response::error(403, "insufficient_scope",
                             "token '" + entry->name + "' has " + to_string(entry->scope) +
                                 " scope; " + request.method + " needs a write token");
    r.headers.emplace_back("WWW-Authenticate",
                           "Bearer realm=\"paddock\", error=\"insufficient_scope\"");
    return {id, std::move(r)};
  }
  return {id, std::nullopt};
}

}  // namespace paddock::api
