#include "paddock/daemon/reload.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "paddock/daemon/notify.hpp"
#include "paddock/log/log.hpp"
#include "paddock/seccomp/bpf_file.hpp"

namespace paddock::daemon {

namespace {

/// One key: how it applies, how to read its value and how to copy it between configs.
struct KeyRule {
  const char* key;
  Applies how;
  nlohmann::json (*value)(const config::Config&);
  void (*copy)(config::Config&, const config::Config&);
};

// Every key of the schema must appear here exactly once (a unit test checks it against
// config::known_keys()): a new key has to be classified before it can be reloaded.
// clang-format off
#define PADDOCK_KEY(section, field, how)                                                   \
  KeyRule{#section "." #field, Applies::how,                                               \
          [](const config::Config& c) { return nlohmann::json(c.section.field); },         \
          [](config::Config& d, const config::Config& s) { d.section.field = s.section.field; }}
// clang-format on

const std::vector<KeyRule>& rules() {
  static const std::vector<KeyRule> r{
      // Listeners, the admin socket and the HTTP server's limits are set up once at start.
      PADDOCK_KEY(server, listen, Restart),
      PADDOCK_KEY(server, socket, Restart),
      PADDOCK_KEY(server, socket_mode, Restart),
      PADDOCK_KEY(server, socket_group, Restart),
      // The daemon drops to this user once, at start.
      PADDOCK_KEY(server, user, Restart),
      PADDOCK_KEY(server, token_file, Restart),
      PADDOCK_KEY(server, max_body_bytes, Restart),
      PADDOCK_KEY(server, max_header_bytes, Restart),
      PADDOCK_KEY(server, max_connections, Restart),
      PADDOCK_KEY(server, max_admin_connections, Restart),
      PADDOCK_KEY(server, max_connections_per_address, Restart),
      PADDOCK_KEY(server, idle_connections_soft_limit, Restart),
      PADDOCK_KEY(server, stream_queue_bytes, Restart),
      PADDOCK_KEY(server, stream_max_seconds, Restart),
      PADDOCK_KEY(server, header_timeout_seconds, Restart),
      PADDOCK_KEY(server, request_timeout_seconds, Restart),
      PADDOCK_KEY(server, metrics_require_token, Restart),
      // Read each time a worker is planned.
      PADDOCK_KEY(process, bwrap_path, Live),
      PADDOCK_KEY(process, slirp4netns_path, Live),
      PADDOCK_KEY(process, default_network, Live),
      PADDOCK_KEY(process, allow_host_network, Live),
      // The filter is loaded once and handed to every spawn; the profile directory is scanned
      // at start.
      PADDOCK_KEY(process, seccomp_profile, Restart),
      PADDOCK_KEY(process, sandbox_profiles_dir, Restart),
      PADDOCK_KEY(process, default_profile, Live),
      // The UID and port pools are sized at start; running workers hold leases in them.
      PADDOCK_KEY(process, worker_uid_range_start, Restart),
      PADDOCK_KEY(process, worker_uid_range_end, Restart),
      PADDOCK_KEY(process, worker_gid, Restart),
      PADDOCK_KEY(process, port_range_start, Restart),
      PADDOCK_KEY(process, port_range_end, Restart),
      PADDOCK_KEY(process, bundle_roots, Live),
      PADDOCK_KEY(process, max_workers, Live),
      PADDOCK_KEY(process, state_dir, Restart),
      // Created (with its mode) at start.
      PADDOCK_KEY(process, data_root, Restart),
      PADDOCK_KEY(process, stop_grace_seconds, Live),
      PADDOCK_KEY(process, readiness_timeout_seconds, Live),
      // Read by the spawner when the daemon is gone.
      PADDOCK_KEY(process, adopt_seconds, Live),
      // The daemon moves itself into <own>/daemon and sets up <own>/workers once, at start.
      PADDOCK_KEY(process, cgroup, Restart),
      // Preflight checks run before the daemon reports ready.
      PADDOCK_KEY(preflight, enforce, Restart),
      PADDOCK_KEY(preflight, metadata_endpoint, Restart),
      PADDOCK_KEY(preflight, skip_metadata_check, Restart),
      PADDOCK_KEY(preflight, probe_path, Restart),
      PADDOCK_KEY(preflight, redis_urls, Restart),
      PADDOCK_KEY(preflight, vault_addr, Restart),
      PADDOCK_KEY(preflight, database_addr, Restart),
      PADDOCK_KEY(preflight, timeout_seconds, Restart),
      PADDOCK_KEY(log, level, Live),
      PADDOCK_KEY(log, format, Live),
      PADDOCK_KEY(log, audit_log, Restart),
      PADDOCK_KEY(log, worker_log_dir, Restart),  // created at start
      PADDOCK_KEY(log, worker_log_max_bytes, Live),
      PADDOCK_KEY(log, worker_log_ring_bytes, Live),
      PADDOCK_KEY(log, max_ring_bytes_total, Live),
      // Per-worker defaults: used for every worker started afterwards.
      PADDOCK_KEY(limits, memory_mb, Live),
      PADDOCK_KEY(limits, cpus, Live),
      PADDOCK_KEY(limits, pids, Live),
      PADDOCK_KEY(limits, nofile, Live),
      PADDOCK_KEY(limits, tmp_mb, Live),
      PADDOCK_KEY(limits, wall_seconds, Live),
      // The bundle store is opened once at start.
      PADDOCK_KEY(bundles, dir, Restart),
      PADDOCK_KEY(bundles, max_total_bytes, Restart),
      PADDOCK_KEY(bundles, max_archive_bytes, Restart),
      PADDOCK_KEY(bundles, max_extracted_bytes, Restart),
      PADDOCK_KEY(bundles, max_entries, Restart),
      PADDOCK_KEY(bundles, max_path_length, Restart),
      PADDOCK_KEY(bundles, max_depth, Restart),
      // A run's files: checked for every run started afterwards.
      PADDOCK_KEY(runs, default_network, Live),
      PADDOCK_KEY(runs, max_files, Live),
      PADDOCK_KEY(runs, max_files_bytes, Live),
      PADDOCK_KEY(runs, collect_file_bytes, Live),
      PADDOCK_KEY(runs, collect_total_bytes, Live),
      // The spawner parks new sandboxes for the changed pool (and stops those it no longer wants).
      PADDOCK_KEY(pool, warm, Live),
      PADDOCK_KEY(pool, helper_path, Live),
  };
  return r;
}

#undef PADDOCK_KEY

const KeyRule* find_rule(std::string_view key) {
  for (const auto& r : rules()) {
    if (key == r.key) return &r;
  }
  return nullptr;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& e : v) s += (s.empty() ? "" : ", ") + e;
  return s;
}

}  // namespace

