// status, events, preflight.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "paddock/cli/commands.hpp"
#include "paddock/cli/errors.hpp"
#include "paddock/cli/format.hpp"
#include "session.hpp"

namespace paddock::cli {

namespace {

constexpr const char* kNoPreflight = "preflight is not available in this daemon build";

// Exit 1 when the daemon's preflight reports an error, so scripts that only look at the exit
// code are not told the host is safe.
/// ", upgraded in place N times" after the uptime; nothing before the first upgrade.
std::string upgraded_text(std::uint64_t generation) {
  if (generation == 0) return "";
  return ", upgraded in place " +
         (generation == 1 ? std::string("once") : std::to_string(generation) + " times");
}

int run_status(const Session& s) {
  const auto version = s.call("GET", "/v1/version");
  const auto workers = s.call("GET", "/v1/workers").value("workers", nlohmann::json::array());

  nlohmann::json preflight;  // null when unavailable
  std::string preflight_text;
  const auto pre = s.send("GET", "/v1/preflight");
  if (pre.status == 501) {
    preflight_text = "not available in this daemon build";
  } else if (pre.status >= 200 && pre.status < 300) {
    preflight = nlohmann::json::parse(pre.body, nullptr, false);
    if (preflight.is_discarded()) preflight = nullptr;
    preflight_text = preflight.is_object() ? preflight_summary(preflight) : "unreadable answer";
  } else {
    preflight_text = error_line(api_error(pre.status, pre.body, "permission denied"));
  }

  std::optional<double> free_uids, free_ports;
  const auto metrics = s.send("GET", "/metrics");
  if (metrics.status == 200) {
    free_uids = metric_value(metrics.body, "paddock_free_uids");
    free_ports = metric_value(metrics.body, "paddock_free_ports");
  }

  nlohmann::json by_state = nlohmann::json::object();
  for (const auto& w : workers)
    by_state[w.value("state", "unknown")] = by_state.value(w.value("state", "unknown"), 0) + 1;

  if (s.json()) {
    print_json({{"version", version},
                {"socket", s.client().socket_path()},
                {"preflight", preflight},
                {"workers", {{"total", workers.size()}, {"by_state", by_state}}},
                {"free_uids",
                 free_uids ? nlohmann::json(static_cast<long long>(*free_uids)) : nlohmann::json()},
                {"free_ports", free_ports ? nlohmann::json(static_cast<long long>(*free_ports))
                                          : nlohmann::json()}});
    return preflight.is_object() && preflight_failed(preflight) ? kExitFailure : kExitOk;
  }
  auto count = [](const std::optional<double>& v) {
    return v ? std::to_string(static_cast<long long>(*v)) : std::string("?");
  };
  const bool c = s.colour();
  const std::string pre_colour =
      preflight.is_object()
          ? std::string(state_colour(preflight_failed(preflight) ? "error" : "ok"))
          : "";
  std::cout << paint("paddockd", sgr::kBold, c) << " " << version.value("version", "?") << " (api "
            << version.value("api", "?") << "), up "
            << format_duration(version.value("uptime_seconds", std::int64_t{0}))
            << upgraded_text(version.value("generation", std::uint64_t{0})) << "\n"
            << "socket:     " << s.client().socket_path() << "\n"
            << "preflight:  " << paint(preflight_text, pre_colour, c) << "\n"
            << "workers:    " << state_summary(workers) << "\n"
            << "free:       " << count(free_uids) << " UIDs, " << count(free_ports) << " ports\n";
  return preflight.is_object() && preflight_failed(preflight) ? kExitFailure : kExitOk;
}

void stream_events(const Session& s, const std::string& target,
                   std::optional<std::uint64_t>& resume);

void run_events(const Session& s) {
  // A stream the daemon ends (reader behind, lifetime) names the last event id sent; watching
  // goes on from there without a gap.
  std::optional<std::uint64_t> resume;
  do {
    const std::string target =
        resume ? "/v1/events?last_event_id=" + std::to_string(*resume) : "/v1/events";
    resume.reset();
    stream_events(s, target, resume);
  } while (resume);
}

void stream_events(const Session& s, const std::string& target,
                   std::optional<std::uint64_t>& resume) {
  SseParser parser;
  s.stream("GET", target, {}, [&](std::string_view line) {
    auto ev = parser.feed(line);
    if (!ev) return true;
    const auto data = nlohmann::json::parse(ev->data, nullptr, false);
    if (ev->event == "stream-end") {
      if (data.is_object() && data.value("reason", "") != "shutdown" &&
          data.contains("last_event_id") && data["last_event_id"].is_number_unsigned()) {
        resume = data["last_event_id"].get<std::uint64_t>();
      } else if (data.is_object()) {
        std::cerr << data.value("message", ev->data) << std::endl;
      }
      return true;
    }
    if (s.json()) {
      if (data.is_discarded()) {
        std::cout << nlohmann::json{{"event", ev->event}, {"data", ev->data}}.dump() << std::endl;
      } else {
        std::cout << data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  << std::endl;
      }
      return true;
    }
    std::cout << (data.is_object() ? event_line(data, s.colour()) : ev->event + " " + ev->data)
              << std::endl;
    return true;
  });
}

int run_preflight(const Session& s, bool run_now) {
  const auto reply =
      run_now ? s.send("POST", "/v1/preflight/run", "{}") : s.send("GET", "/v1/preflight");
  if (reply.status == 501) fail(kExitFailure, kNoPreflight);
  if (reply.status < 200 || reply.status >= 300) s.fail_reply(reply);
  const auto report = nlohmann::json::parse(reply.body, nullptr, false);
  if (report.is_discarded() || !report.is_object()) {
    fail(kExitFailure, "paddockd's preflight answer is not a JSON object");
  }
  if (s.json()) {
    print_json(report);
  } else {
    std::cout << preflight_table(report, s.colour());
    std::cout << "preflight " << preflight_summary(report) << "\n";
  }
  return preflight_failed(report) ? kExitFailure : kExitOk;
}

/// POST /v1/admin/upgrade, then waits (bounded) until GET /v1/version answers with the new
/// generation: the new image is serving.
int run_upgrade(const Session& s, int timeout_seconds) {
  const auto asked = s.call("POST", "/v1/admin/upgrade", "{}");
  const auto next = asked.value("generation", std::uint64_t{0});
  if (!s.json()) std::cout << "upgrading: paddockd checked the installed binary and hands over\n";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Refused connections and 503s are expected while the new image starts.
    auto r = s.client().request("GET", "/v1/version", "");
    if (!r || r->status != 200) continue;
    auto v = nlohmann::json::parse(r->body, nullptr, false);
    if (v.is_discarded() || v.value("generation", std::uint64_t{0}) < next) continue;
    if (s.json()) {
      print_json(v);
    } else {
      std::cout << "upgraded: paddockd " << v.value("version", "?") << " serving (generation "
                << next << ")\n";
    }
    return kExitOk;
  }
  fail(kExitTimeout, "paddockd did not come back as generation " + std::to_string(next) +
                         " within " + std::to_string(timeout_seconds) +
                         " s; see its log (journalctl -u paddockd)");
}

}  // namespace

