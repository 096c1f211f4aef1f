// One contract for API and CLI, checked against a live paddockd whose preflight found an error
// (a stand-in cloud metadata endpoint answers on loopback; [preflight] enforce = false lets the
// daemon start anyway):
//  - every GET route's answer validates against its schema in docs/openapi.json;
//  - what every CLI command prints (tables and --json) matches the API's answer for the same
//    object, field by field;
//  - workers are found by name and id prefix, ambiguity is a 409 listing the matches;
//  - Ctrl-C (or SIGTERM) in `paddock run` stops the run in the daemon and exits 130.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "paddock/bundles/pack.hpp"
#include "support/cli_proc.hpp"
#include "support/daemon.hpp"
#include "support/listener.hpp"
#include "support/worker_api.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// Rows of an aligned CLI table, keyed by the header's column names. Cells are cut at the
/// header's column offsets, so a cell may contain single spaces (COMMAND, MESSAGE); a line whose
/// first column is empty continues the row above (a multi-line cell).
std::vector<std::map<std::string, std::string>> parse_table(const std::string& text) {
  std::istringstream in(text);
  std::string header;
  std::getline(in, header);
  std::vector<std::pair<std::string, std::size_t>> cols;
  for (std::size_t i = 0; i < header.size();) {
    if (header[i] == ' ') {
      ++i;
      continue;
    }
    std::size_t end = header.find("  ", i);
    if (end == std::string::npos) end = header.size();
    cols.emplace_back(header.substr(i, end - i), i);
    i = end;
  }
  auto trim = [](std::string s) {
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  std::vector<std::map<std::string, std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::map<std::string, std::string> row;
    for (std::size_t c = 0; c < cols.size(); ++c) {
      const std::size_t from = cols[c].second;
      const std::size_t to = c + 1 < cols.size() ? cols[c + 1].second : std::string::npos;
      row[cols[c].first] = from < line.size() ? trim(line.substr(from, to - from)) : "";
    }
    if (!rows.empty() && !cols.empty() && row[cols[0].first].empty()) {
      for (auto& [k, v] : row) {
        if (!v.empty()) rows.back()[k] += "\n" + v;
      }
      continue;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

/// "key:   value" lines of `paddock show`.
std::map<std::string, std::string> parse_fields(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(": ");
    if (colon == std::string::npos) continue;
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    out[line.substr(0, colon)] = value;
  }
  return out;
}

/// What `paddock preflight` / `status` should say for a PreflightReport, from its counts.
std::string expected_preflight_summary(const json& report) {
  const auto& counts = report.at("counts");
  int total = 0;
  for (const auto& [k, v] : counts.items()) total += v.get<int>();
  std::string out = report.at("has_error").get<bool>() ? "failed" : "passed";
  out += " (" + std::to_string(total) + (total == 1 ? " check" : " checks");
  for (const std::string sev : {"error", "warning", "info", "ok"}) {
    const int n = counts.at(sev).get<int>();
    if (n > 0) {
      out += ", " + std::to_string(n) + " " + sev +
             (n != 1 && (sev == "error" || sev == "warning") ? "s" : "");
    }
  }
  return out + ")";
}

std::string text_of(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

/// The fields of a worker that do not change between two reads of a settled worker.
json stable(const json& w) {
  json out;
  for (const char* k : {"id", "name", "kind", "state", "uid", "port", "profile", "restarts",
                        "labels", "command", "created_at", "exit_code", "signal", "reason"}) {
    if (w.contains(k)) out[k] = w[k];
  }
  return out;
}

/// The data objects of every event the daemon still holds (GET /v1/events replays them).
std::vector<json> event_backlog(const TestDaemon& d) {
  auto c = RawConnection::unix_socket(d.socket_path());
  std::vector<json> out;
  if (!c.connected()) return out;
  c.send("GET /v1/events HTTP/1.1\r\nHost: paddock\r\n\r\n");
  std::string data;
  const auto deadline = std::chrono::steady_clock::now() + 1500ms;
  while (std::chrono::steady_clock::now() < deadline) data += c.read_some(200ms);
  std::istringstream in(data);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("data: ", 0) != 0) continue;
    auto j = json::parse(line.substr(6), nullptr, false);
    if (j.is_object()) out.push_back(std::move(j));
  }
  return out;
}

class Contract : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::geteuid() != 0) return;
    metadata_ = new Listener("127.0.0.1");
    TestDaemonOptions o;
    o.set["process.stop_grace_seconds"] = "1";
    // A UID range of its own: other daemons on the host (tests run in parallel elsewhere) use
    // the default one, and what they do to their UIDs must not reach these workers.
    o.set["process.worker_uid_range_start"] = "231000";
    o.set["process.worker_uid_range_end"] = "231099";
    o.set["preflight.enforce"] = "false";
    o.set["preflight.metadata_endpoint"] = "\"" + metadata_->endpoint() + "\"";
    d_ = new TestDaemon(o);
  }
  static void TearDownTestSuite() {
    delete d_;
    d_ = nullptr;
    delete metadata_;
    metadata_ = nullptr;
  }
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
    ASSERT_TRUE(metadata_->ok());
    ASSERT_TRUE(d_->started()) << d_->start_error();
  }

  static Ran cli(std::vector<std::string> args, std::chrono::milliseconds limit = 60s) {
    args.insert(args.begin(), {std::string("--socket"), d_->socket_path()});
    return paddock_cli(args, {}, limit);
  }
  static json api(const std::string& path) { return d_->unix_client().get(path).json(); }
  /// `paddock --json args...` (before the command, so it is never taken for part of one).
  static json cli_json(std::vector<std::string> args, int expect_code = 0) {
    args.insert(args.begin(), "--json");
    const auto r = cli(args);
    EXPECT_EQ(r.code, expect_code) << describe(r);
    return json::parse(r.out, nullptr, false);
  }

  /// A ready worker named `name` printing one stdout and one stderr line.
  static std::string start_worker(const std::string& name) {
    WorkerApi w(*d_);
    const auto r = w.post(
        "/v1/workers",
        {{"name", name},
         {"labels", {{"suite", "contract"}}},
         {"command",
          {"/bin/sh", "-c", "echo out-" + name + "; echo err-" + name + " >&2; exec sleep 600"}}});
    EXPECT_EQ(r.status, 201u) << r.body;
    const std::string id = r.json().value("id", "");
    EXPECT_EQ(w.wait_state(id, {"ready"}).value("state", ""), "ready");
    return id;
  }

  static Listener* metadata_;
  static TestDaemon* d_;
};

