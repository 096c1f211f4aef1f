#include "schema.hpp"

#include <type_traits>
#include <utility>

namespace paddock::config::detail {
namespace {

template <typename Section, typename Field>
KeySpec str(std::string s, std::string k, Section Config::*sec, Field Section::*f) {
  return {std::move(s), std::move(k), Type::String, 0, 0, [sec, f](Config& c, const Value& v) {
            (c.*sec).*f = std::get<std::string>(v);
          }};
}

template <typename Section, typename Field>
KeySpec integer(std::string s, std::string k, Section Config::*sec, Field Section::*f,
                std::int64_t min, std::int64_t max) {
  return {std::move(s), std::move(k), Type::Integer, min, max, [sec, f](Config& c, const Value& v) {
            (c.*sec).*f = static_cast<Field>(std::get<std::int64_t>(v));
          }};
}

template <typename Section>
KeySpec boolean(std::string s, std::string k, Section Config::*sec, bool Section::*f) {
  return {std::move(s), std::move(k), Type::Boolean, 0, 0, [sec, f](Config& c, const Value& v) {
            (c.*sec).*f = std::get<bool>(v);
          }};
}

template <typename Section>
KeySpec floating(std::string s, std::string k, Section Config::*sec, double Section::*f) {
  return {std::move(s), std::move(k), Type::Float, 0, 0, [sec, f](Config& c, const Value& v) {
            (c.*sec).*f = std::get<double>(v);
          }};
}

template <typename Section>
KeySpec strings(std::string s, std::string k, Section Config::*sec,
                std::vector<std::string> Section::*f) {
  return {std::move(s), std::move(k), Type::StringArray, 0, 0, [sec, f](Config& c, const Value& v) {
            (c.*sec).*f = std::get<std::vector<std::string>>(v);
          }};
}

template <typename Section, typename Field>
KeySpec path(std::string s, std::string k, Section Config::*sec, Field Section::*f) {
  KeySpec spec = [&] {
    if constexpr (std::is_same_v<Field, std::string>)
      return str(s, k, sec, f);
    else
      return strings(s, k, sec, f);
  }();
  spec.is_path = true;
  return spec;
}

constexpr std::int64_t kU32 = 0xffffffffLL;
constexpr std::int64_t kMaxWarmPerProfile = 64;

std::vector<KeySpec> build() {
  using S = ServerConfig;
  using P = ProcessConfig;
  using F = PreflightConfig;
  using L = LogConfig;
  using M = LimitsConfig;
  using B = BundlesConfig;
  using R = RunsConfig;
  using O = PoolConfig;
  auto sv = &Config::server;
  auto pr = &Config::process;
  auto pf = &Config::preflight;
  auto lg = &Config::log;
  auto li = &Config::limits;
  auto bu = &Config::bundles;
  auto ru = &Config::runs;
  auto po = &Config::pool;
  std::vector<KeySpec> v{
      strings("server", "listen", sv, &S::listen),
      path("server", "socket", sv, &S::socket),
      KeySpec{"server", "socket_mode", Type::FileMode, 0, 0777,
              [](Config& c, const Value& x) {
                c.server.socket_mode = static_cast<std::uint32_t>(std::get<std::int64_t>(x));
              }},
      str("server", "socket_group", sv, &S::socket_group),
      str("server", "user", sv, &S::user),
      path("server", "token_file", sv, &S::token_file),
      integer("server", "max_body_bytes", sv, &S::max_body_bytes, 1024, 1LL << 32),
      integer("server", "max_header_bytes", sv, &S::max_header_bytes, 1024, 1 << 20),
      integer("server", "max_connections", sv, &S::max_connections, 1, 1 << 20),
      integer("server", "max_admin_connections", sv, &S::max_admin_connections, 1, 1 << 16),
      integer("server", "max_connections_per_address", sv, &S::max_connections_per_address, 0,
              1 << 20),
      integer("server", "idle_connections_soft_limit", sv, &S::idle_connections_soft_limit, 1,
              1 << 20),
      integer("server", "stream_queue_bytes", sv, &S::stream_queue_bytes, 64 * 1024, 1LL << 30),
      integer("server", "stream_max_seconds", sv, &S::stream_max_seconds, 0, 1 << 30),
      integer("server", "request_timeout_seconds", sv, &S::request_timeout_seconds, 1, 3600),
      integer("server", "header_timeout_seconds", sv, &S::header_timeout_seconds, 1, 3600),
      boolean("server", "metrics_require_token", sv, &S::metrics_require_token),

      str("process", "bwrap_path", pr, &P::bwrap_path),
      str("process", "slirp4netns_path", pr, &P::slirp4netns_path),
      str("process", "default_network", pr, &P::default_network),
      boolean("process", "allow_host_network", pr, &P::allow_host_network),
      path("process", "seccomp_profile", pr, &P::seccomp_profile),
      path("process", "sandbox_profiles_dir", pr, &P::sandbox_profiles_dir),
      str("process", "default_profile", pr, &P::default_profile),
      integer("process", "worker_uid_range_start", pr, &P::worker_uid_range_start, 0, kU32),
      integer("process", "worker_uid_range_end", pr, &P::worker_uid_range_end, 0, kU32),
      integer("process", "worker_gid", pr, &P::worker_gid, 0, kU32),
      integer("process", "port_range_start", pr, &P::port_range_start, 0, kU32),
      integer("process", "port_range_end", pr, &P::port_range_end, 0, kU32),
      path("process", "bundle_roots", pr, &P::bundle_roots),
      integer("process", "max_workers", pr, &P::max_workers, 1, 100000),
      path("process", "state_dir", pr, &P::state_dir),
      path("process", "data_root", pr, &P::data_root),
      integer("process", "stop_grace_seconds", pr, &P::stop_grace_seconds, 0, 3600),
      integer("process", "adopt_seconds", pr, &P::adopt_seconds, 0, 86400),
      integer("process", "readiness_timeout_seconds", pr, &P::readiness_timeout_seconds, 1, 3600),
      str("process", "cgroup", pr, &P::cgroup),

      boolean("preflight", "enforce", pf, &F::enforce),
      str("preflight", "metadata_endpoint", pf, &F::metadata_endpoint),
      boolean("preflight", "skip_metadata_check", pf, &F::skip_metadata_check),
      strings("preflight", "redis_urls", pf, &F::redis_urls),
      str("preflight", "vault_addr", pf, &F::vault_addr),
      str("preflight", "database_addr", pf, &F::database_addr),
      integer("preflight", "timeout_seconds", pf, &F::timeout_seconds, 1, 600),
      path("preflight", "probe_path", pf, &F::probe_path),

      str("log", "level", lg, &L::level),
      str("log", "format", lg, &L::format),
      path("log", "audit_log", lg, &L::audit_log),
      path("log", "worker_log_dir", lg, &L::worker_log_dir),
      integer("log", "worker_log_max_bytes", lg, &L::worker_log_max_bytes, 4096, 1LL << 40),
      integer("log", "worker_log_ring_bytes", lg, &L::worker_log_ring_bytes, 1024, 64LL << 20),
      integer("log", "max_ring_bytes_total", lg, &L::max_ring_bytes_total, 0, 1LL << 40),

      integer("limits", "memory_mb", li, &M::memory_mb, 1, 1 << 24),
      floating("limits", "cpus", li, &M::cpus),
      integer("limits", "pids", li, &M::pids, 1, 1 << 22),
      integer("limits", "nofile", li, &M::nofile, 16, 1 << 20),
      integer("limits", "tmp_mb", li, &M::tmp_mb, 1, 1 << 20),
      integer("limits", "wall_seconds", li, &M::wall_seconds, 0, kU32),

      path("bundles", "dir", bu, &B::dir),
      integer("bundles", "max_total_bytes", bu, &B::max_total_bytes, 1024, 1LL << 50),
      integer("bundles", "max_archive_bytes", bu, &B::max_archive_bytes, 1024, 1LL << 40),
      integer("bundles", "max_extracted_bytes", bu, &B::max_extracted_bytes, 1024, 1LL << 50),
      integer("bundles", "max_entries", bu, &B::max_entries, 1, 100000000),
      integer("bundles", "max_path_length", bu, &B::max_path_length, 16, 4096),
      integer("bundles", "max_depth", bu, &B::max_depth, 1, 1024),

      str("runs", "default_network", ru, &R::default_network),
      integer("runs", "max_files", ru, &R::max_files, 0, 100000),
      integer("runs", "max_files_bytes", ru, &R::max_files_bytes, 0, 1LL << 32),
      integer("runs", "collect_file_bytes", ru, &R::collect_file_bytes, 0, 1LL << 32),
      integer("runs", "collect_total_bytes", ru, &R::collect_total_bytes, 0, 1LL << 32),

      KeySpec{"pool", "warm", Type::CountMap, 0, kMaxWarmPerProfile,
              [](Config& c, const Value& x) {
                c.pool.warm.clear();
                for (const auto& [name, n] : std::get<CountMap>(x)) {
                  c.pool.warm[name] = static_cast<std::uint32_t>(n);
                }
              }},
      path("pool", "helper_path", po, &O::helper_path),
  };
  return v;
}

}  // namespace

const std::vector<KeySpec>& schema() {
  static const std::vector<KeySpec> s = build();
  return s;
}

const char* type_name(Type t) {
  switch (t) {
    case Type::String:
      return "a string";
    case Type::Integer:
      return "an integer";
    case Type::Boolean:
      return "a boolean (true or false)";
    case Type::Float:
      return "a number";
    case Type::StringArray:
      return "an array of strings";
    case Type::FileMode:
      return "an octal mode string such as \"0660\" (or an integer)";
    case Type::CountMap:
      return "a table of profile names to counts, such as {shell = 4, python = 2}";
  }
  return "?";
}

}  // namespace paddock::config::detail
