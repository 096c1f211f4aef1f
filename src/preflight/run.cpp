#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <thread>

#include "paddock/log/log.hpp"
#include "paddock/preflight/checks.hpp"
#include "paddock/preflight/preflight.hpp"

extern char** environ;  // NOLINT

namespace paddock::preflight {

namespace {

using Clock = std::chrono::steady_clock;
using CheckFn = CheckResult (*)(const Context&);

struct CheckSpec {
  const char* name;
  CheckFn fn;
  int phase;  ///< 1: host checks; 2: checks that start probe workers
};

const std::vector<CheckSpec>& specs() {
  static const std::vector<CheckSpec> v{
      {"bwrap_available", &check_bwrap_available, 1},
      {"user_namespaces", &check_user_namespaces, 2},
      {"seccomp_profile", &check_seccomp_profile, 1},
      {"uid_range", &check_uid_range, 1},
      {"bwrap_host_uid_mapping", &check_bwrap_host_uid_mapping, 2},
      {"cloud_metadata", &check_cloud_metadata, 1},
      {"redis_auth", &check_redis_auth, 1},
      {"cgroup_delegation", &check_cgroup_delegation, 1},
      {"worker_network", &check_worker_network, 1},
      {"worker_egress", &check_worker_egress, 2},
      {"sandbox_canary", &check_sandbox_canary, 2},
  };
  return v;
}

/// Everything a check's thread uses; shared so a check that overruns its time can finish
/// safely after run_all() has returned.
struct Shared {
  config::Config cfg;
  std::shared_ptr<const HostFs> fs;
  std::shared_ptr<SandboxProber> prober;
  bool as_root = true;
  std::vector<std::string> env_names;
  std::set<uid_t> in_use;
  std::chrono::milliseconds budget{10000};
};

std::vector<std::string> environ_names() {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    out.push_back(entry.substr(0, entry.find('=')));
  }
  return out;
}

CheckResult timed_out_result(const std::string& name, std::chrono::seconds limit) {
  CheckResult r;
  r.name = name;
  r.severity = Severity::Error;
  r.message = "did not finish within " + std::to_string(limit.count()) + " s";
  r.remedy =
      "find out what is slow (a firewall that drops instead of rejecting, a hung bwrap), "
      "or raise [preflight] timeout_seconds";
  r.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(limit).count();
  return r;
}

}  // namespace

const std::vector<std::string>& check_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& s : specs()) v.emplace_back(s.name);
    return v;
  }();
  return names;
}

Report run_all(const config::Config& cfg, const Options& options) {
  auto shared = std::make_shared<Shared>();
  shared->cfg = cfg;
  shared->fs = options.fs ? options.fs : std::make_shared<RootedFs>("/");
  shared->as_root = options.as_root.value_or(::geteuid() == 0);
  shared->env_names = options.daemon_env_names.value_or(environ_names());
  shared->in_use = options.worker_uids_in_use;
  const std::chrono::seconds limit(std::max<std::uint32_t>(1, cfg.preflight.timeout_seconds));
  // Leave the last second of each check's time for cleaning up (killing and reaping workers).
  shared->budget = std::max(std::chrono::milliseconds(500),
                            std::chrono::duration_cast<std::chrono::milliseconds>(limit) -
                                std::chrono::milliseconds(1000));
  if (options.prober) {
    shared->prober = options.prober;
  } else {
    shared->prober = std::make_shared<SpawnProber>(
        cfg, options.uids ? *options.uids : make_local_uid_source(cfg));
  }

  auto selected = [&](const std::string& name) {
    return options.only.empty() ||
           std::find(options.only.begin(), options.only.end(), name) != options.only.end();
  };
  std::map<std::string, CheckResult> done;
  for (const auto& name : options.only) {
    if (std::find(check_names().begin(), check_names().end(), name) == check_names().end()) {
      CheckResult r;
      r.name = name;
      r.severity = Severity::Error;
      r.message = "unknown check '" + name + "'";
      r.remedy = "use one of the names from check_names()";
      done[name] = r;
    }
  }

  for (int phase = 1; phase <= 2; ++phase) {
    std::vector<std::pair<std::string, std::future<CheckResult>>> running;
    for (const auto& spec : specs()) {
      if (spec.phase != phase || !selected(spec.name)) continue;
      auto promise = std::make_shared<std::promise<CheckResult>>();
      running.emplace_back(spec.name, promise->get_future());
      std::thread([shared, promise, spec] {
        const auto t0 = Clock::now();
        Context ctx(shared->cfg, *shared->fs);
        ctx.prober = shared->prober.get();
        ctx.as_root = shared->as_root;
        ctx.daemon_env_names = shared->env_names;
        ctx.worker_uids_in_use = shared->in_use;
        ctx.timeout = shared->budget;
        CheckResult r;
        try {
          r = spec.fn(ctx);
        } catch (const std::exception& e) {
          r.severity = Severity::Error;
          r.message = std::string("the check failed unexpectedly: ") + e.what();
        }
        r.name = spec.name;
        r.duration_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
        promise->set_value(std::move(r));
      }).detach();
    }
    const auto deadline = Clock::now() + limit;
    for (auto& [name, fut] : running) {
      if (fut.wait_until(deadline) == std::future_status::ready) {
        done[name] = fut.get();
      } else {
        done[name] = timed_out_result(name, limit);
      }
    }
  }

  std::vector<CheckResult> ordered;
  for (const auto& name : check_names()) {
    if (auto it = done.find(name); it != done.end()) ordered.push_back(std::move(it->second));
  }
  for (const auto& name : options.only) {
    if (std::find(check_names().begin(), check_names().end(), name) == check_names().end()) {
      ordered.push_back(done[name]);
    }
  }
  return make_report(std::move(ordered));
}

std::thread run_async(config::Config cfg, Options options, std::function<void(Report)> done) {
  return std::thread([cfg = std::move(cfg), options = std::move(options),
                      done = std::move(done)]() mutable { done(run_all(cfg, options)); });
}

void log_report(const Report& report) {
  for (const auto& r : report.results) {
    log::Fields f{{"check", r.name},
                  {"severity", std::string(to_string(r.severity))},
                  {"duration_ms", r.duration_ms}};
    if (!r.remedy.empty()) f.emplace_back("remedy", r.remedy);
    f.emplace_back("details", r.details);
    const std::string msg = "preflight " + r.name + ": " + r.message;
    switch (r.severity) {
      case Severity::Ok:
      case Severity::Info:
        log::info(msg, f);
        break;
      case Severity::Warning:
        log::warn(msg, f);
        break;
      case Severity::Error:
        log::error(msg, f);
        break;
    }
  }
}

}  // namespace paddock::preflight