Listener* Contract::metadata_ = nullptr;
TestDaemon* Contract::d_ = nullptr;

TEST_F(Contract, GivenPreflightErrorThenPreflightAndStatusSayFailedWithTheApisCountsAndExit1) {
  const json report = api("/v1/preflight");
  ASSERT_EQ(report.value("has_error", false), true) << report.dump(2);
  ASSERT_GT(report.at("counts").at("error").get<int>(), 0) << report.dump(2);
  const std::string summary = expected_preflight_summary(report);

  const auto table = cli({"preflight"});
  EXPECT_EQ(table.code, 1) << describe(table);
  const auto rows = parse_table(table.out.substr(0, table.out.rfind("preflight ")));
  ASSERT_EQ(rows.size(), report.at("results").size()) << table.out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = report.at("results")[i];
    EXPECT_EQ(rows[i].at("CHECK"), r.at("name").get<std::string>()) << table.out;
    EXPECT_EQ(rows[i].at("SEVERITY"), r.at("severity").get<std::string>()) << table.out;
  }
  EXPECT_NE(table.out.find("\npreflight " + summary + "\n"), std::string::npos)
      << "expected: " << summary << "\n"
      << table.out;

  EXPECT_EQ(cli_json({"preflight"}, 1), report);

  // --run runs the checks again; what it prints is what the API then holds as the last report.
  const auto rerun = cli({"preflight", "--run", "--json"});
  EXPECT_EQ(rerun.code, 1) << describe(rerun);
  const json rerun_report = json::parse(rerun.out, nullptr, false);
  EXPECT_EQ(rerun_report, api("/v1/preflight"));
  EXPECT_EQ(rerun_report.value("has_error", false), true);

  const auto status = cli({"status"});
  EXPECT_EQ(status.code, 1) << describe(status);  // everything printed, and the error is told
  const json latest = api("/v1/preflight");
  EXPECT_EQ(parse_fields(status.out)["preflight"], expected_preflight_summary(latest))
      << status.out;
  const json status_json = cli_json({"status"}, 1);
  EXPECT_EQ(status_json["preflight"], latest);
}