std::optional<Applies> applies(std::string_view key) {
  if (const auto* r = find_rule(key)) return r->how;
  return std::nullopt;
}

std::vector<std::pair<std::string, Applies>> key_application() {
  std::vector<std::pair<std::string, Applies>> out;
  for (const auto& k : config::known_keys()) {
    out.emplace_back(k, applies(k).value_or(Applies::Restart));
  }
  return out;
}

std::vector<std::string> changed_keys(const config::Config& a, const config::Config& b) {
  std::vector<std::string> out;
  for (const auto& k : config::known_keys()) {
    const auto* r = find_rule(k);
    if (r != nullptr && r->value(a) != r->value(b)) out.push_back(k);
  }
  return out;
}

config::Config merge_live(const config::Config& running, const config::Config& loaded) {
  config::Config out = running;
  for (const auto& r : rules()) {
    if (r.how != Applies::Live) continue;
    r.copy(out, loaded);
    if (auto it = loaded.origins.find(r.key); it != loaded.origins.end()) {
      out.origins[r.key] = it->second;
    } else {
      out.origins.erase(r.key);
    }
  }
  out.source_file = loaded.source_file;
  return out;
}

ReloadResult reload_config(const std::string& path, const config::Config& running,
                           const config::Environment& env, const config::HostFacts& host) {
  ReloadResult out;
  auto loaded = config::load_file(path, env, host);
  if (!loaded.ok()) {
    out.errors = std::move(loaded.errors);
    return out;
  }
  config::Config merged = merge_live(running, *loaded.config);
  // The start check, again: a file naming a filter that is missing or malformed is one the
  // daemon could not start with, so it is rejected even though the key needs a restart.
  const std::string& wanted_bpf = loaded.config->process.seccomp_profile;
  if (wanted_bpf != running.process.seccomp_profile) {
    if (auto bpf = seccomp::validate_bpf_file(wanted_bpf); !bpf) {
      config::Diagnostic d;
      d.key = "process.seccomp_profile";
      if (auto it = loaded.config->origins.find(d.key); it != loaded.config->origins.end()) {
        d.where = it->second;
      }
      d.message = "seccomp_profile " + wanted_bpf +
                  " is not a usable compiled filter: " + bpf.error().message;
      out.errors.push_back(std::move(d));
      return out;
    }
  }
  for (const auto& k : changed_keys(running, *loaded.config)) {
    (applies(k).value_or(Applies::Restart) == Applies::Live ? out.applied : out.needs_restart)
        .push_back(k);
  }
  out.config = std::move(merged);
  return out;
}

ReloadResult reload_config(const std::string& path, const config::Config& running) {
  return reload_config(path, running, config::current_environment(),
                       config::HostFacts::from_system());
}

SighupReloader::SighupReloader(boost::asio::io_context& ioc, std::string config_path,
                               Current current, Apply apply, Notifier* notifier,
                               std::string serving_status)
    : signals_(ioc, SIGHUP),
      path_(std::move(config_path)),
      current_(std::move(current)),
      apply_(std::move(apply)),
      notifier_(notifier),
      serving_status_(std::move(serving_status)) {
  wait();
}

SighupReloader::~SighupReloader() {
  boost::system::error_code ec;
  signals_.cancel(ec);
}

void SighupReloader::wait() {
  signals_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    (void)reload_now();
    wait();
  });
}

ReloadResult SighupReloader::reload_now() {
  if (notifier_ != nullptr) notifier_->reloading("reloading " + path_);
  log::info("reloading configuration", {{"config", path_}});
  ReloadResult r = reload_config(path_, current_());
  std::string outcome;
  if (!r.ok()) {
    for (const auto& e : r.errors) {
      log::error("configuration reload rejected", {{"config", path_}, {"error", e.to_string()}});
    }
    log::error("configuration reload rejected; still running with the previous configuration",
               {{"config", path_}, {"errors", r.errors.size()}});
    outcome = "last reload rejected (" + std::to_string(r.errors.size()) +
              " error(s), see the log); running with the previous configuration";
  } else {
    if (!r.needs_restart.empty()) {
      log::warn("configuration keys changed that apply only after a restart",
                {{"keys", join(r.needs_restart)}});
    }
    log::info("configuration reloaded", {{"config", path_},
                                         {"applied", join(r.applied)},
                                         {"needs_restart", join(r.needs_restart)}});
    outcome = "reloaded";
    if (!r.needs_restart.empty()) outcome += "; restart to apply " + join(r.needs_restart);
    apply_(*r.config);
  }
  if (notifier_ != nullptr) notifier_->ready(serving_status_ + "; " + outcome);
  return r;
}

}  // namespace paddock::daemon
