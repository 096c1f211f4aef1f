// ps, show, start, stop, restart, kill, logs.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <optional>

#include "paddock/cli/commands.hpp"
#include "paddock/cli/errors.hpp"
#include "paddock/cli/format.hpp"
#include "paddock/cli/requests.hpp"
#include "session.hpp"

namespace paddock::cli {

namespace {

struct PsArgs {
  std::string state;
  std::string label;
};

struct LogsArgs {
  std::string id;
  bool follow = false;
  std::optional<std::uint32_t> tail;
  std::string stream;
};

void print_log_line(const nlohmann::json& l, bool flush) {
  const std::string text = l.value("line", "");
  if (l.value("stream", "stdout") == "stderr") {
    std::cerr << text << '\n';
    if (flush) std::cerr.flush();
  } else {
    std::cout << text << '\n';
    if (flush) std::cout.flush();
  }
}

void run_logs(const Session& s, const LogsArgs& a) {
  std::vector<std::pair<std::string, std::string>> q{
      {"tail", a.tail ? std::to_string(*a.tail) : ""}, {"stream", a.stream}};
  if (!a.follow) {
    const auto body = s.call("GET", worker_path(a.id, "/logs") + query_string(q));
    if (s.json()) {
      print_json(body);
      return;
    }
    if (body.contains("lines") && body["lines"].is_array()) {
      for (const auto& l : body["lines"]) print_log_line(l, false);
    }
    return;
  }
  q.emplace_back("follow", "1");
  // The daemon ends a follow stream that falls behind (or reaches its lifetime) with a control
  // line naming the last seq sent; following goes on from there without a gap.
  std::optional<std::uint64_t> resume;
  do {
    auto query = q;
    if (resume) {
      query = {{"follow", "1"}, {"stream", a.stream}, {"since", std::to_string(*resume)}};
    }
    resume.reset();
    s.stream("GET", worker_path(a.id, "/logs") + query_string(query), {},
             [&s, &resume](std::string_view line) {
               if (line.empty()) return true;
               const auto j = nlohmann::json::parse(line, nullptr, false);
               if (j.is_object() && j.contains("event")) {
                 const std::string event = j.value("event", "");
                 if (event == "end" && j.value("reason", "") != "shutdown" &&
                     j.contains("last_seq") && j["last_seq"].is_number_unsigned()) {
                   resume = j["last_seq"].get<std::uint64_t>();
                 } else if (event == "end" || event == "gap") {
                   std::cerr << j.value("message", std::string(line)) << std::endl;
                 }
                 return true;  // heartbeats and control lines are not output
               }
               if (s.json()) {
                 std::cout << line << std::endl;
               } else if (j.is_discarded() || !j.is_object()) {
                 std::cout << line << std::endl;
               } else {
                 print_log_line(j, true);
               }
               return true;
             });
  } while (resume);
}

void print_worker_action(const Session& s, const nlohmann::json& w, const std::string& verb) {
  if (s.json()) {
    print_json(w);
    return;
  }
  std::cout << w.value("id", "?") << ": " << verb << " (state " << w.value("state", "?") << ")\n";
}

}  // namespace

void add_worker_commands(CLI::App& app, std::shared_ptr<const GlobalOptions> g) {
  // ps
  auto ps_args = std::make_shared<PsArgs>();
  auto* ps = app.add_subcommand("ps", "List workers");
  ps->alias("ls");
  ps->alias("list");
  ps->add_option("--state", ps_args->state,
                 "Only workers in this state (starting, running, ready, stopping, exited, "
                 "failed)");
  ps->add_option("--label", ps_args->label, "Only workers with this label (KEY=VALUE)");
  ps->callback([g, ps_args] {
    Session s(*g);
    if (!ps_args->label.empty()) {
      if (auto kv = parse_key_value(ps_args->label, "--label"); !kv)
        fail(kExitUsage, kv.error().message);
    }
    const auto body = s.call("GET", "/v1/workers" + query_string({{"state", ps_args->state},
                                                                  {"label", ps_args->label}}));
    if (s.json()) {
      print_json(body);
      return;
    }
    std::cout << workers_table(body.value("workers", nlohmann::json::array()), Clock::now(),
                               s.colour());
  });

  // show
  auto show_id = std::make_shared<std::string>();
  auto* show = app.add_subcommand("show", "Show one worker");
  show->add_option("id", *show_id, "Worker id")->required();
  show->callback([g, show_id] {
    Session s(*g);
    const auto w = s.call("GET", worker_path(*show_id));
    if (s.json()) {
      print_json(w);
      return;
    }
    std::cout << worker_details(w, Clock::now(), s.colour());
  });

  // start
  auto start_args = std::make_shared<StartArgs>();
  auto* start =
      app.add_subcommand("start", "Start a worker: paddock start [OPTIONS] -- CMD ARGS...");
  start->add_option("--name", start_args->name,
                    "A name, unique among live workers; every command takes it in place of the id");
  start->add_option("--profile", start_args->profile, "Sandbox profile (default: the daemon's)");
  start->add_option(
      "--bundle", start_args->bundle,
      "Uploaded bundle id (b-..., see bundle push) or a directory under one of [process] "
      "bundle_roots, mounted read-only as the code");
  start->add_flag("--port", start_args->port, "Allocate a TCP port, passed to the worker as PORT");
  start->add_option("--restart", start_args->restart, "Restart policy: never, on-failure, always");
  start->add_option("--env", start_args->env, "Environment KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  start->add_option("--label", start_args->labels, "Label KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  start->add_option("command", start_args->command,
                    "The command and its arguments, after -- (default: the profile's)");
  start->callback([g, start_args] {
    auto body = start_request(*start_args);
    if (!body) fail(kExitUsage, body.error().message);
    Session s(*g);
    const auto w = s.call("POST", "/v1/workers", body->dump());
    if (s.json()) {
      print_json(w);
      return;
    }
    // The id alone on stdout, so `id=$(paddock start -- ...)` works.
    std::cout << w.value("id", "") << "\n";
  });

  // stop
  auto stop_id = std::make_shared<std::string>();
  auto stop_grace = std::make_shared<std::optional<std::uint32_t>>();
  auto* stop =
      app.add_subcommand("stop", "Stop a worker: SIGTERM, then SIGKILL after the grace time");
  stop->add_option("id", *stop_id, "Worker id")->required();
  stop->add_option("--grace", *stop_grace,
                   "Seconds between SIGTERM and SIGKILL (default: [process] stop_grace_seconds)")
      ->check(CLI::Range(0, 3600));
  stop->callback([g, stop_id, stop_grace] {
    Session s(*g);
    const std::string q =
        query_string({{"grace_seconds", *stop_grace ? std::to_string(**stop_grace) : ""}});
    print_worker_action(s, s.call("DELETE", worker_path(*stop_id) + q), "stopping");
  });

  // restart
  auto restart_id = std::make_shared<std::string>();
  auto* restart = app.add_subcommand("restart", "Restart a worker");
  restart->add_option("id", *restart_id, "Worker id")->required();
  restart->callback([g, restart_id] {
    Session s(*g);
    print_worker_action(s, s.call("POST", worker_path(*restart_id, "/restart"), "{}"),
                        "restarting");
  });

  // kill
  auto kill_id = std::make_shared<std::string>();
  auto kill_signal = std::make_shared<std::string>("KILL");
  auto* kill = app.add_subcommand("kill", "Send a signal to a worker (default KILL)");
  kill->add_option("id", *kill_id, "Worker id")->required();
  kill->add_option("-s,--signal", *kill_signal,
                   "Signal name or number: HUP INT QUIT KILL USR1 USR2 TERM CONT STOP ...")
      ->capture_default_str();
  kill->callback([g, kill_id, kill_signal] {
    const auto sig = normalise_signal(*kill_signal);
    if (!sig) fail(kExitUsage, "--signal: unknown signal '" + *kill_signal + "'");
    Session s(*g);
    const auto w =
        s.call("POST", worker_path(*kill_id, "/signal"), nlohmann::json{{"signal", *sig}}.dump());
    print_worker_action(s, w, "sent SIG" + *sig);
  });

  // logs
  auto logs_args = std::make_shared<LogsArgs>();
  auto* logs = app.add_subcommand(
      "logs", "Print a worker's output (stdout lines to stdout, stderr to stderr)");
  logs->add_option("id", logs_args->id, "Worker or run id")->required();
  logs->add_flag("-f,--follow", logs_args->follow,
                 "Keep printing new lines until the worker exits");
  logs->add_option("-n,--tail", logs_args->tail, "Only the last N lines (default 100)");
  logs->add_option("--stream", logs_args->stream, "Only stdout or stderr")
      ->check(CLI::IsMember({"stdout", "stderr"}));
  logs->callback([g, logs_args] {
    Session s(*g);
    run_logs(s, *logs_args);
  });
}

}  // namespace paddock::cli