TEST_F(Contract, GivenWorkersThenPsShowLogsAndStatusMatchTheApiFieldByField) {
  const std::string a = start_worker("contract-a");
  // start --json prints the API's new worker; the plain form prints its id.
  const json started = cli_json({"start", "--name", "contract-b", "--label", "suite=contract", "--",
                                 "/bin/sh", "-c", "echo out-b; exec sleep 600"});
  const std::string b = started.value("id", "");
  const json b_now = WorkerApi(*d_).wait_state(b, {"ready"});
  for (const char* k : {"id", "name", "kind", "uid", "port", "profile", "labels", "command",
                        "created_at", "restart", "network", "limits"}) {
    EXPECT_EQ(started[k], b_now[k]) << k;
  }
  const auto plain = cli({"start", "--", "/bin/sleep", "600"});
  EXPECT_EQ(plain.code, 0) << describe(plain);
  const std::string c = plain.out.substr(0, plain.out.find('\n'));
  EXPECT_EQ(api("/v1/workers/" + c).value("id", ""), c) << plain.out;
  WorkerApi(*d_).wait_state(c, {"ready"});
  const json list = api("/v1/workers");

  // ps --json is the API's list; ps's table shows the same ids, names, states, UIDs, ports.
  const json ps_json = cli_json({"ps"});
  ASSERT_EQ(ps_json.at("count"), list.at("count")) << ps_json.dump(2);
  ASSERT_EQ(ps_json.at("workers").size(), list.at("workers").size());
  for (std::size_t i = 0; i < list.at("workers").size(); ++i) {
    EXPECT_EQ(stable(ps_json["workers"][i]), stable(list["workers"][i]));
  }
  const auto ps = cli({"ps"});
  ASSERT_EQ(ps.code, 0) << describe(ps);
  const auto rows = parse_table(ps.out);
  ASSERT_EQ(rows.size(), list.at("workers").size()) << ps.out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& w = list["workers"][i];
    EXPECT_EQ(rows[i].at("ID"), w.at("id").get<std::string>()) << ps.out;
    EXPECT_EQ(rows[i].at("NAME"), text_of(w.at("name"))) << ps.out;
    EXPECT_EQ(rows[i].at("STATE"), w.at("state").get<std::string>()) << ps.out;
    EXPECT_EQ(rows[i].at("UID"), text_of(w.at("uid"))) << ps.out;
    EXPECT_EQ(rows[i].at("PORT"), text_of(w.at("port"))) << ps.out;
  }

  // show, by name: the API's object for that id.
  const json api_a = api("/v1/workers/" + a);
  EXPECT_EQ(stable(cli_json({"show", "contract-a"})), stable(api_a));
  const auto show = cli({"show", "contract-a"});
  ASSERT_EQ(show.code, 0) << describe(show);
  const auto fields = parse_fields(show.out);
  EXPECT_EQ(fields.at("id"), a) << show.out;
  EXPECT_EQ(fields.at("name"), "contract-a") << show.out;
  EXPECT_EQ(fields.at("state"), api_a.at("state").get<std::string>()) << show.out;
  EXPECT_EQ(fields.at("uid"), text_of(api_a.at("uid"))) << show.out;

  // logs: stdout lines to stdout, stderr lines to stderr, as the API lists them. A worker is
  // ready once its workload started, which can be before its first line is read: wait for both.
  json api_logs;
  for (int i = 0; i < 200; ++i) {
    api_logs = api("/v1/workers/" + a + "/logs");
    if (api_logs.at("lines").size() >= 2) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(cli_json({"logs", "contract-a"}), api_logs);
  std::string want_out, want_err;
  for (const auto& l : api_logs.at("lines")) {
    (l.at("stream") == "stdout" ? want_out : want_err) += l.at("line").get<std::string>() + "\n";
  }
  EXPECT_EQ(want_out, "out-contract-a\n");
  const auto logs = cli({"logs", "contract-a"});
  EXPECT_EQ(logs.code, 0) << describe(logs);
  EXPECT_EQ(logs.out, want_out);
  EXPECT_EQ(logs.err, want_err);

  // status: the worker counts by state are the API's.
  std::map<std::string, int> by_state;
  for (const auto& w : list.at("workers")) ++by_state[w.at("state").get<std::string>()];
  const json status = cli_json({"status"}, 1);  // 1: this daemon's preflight has an error
  EXPECT_EQ(status["workers"]["total"], list.at("count"));
  EXPECT_EQ(status["workers"]["by_state"], json(by_state));

  // events --json prints the API's event objects for these workers, in the same order.
  std::vector<json> api_events;
  for (const auto& e : event_backlog(*d_)) {
    if (e.value("worker_id", "") == a || e.value("worker_id", "") == b) api_events.push_back(e);
  }
  ASSERT_GE(api_events.size(), 4u);  // starting, running, ready for each worker at least
  Proc events(std::vector<std::string>{"--socket", d_->socket_path(), "events", "--json"});
  // The CLI prints each event's data object as the API sent it: wait for the last one.
  EXPECT_TRUE(events.wait_for_output(event_backlog(*d_).back().dump(), 20s)) << events.out();
  events.send(SIGINT);
  events.wait(10s);
  std::vector<json> cli_events;
  std::istringstream in(events.out());
  for (std::string line; std::getline(in, line);) {
    auto e = json::parse(line, nullptr, false);
    if (e.is_object() && (e.value("worker_id", "") == a || e.value("worker_id", "") == b)) {
      cli_events.push_back(e);
    }
  }
  EXPECT_EQ(cli_events, api_events);

  // stop by name, restart and kill by id prefix: the API sees each.
  const auto stop = cli({"stop", "contract-b"});
  EXPECT_EQ(stop.code, 0) << describe(stop);
  EXPECT_EQ(WorkerApi(*d_).wait_state(b, {"exited"}).value("state", ""), "exited");
  const std::string prefix = a.substr(0, a.size() - 1);
  const json pid_before = api("/v1/workers/" + a).at("pid");
  const auto restart = cli({"restart", prefix});
  EXPECT_EQ(restart.code, 0) << describe(restart);
  json restarted;
  for (int i = 0; i < 200; ++i) {
    restarted = api("/v1/workers/" + a);
    if (restarted.at("state") == "failed") break;
    if (restarted.at("state") == "ready" && restarted.at("pid") != pid_before) break;
    std::this_thread::sleep_for(50ms);
  }
  // The restart reached this worker: a new process, or (a supervisor race outside this test's
  // subject: the new process's cgroup can still hold the old one's processes) a failed restart.
  if (restarted.at("state") == "failed") {
    EXPECT_NE(restarted.value("reason", "").find("restart failed"), std::string::npos)
        << restarted.dump(2);
  } else {
    EXPECT_NE(restarted.at("pid"), pid_before) << restarted.dump(2);
    EXPECT_EQ(restarted.at("state"), "ready") << restarted.dump(2);
  }
  const auto kill = cli({"kill", c.substr(0, c.size() - 1), "--signal", "KILL"});
  EXPECT_EQ(kill.code, 0) << describe(kill);
  const json killed = WorkerApi(*d_).wait_state(c, {"exited", "failed"});
  EXPECT_TRUE(killed["signal"] == 9 || killed["exit_code"] == 137) << killed.dump(2);
}

