#pragma once
/// Configuration reload on SIGHUP. The file is read and validated again; a valid file replaces
/// the keys that can change while the daemon runs ("live" keys, taking effect for new workers
/// and new log lines), and keys that need a restart keep their running value and are reported.
/// An invalid file changes nothing: the daemon keeps serving with the config it has.
///
/// Which keys apply live (everything else needs `systemctl restart paddockd`):
///   [process] bwrap_path, default_profile, bundle_roots, max_workers, stop_grace_seconds,
///             readiness_timeout_seconds
///   [log]     level, format, worker_log_max_bytes, worker_log_ring_bytes
///   [limits]  every key
/// Restart: all of [server] (listeners, socket, token file path, HTTP limits), [preflight] (the
/// checks run at start), the worker UID/GID and port ranges (pools are sized at start),
/// seccomp_profile (the filter is loaded once), sandbox_profiles_dir (scanned at start),
/// state_dir, data_root, cgroup (set up at start), log.worker_log_dir (created at start) and
/// log.audit_log.
///
/// "Live" means: the daemon keeps one mutable Config that everything reading per-worker settings
/// (the supervisor, sandbox planning) refers to, and a valid reload assigns the merged config to
/// it, so workers started afterwards see the new values.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/config/config.hpp"
#include "paddock/config/loader.hpp"

namespace paddock::daemon {

class Notifier;

/// How a changed key takes effect.
enum class Applies {
  Live,     ///< on reload: for workers started afterwards (running workers keep theirs)
  Restart,  ///< only when the daemon restarts
};

/// How `key` ("section.key") takes effect, or nullopt for a key without a rule: one the schema
/// does not know, or a new schema key nobody classified yet (reload treats those as Restart).
std::optional<Applies> applies(std::string_view key);

/// Every key the schema knows with how it applies (Restart when unclassified), in schema order.
std::vector<std::pair<std::string, Applies>> key_application();

/// The keys ("section.key") whose values differ between `a` and `b`, in schema order.
std::vector<std::string> changed_keys(const config::Config& a, const config::Config& b);

/// `running` with the values of the live keys taken from `loaded` (and their origins); the
/// restart keys keep their running values. source_file is taken from `loaded`.
config::Config merge_live(const config::Config& running, const config::Config& loaded);

/// The outcome of one reload.
struct ReloadResult {
  /// The config to run with from now on (running + live keys of the file); set when the file
  /// was valid, even if nothing changed.
  std::optional<config::Config> config;
  /// Why the file was rejected (config stays as it was); empty when `config` is set.
  std::vector<config::Diagnostic> errors;
  /// Live keys whose value changed and is now applied.
  std::vector<std::string> applied;
  /// Keys whose value changed in the file but that only a restart applies.
  std::vector<std::string> needs_restart;
  bool ok() const { return config.has_value(); }
};

/// Re-reads `path` with `env` and `host`, validates it like at start (including that a changed
/// process.seccomp_profile is a usable compiled filter, although applying it takes a restart)
/// and merges its live keys into `running`. Never throws; a missing or unreadable file is an
/// error in `errors`.
ReloadResult reload_config(const std::string& path, const config::Config& running,
                           const config::Environment& env, const config::HostFacts& host);

/// reload_config with the process environment and the real host facts.
ReloadResult reload_config(const std::string& path, const config::Config& running);

/// Reloads on SIGHUP for as long as it lives: each signal calls reload_config(path, current()),
/// logs the outcome (applied keys, keys needing a restart, or every error with its position),
/// tells systemd (RELOADING=1, then READY=1 with a STATUS saying what happened) and, when the
/// file was valid, hands the new config to `apply`. An invalid file leaves everything as is.
class SighupReloader {
 public:
  using Current = std::function<const config::Config&()>;
  using Apply = std::function<void(config::Config)>;

  /// `notifier` may be null (no systemd notifications). `serving_status` is the STATUS line
  /// the daemon sent with READY=1; the outcome of each reload is appended to it.
  SighupReloader(boost::asio::io_context& ioc, std::string config_path, Current current,
                 Apply apply, Notifier* notifier, std::string serving_status);
  ~SighupReloader();
  SighupReloader(const SighupReloader&) = delete;
  SighupReloader& operator=(const SighupReloader&) = delete;

  /// Runs one reload now, as if SIGHUP had arrived; returns its outcome.
  ReloadResult reload_now();

 private:
  void wait();

  boost::asio::signal_set signals_;
  std::string path_;
  Current current_;
  Apply apply_;
  Notifier* notifier_;
  std::string serving_status_;
};

}  // namespace paddock::daemon