void add_status_commands(CLI::App& app, std::shared_ptr<const GlobalOptions> g) {
  auto upgrade_timeout = std::make_shared<int>(60);
  auto* upgrade = app.add_subcommand(
      "upgrade",
      "Hand paddockd over to the installed binary without stopping workers (admin socket; "
      "exit 0 once the new binary serves)");
  upgrade->add_option("--timeout", *upgrade_timeout, "Seconds to wait for the new binary")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  upgrade->callback([g, upgrade_timeout] {
    Session s(*g);
    if (const int code = run_upgrade(s, *upgrade_timeout); code != 0) {
      throw CLI::RuntimeError(code);
    }
  });

  auto* status = app.add_subcommand(
      "status",
      "Daemon version and uptime, preflight summary, workers by state, free UIDs/ports (exit 1 "
      "when preflight found an error)");
  status->callback([g] {
    Session s(*g);
    if (const int code = run_status(s); code != 0) throw CLI::RuntimeError(code);
  });

  auto* events = app.add_subcommand(
      "events", "Follow worker lifecycle events (one line each; --json: the event objects)");
  events->callback([g] {
    Session s(*g);
    run_events(s);
  });

  auto run_now = std::make_shared<bool>(false);
  auto* preflight = app.add_subcommand(
      "preflight", "Show the preflight checks (exit 1 when any check is an error)");
  preflight->add_flag("--run", *run_now, "Run the checks now instead of showing the last results");
  preflight->callback([g, run_now] {
    Session s(*g);
    if (const int code = run_preflight(s, *run_now); code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace paddock::cli