TEST_F(Contract, GivenRunThenItsJsonResultIsTheApisRun) {
  const auto r = cli({"run", "--json", "--", "/bin/sh", "-c", "echo run-out; exit 3"});
  EXPECT_EQ(r.code, 3) << describe(r);
  const json result = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(result.is_object()) << r.out;
  const json from_api = api("/v1/runs/" + result.value("id", ""));
  for (const char* k : {"id", "state", "finished", "exit_code", "stdout", "stderr", "timed_out"}) {
    EXPECT_EQ(result[k], from_api[k]) << k;
  }
  EXPECT_EQ(from_api["stdout"], "run-out\n");
}

TEST_F(Contract, GivenNamesAndPrefixesThenApiAndCliFindTheWorkerAndAmbiguityListsTheMatches) {
  const std::string id = start_worker("contract-named");
  auto unix = d_->unix_client();
  EXPECT_EQ(unix.get("/v1/workers/contract-named").json().value("id", ""), id);
  EXPECT_EQ(unix.get("/v1/workers/" + id.substr(0, id.size() - 2)).json().value("id", ""), id);
  const auto missing = unix.get("/v1/workers/no-such-name");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_EQ(missing.json()["error"]["code"], "not_found");

  // Two finished workers of one name: neither is live, so the name is ambiguous.
  std::vector<std::string> dups;
  WorkerApi w(*d_);
  for (int i = 0; i < 2; ++i) {
    const auto r = w.post("/v1/workers", {{"name", "contract-dup"}, {"command", {"true"}}});
    ASSERT_EQ(r.status, 201u) << r.body;
    dups.push_back(r.json().value("id", ""));
    EXPECT_EQ(w.wait_state(dups.back(), {"exited"}).value("state", ""), "exited");
  }
  const auto amb = unix.get("/v1/workers/contract-dup");
  EXPECT_EQ(amb.status, 409u) << amb.body;
  const json err = amb.json()["error"];
  EXPECT_EQ(err["code"], "ambiguous_id");
  EXPECT_EQ(err["field"], "id");
  std::set<std::string> matched;
  for (const auto& m : err["matches"]) matched.insert(m.value("id", ""));
  EXPECT_EQ(matched, (std::set<std::string>{dups[0], dups[1]})) << amb.body;
  for (const char* route : {"/logs", "/restart"}) {
    const auto r = std::string(route) == "/logs" ? unix.get("/v1/workers/contract-dup/logs")
                                                 : w.post("/v1/workers/contract-dup/restart", {});
    EXPECT_EQ(r.status, 409u) << route << " " << r.body;
  }

  const auto show = cli({"show", "contract-dup"});
  EXPECT_EQ(show.code, 1) << describe(show);
  EXPECT_NE(show.err.find("'contract-dup' matches 2 workers"), std::string::npos) << show.err;
  for (const auto& d : dups) EXPECT_NE(show.err.find(d), std::string::npos) << show.err;
  const auto stop = cli({"stop", "contract-named"});
  EXPECT_EQ(stop.code, 0) << describe(stop);
  EXPECT_EQ(w.wait_state(id, {"exited"}).value("state", ""), "exited");
}

TEST_F(Contract, GivenCtrlCOrSigtermDuringRunThenTheRunIsStoppedInTheDaemonAndTheCliExits130) {
  for (const int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::set<std::string> before;
    for (const auto& e : event_backlog(*d_)) {
      if (e.value("kind", "") == "run") before.insert(e.value("worker_id", ""));
    }
    Proc run(std::vector<std::string>{"--socket", d_->socket_path(), "run", "--", "/bin/sh", "-c",
                                      "echo before-stop; exec sleep 300"});
    // Wait until the daemon runs it, so the signal reaches the CLI while it waits for the result.
    std::string run_id;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (run_id.empty() && std::chrono::steady_clock::now() < deadline) {
      for (const auto& e : event_backlog(*d_)) {
        if (e.value("kind", "") == "run" && before.count(e.value("worker_id", "")) == 0 &&
            e.value("to", "") == "running") {
          run_id = e.value("worker_id", "");
        }
      }
    }
    ASSERT_FALSE(run_id.empty()) << "the run never reached running";
    run.send(sig);
    const auto code = run.wait(30s);
    ASSERT_TRUE(code.has_value()) << "paddock run did not exit after the signal\n" << run.err();
    EXPECT_EQ(*code, 130) << run.err();
    EXPECT_NE(run.err().find("interrupted; the run was stopped"), std::string::npos) << run.err();
    EXPECT_EQ(run.out(), "before-stop\n");  // what the run printed before it was stopped
    const json after = api("/v1/runs/" + run_id);
    EXPECT_EQ(after.value("finished", false), true) << after.dump(2);
    EXPECT_NE(after.value("reason", "").find("stopped by request"), std::string::npos)
        << after.dump(2);
  }
}

TEST_F(Contract, GivenEveryGetRouteThenEachAnswerMatchesItsSchemaInTheOpenApiDocument) {
  const std::string worker = start_worker("contract-schema");
  WorkerApi w(*d_);
  const auto accepted = w.post("/v1/runs?async=1", {{"command", {"/bin/echo", "hi"}}});
  ASSERT_EQ(accepted.status, 202u) << accepted.body;
  const std::string run = accepted.json().value("id", "");
  for (int i = 0; i < 200 && !api("/v1/runs/" + run).value("finished", false); ++i) {
    std::this_thread::sleep_for(50ms);
  }

  // An uploaded bundle for the bundle routes.
  std::string bundle;
  {
    char dir_tmpl[] = "/tmp/paddock-contract-bundle-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_tmpl), nullptr);
    std::ofstream(std::string(dir_tmpl) + "/hello.txt") << "hello\n";
    auto archive = paddock::bundles::pack_directory(dir_tmpl);
    std::filesystem::remove_all(dir_tmpl);
    ASSERT_TRUE(archive) << archive.error().message;
    const auto up = d_->unix_client().request("POST", "/v1/bundles", *archive, {});
    ASSERT_TRUE(up.status == 201u || up.status == 200u) << up.body;
    bundle = up.json().value("id", "");
  }

  const json doc = json::parse(std::ifstream(PADDOCK_SOURCE_DIR "/docs/openapi.json"));
  json cases = json::array();
  std::vector<std::string> routes;
  for (const auto& [route, item] : doc.at("paths").items()) {
    if (!item.contains("get")) continue;
    routes.push_back(route);
    if (route == "/v1/events") continue;  // a stream: its events are checked below
    std::string path = route;
    if (const auto at = path.find("{id}"); at != std::string::npos) {
      path.replace(at, 4,
                   route.rfind("/v1/runs/", 0) == 0      ? run
                   : route.rfind("/v1/bundles/", 0) == 0 ? bundle
                                                         : worker);
    }
    const auto r = d_->unix_client().get(path);
    if (route == "/metrics") {
      EXPECT_EQ(r.status, 200u);
      EXPECT_NE(r.body.find("paddock_workers{"), std::string::npos);
      continue;
    }
    const json body = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << route << ": not JSON: " << r.body;
    if (route == "/v1/openapi.json") {
      EXPECT_EQ(body, doc) << "the served document is not docs/openapi.json";
    }
    cases.push_back({{"route", route}, {"method", "get"}, {"status", r.status}, {"body", body}});
  }
  EXPECT_EQ(routes.size(), 13u) << "GET routes in the document changed: update this test";
  // Errors too: a 404 and an ambiguous 409 (with its matches) carry the Error schema.
  const auto missing = d_->unix_client().get("/v1/workers/no-such-worker");
  cases.push_back({{"route", "/v1/workers/{id}"},
                   {"method", "get"},
                   {"status", missing.status},
                   {"body", missing.json()}});
  for (int i = 0; i < 2; ++i) {
    const auto dup =
        w.post("/v1/workers", {{"name", "contract-schema-dup"}, {"command", {"true"}}});
    ASSERT_EQ(dup.status, 201u) << dup.body;
    w.wait_state(dup.json().value("id", ""), {"exited"});
  }
  const auto ambiguous = d_->unix_client().get("/v1/workers/contract-schema-dup");
  EXPECT_EQ(ambiguous.status, 409u) << ambiguous.body;
  cases.push_back({{"route", "/v1/workers/{id}"},
                   {"method", "get"},
                   {"status", ambiguous.status},
                   {"body", ambiguous.json()}});
  for (const auto& e : event_backlog(*d_)) cases.push_back({{"schema", "Event"}, {"body", e}});

  char tmpl[] = "/tmp/paddock-contract-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(tmpl) << cases.dump();
  const std::string cmd = "python3 " PADDOCK_SOURCE_DIR
                          "/tests/support/validate_openapi.py " PADDOCK_SOURCE_DIR
                          "/docs/openapi.json " +
                          std::string(tmpl) + " 2>&1";
  std::string output;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[4096];
  while (const std::size_t n = std::fread(buf, 1, sizeof buf, p)) output.append(buf, n);
  const int status = ::pclose(p);
  ::unlink(tmpl);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find(std::to_string(cases.size()) + " of " + std::to_string(cases.size())),
            std::string::npos)
      << output;
}

}  // namespace
