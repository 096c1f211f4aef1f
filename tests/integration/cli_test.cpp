// The `paddock` CLI (the built binary, PADDOCK_CLI_PATH) driving a real paddockd over its unix
// socket: every subcommand, exit codes, streaming, refusals and local file commands.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/cli_proc.hpp"
#include "support/daemon.hpp"

using namespace paddock::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: workers run under their own UIDs";
    TestDaemonOptions o;
    o.set["process.stop_grace_seconds"] = "2";
    d = std::make_unique<TestDaemon>(o);
    ASSERT_TRUE(d->started()) << d->start_error();
  }

  /// `paddock --socket <daemon's socket> args...`.
  Ran cli(std::vector<std::string> args, const ProcOptions& o = {},
          std::chrono::milliseconds limit = 60s) {
    args.insert(args.begin(), {std::string("--socket"), d->socket_path()});
    return paddock_cli(args, o, limit);
  }

  std::vector<std::string> with_socket(std::vector<std::string> args) {
    args.insert(args.begin(), {std::string("--socket"), d->socket_path()});
    return args;
  }

  json show(const std::string& id) {
    const auto r = cli({"show", id, "--json"});
    return json::parse(r.out, nullptr, false);
  }

  /// Polls `paddock show --json ID` until the state is one of `states` (bounded).
  json wait_state(const std::string& id, std::initializer_list<const char*> states,
                  std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    json last;
    while (std::chrono::steady_clock::now() < deadline) {
      last = show(id);
      for (const char* s : states) {
        if (last.is_object() && last["state"] == s) return last;
      }
      std::this_thread::sleep_for(100ms);
    }
    return last;
  }

  std::string start(std::vector<std::string> args) {
    args.insert(args.begin(), "start");
    const auto r = cli(args);
    EXPECT_EQ(r.code, 0) << describe(r);
    std::string id = r.out;
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    return id;
  }

  std::unique_ptr<TestDaemon> d;
};

}  // namespace

TEST_F(Cli, GivenRunThenExitCodeIsTheWorkloadsAndOutputGoesToStdoutAndStderr) {
  auto three = cli({"run", "--", "sh", "-c", "exit 3"});
  EXPECT_EQ(three.code, 3) << describe(three);

  auto both = cli({"run", "--", "sh", "-c", "echo to-out; echo to-err >&2"});
  EXPECT_EQ(both.code, 0) << describe(both);
  EXPECT_EQ(both.out, "to-out\n") << describe(both);
  EXPECT_NE(both.err.find("to-err\n"), std::string::npos) << describe(both);
  EXPECT_EQ(both.err.find("to-out"), std::string::npos) << describe(both);

  auto json_run = cli({"--json", "run", "--", "sh", "-c", "echo hi; exit 5"});
  EXPECT_EQ(json_run.code, 5) << describe(json_run);
  const auto result = json::parse(json_run.out, nullptr, false);
  ASSERT_TRUE(result.is_object()) << describe(json_run);
  EXPECT_EQ(result["stdout"], "hi\n");
  EXPECT_EQ(result["exit_code"], 5);
}

TEST_F(Cli, GivenRunKilledBySignalThen128PlusSignal) {
  auto killed = cli({"run", "--", "sh", "-c", "kill -9 $$"});
  EXPECT_EQ(killed.code, 137) << describe(killed);
}

TEST_F(Cli, GivenRunPastItsTimeoutThenExit124AndSaysSo) {
  auto slow = cli({"run", "--timeout", "1", "--", "sleep", "30"});
  EXPECT_EQ(slow.code, 124) << describe(slow);
  EXPECT_NE(slow.err.find("timed out"), std::string::npos) << describe(slow);
}

TEST_F(Cli, GivenStdinFromPipeOrFileThenTheWorkloadReadsIt) {
  ProcOptions o;
  o.stdin_data = "hello from stdin";
  auto piped = cli({"run", "--stdin", "-", "--", "cat"}, o);
  EXPECT_EQ(piped.code, 0) << describe(piped);
  EXPECT_EQ(piped.out, "hello from stdin");

  const std::string file = d->dir() + "/input.txt";
  std::ofstream(file) << "line1\nline2\n";
  auto from_file = cli({"run", "--stdin", file, "--", "wc", "-l"});
  EXPECT_EQ(from_file.code, 0) << describe(from_file);
  EXPECT_EQ(from_file.out.find_first_not_of(" "), from_file.out.find('2')) << describe(from_file);

  auto missing = cli({"run", "--stdin", d->dir() + "/nope", "--", "cat"});
  EXPECT_EQ(missing.code, 1) << describe(missing);
  EXPECT_NE(missing.err.find("cannot read"), std::string::npos) << describe(missing);
}

TEST_F(Cli, GivenWorkersThenStartShowPsRestartKillAndStopWork) {
  const std::string loop = "echo up ${APP_GREETING:-}; while :; do sleep 0.1; done";
  const std::string a = start({"--name", "alpha", "--label", "app=cli", "--label", "tier=x",
                               "--env", "APP_GREETING=hi", "--", "sh", "-c", loop});
  ASSERT_FALSE(a.empty());
  const std::string b = start({"--name", "beta", "--", "sh", "-c", loop});
  ASSERT_FALSE(b.empty());
  auto wa = wait_state(a, {"ready"});
  ASSERT_EQ(wa["state"], "ready") << wa.dump();
  EXPECT_EQ(wa["name"], "alpha");
  EXPECT_EQ(wa["labels"]["app"], "cli");
  ASSERT_EQ(wait_state(b, {"ready"})["state"], "ready");

  // ps --json parses and holds both; the label filter keeps only alpha.
  auto ps = cli({"ps", "--json"});
  ASSERT_EQ(ps.code, 0) << describe(ps);
  const auto list = json::parse(ps.out, nullptr, false);
  ASSERT_FALSE(list.is_discarded()) << ps.out;
  std::vector<std::string> ids;
  for (const auto& w : list["workers"]) ids.push_back(w["id"]);
  EXPECT_NE(std::find(ids.begin(), ids.end(), a), ids.end()) << ps.out;
  EXPECT_NE(std::find(ids.begin(), ids.end(), b), ids.end()) << ps.out;

  // `ls` and `list` are the same command.
  for (const char* alias : {"ls", "list"}) {
    auto same = cli({alias, "--label", "app=cli", "--json"});
    ASSERT_EQ(same.code, 0) << describe(same);
    EXPECT_NE(same.out.find(a), std::string::npos) << same.out;
    EXPECT_EQ(same.out.find(b), std::string::npos) << same.out;
  }

  auto filtered = cli({"ps", "--label", "app=cli"});
  ASSERT_EQ(filtered.code, 0) << describe(filtered);
  EXPECT_EQ(filtered.out.rfind("ID", 0), 0u) << filtered.out;
  for (const char* col : {"NAME", "STATE", "UID", "PID", "PORT", "PROFILE", "AGE", "COMMAND"}) {
    EXPECT_NE(filtered.out.find(col), std::string::npos) << col;
  }
  EXPECT_NE(filtered.out.find(a), std::string::npos) << filtered.out;
  EXPECT_EQ(filtered.out.find(b), std::string::npos) << filtered.out;
  EXPECT_TRUE(filtered.out.find("s ago") != std::string::npos ||
              filtered.out.find("just now") != std::string::npos)
      << filtered.out;
  EXPECT_EQ(filtered.out.find("\x1b["), std::string::npos) << "no colour when not a TTY";
  auto by_state = cli({"ps", "--state", "ready", "--json"});
  EXPECT_EQ(json::parse(by_state.out)["count"], 2) << by_state.out;
  auto bad_state = cli({"ps", "--state", "sleeping"});
  EXPECT_EQ(bad_state.code, 1) << describe(bad_state);
  EXPECT_NE(bad_state.err.find("(field: state)"), std::string::npos) << describe(bad_state);

  // --env reached the workload.
  auto logs_a = cli({"logs", a});
  EXPECT_EQ(logs_a.out, "up hi\n") << describe(logs_a);

  // show: human form.
  auto shown = cli({"show", a});
  ASSERT_EQ(shown.code, 0) << describe(shown);
  EXPECT_NE(shown.out.find("state:"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("ready"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("app=cli"), std::string::npos) << shown.out;

  // restart: a new process, ready again.
  const auto pid_before = wa["pid"];
  auto restarted = cli({"restart", a});
  ASSERT_EQ(restarted.code, 0) << describe(restarted);
  EXPECT_NE(restarted.out.find(a), std::string::npos) << restarted.out;
  json after;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    after = show(a);
    if (after["state"] == "ready" && after["pid"] != pid_before) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(after["state"], "ready") << after.dump();
  EXPECT_NE(after["pid"], pid_before) << after.dump();

  // kill: the signal reaches the worker and ends it.
  auto killed = cli({"kill", a, "--signal", "KILL"});
  ASSERT_EQ(killed.code, 0) << describe(killed);
  auto wk = wait_state(a, {"exited", "failed"});
  EXPECT_TRUE(wk["state"] == "exited" || wk["state"] == "failed") << wk.dump();
  EXPECT_TRUE(wk["signal"] == 9 || wk["signal"] == "KILL" || wk["exit_code"] == 137) << wk.dump();
  auto bad_signal = cli({"kill", b, "--signal", "NOPE"});
  EXPECT_EQ(bad_signal.code, 2) << describe(bad_signal);

  // stop with a grace period.
  auto stopped = cli({"stop", b, "--grace", "1"});
  ASSERT_EQ(stopped.code, 0) << describe(stopped);
  EXPECT_NE(stopped.out.find("stopping"), std::string::npos) << stopped.out;
  EXPECT_TRUE(wait_state(b, {"exited", "failed"})["state"].is_string());
  auto ws = show(b);
  EXPECT_TRUE(ws["state"] == "exited" || ws["state"] == "failed") << ws.dump();

  // An unknown id: the API's message and field, exit 1.
  auto unknown = cli({"show", "no-such-worker"});
  EXPECT_EQ(unknown.code, 1) << describe(unknown);
  EXPECT_NE(unknown.err.find("no worker with id, name or id prefix 'no-such-worker' (field: id)"),
            std::string::npos)
      << describe(unknown);
}

TEST_F(Cli, GivenLogsFollowThenLinesStreamAndItReturnsWhenTheWorkerExits) {
  const std::string id =
      start({"--", "sh", "-c", "echo first; echo oops >&2; sleep 4; echo second"});
  ASSERT_FALSE(id.empty());
  Proc follow(with_socket({"logs", "-f", id}));
  ASSERT_TRUE(follow.wait_for_output("first\n")) << follow.out() << follow.err();
  // The worker is still sleeping: the first line arrived while the stream stays open.
  EXPECT_EQ(follow.out().find("second"), std::string::npos);
  const auto code = follow.wait(30s);
  ASSERT_TRUE(code.has_value()) << "logs -f did not return after the worker exited";
  EXPECT_EQ(*code, 0) << follow.err();
  EXPECT_NE(follow.out().find("first\nsecond\n"), std::string::npos) << follow.out();
  EXPECT_NE(follow.err().find("oops\n"), std::string::npos) << follow.err();

  // Following a worker that has already exited prints its lines and returns at once.
  auto again = cli({"logs", "-f", id}, {}, 20s);
  EXPECT_EQ(again.code, 0) << describe(again);
  EXPECT_EQ(again.out, "first\nsecond\n") << describe(again);

  auto tail = cli({"logs", id, "--tail", "1", "--stream", "stdout"});
  EXPECT_EQ(tail.code, 0) << describe(tail);
  EXPECT_EQ(tail.out, "second\n");
  auto err_only = cli({"logs", id, "--stream", "stderr"});
  EXPECT_EQ(err_only.out, "");
  EXPECT_EQ(err_only.err, "oops\n");
  auto as_json = cli({"logs", id, "--json"});
  EXPECT_EQ(json::parse(as_json.out)["lines"].size(), 3u) << as_json.out;
}

TEST_F(Cli, GivenEventsRunningThenAWorkersStartAndExitArePrinted) {
  Proc events(with_socket({"events"}));
  Proc events_json(with_socket({"events", "--json"}));
  const std::string id = start({"--", "sh", "-c", "sleep 0.5"});
  ASSERT_FALSE(id.empty());
  EXPECT_TRUE(events.wait_for_output(id + "  starting -> ")) << events.out() << events.err();
  EXPECT_TRUE(events.wait_for_output("-> exited")) << events.out() << events.err();
  EXPECT_TRUE(events_json.wait_for_output("\"to\":\"exited\"")) << events_json.out();
  events.terminate();
  events_json.terminate();
  EXPECT_TRUE(events.wait(10s).has_value());
  EXPECT_TRUE(events_json.wait(10s).has_value());
  std::istringstream lines(events_json.out());
  std::string line;
  int parsed = 0;
  while (std::getline(lines, line)) {
    const auto j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j.contains("worker_id")) << line;
    ++parsed;
  }
  EXPECT_GE(parsed, 2);
}

TEST_F(Cli, GivenStatusThenVersionWorkersAndFreeCountsArePrinted) {
  auto status = cli({"status"});
  ASSERT_EQ(status.code, 0) << describe(status);
  EXPECT_NE(status.out.find("paddockd " PADDOCK_VERSION), std::string::npos) << status.out;
  for (const char* s : {"preflight:", "workers:", "free:", "UIDs", "ports"}) {
    EXPECT_NE(status.out.find(s), std::string::npos) << s << "\n" << status.out;
  }
  auto as_json = cli({"status", "--json"});
  ASSERT_EQ(as_json.code, 0) << describe(as_json);
  const auto j = json::parse(as_json.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << as_json.out;
  EXPECT_EQ(j["version"]["version"], PADDOCK_VERSION);
  EXPECT_TRUE(j["free_uids"].is_number_integer()) << as_json.out;
  EXPECT_GT(j["free_uids"].get<int>(), 0) << as_json.out;
  EXPECT_TRUE(j["free_ports"].is_number_integer()) << as_json.out;
}

TEST_F(Cli, GivenPreflightThenTableOrNotAvailableMessage) {
  const auto direct = d->unix_client().get("/v1/preflight");
  auto pre = cli({"preflight"});
  if (direct.status == 501) {
    EXPECT_EQ(pre.code, 1) << describe(pre);
    EXPECT_NE(pre.err.find("preflight is not available in this daemon build"), std::string::npos)
        << describe(pre);
  } else {
    ASSERT_EQ(direct.status, 200u) << direct.body;
    ASSERT_TRUE(direct.json().contains("has_error")) << direct.body;
    const bool failed = direct.json()["has_error"] == true;
    EXPECT_EQ(pre.code, failed ? 1 : 0) << describe(pre);
    EXPECT_EQ(pre.out.rfind("CHECK", 0), 0u) << pre.out;
  }
  auto run = cli({"preflight", "--run"});
  EXPECT_TRUE(run.code == 0 || run.code == 1) << describe(run);
  EXPECT_FALSE(run.out.empty() && run.err.empty());
}

TEST(CliAccess, GivenUserOutsideTheAdminGroupThenPermissionDeniedNamesTheGroupAndExit3) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  if (::getgrnam("staff") == nullptr) GTEST_SKIP() << "the host has no group 'staff'";
  TestDaemonOptions o;
  o.set["server.socket_mode"] = "\"0666\"";  // nobody can connect; the daemon decides
  o.set["server.socket_group"] = "\"staff\"";
  TestDaemon d(o);
  ASSERT_TRUE(d.started()) << d.start_error();
  ProcOptions as_nobody;
  as_nobody.uid = 65534;
  auto r = paddock_cli({"--socket", d.socket_path(), "ps"}, as_nobody);
  EXPECT_EQ(r.code, 3) << describe(r);
  EXPECT_NE(r.err.find("permission denied: join the group 'staff' (usermod -aG staff $USER"),
            std::string::npos)
      << describe(r);
  // Root is let in.
  auto root = paddock_cli({"--socket", d.socket_path(), "ps"});
  EXPECT_EQ(root.code, 0) << describe(root);
}

TEST(CliAccess, GivenSocketModeThatRefusesConnectThenPermissionDeniedAndExit3) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch to another uid";
  TestDaemon d;  // socket mode 0660, root's group
  ASSERT_TRUE(d.started()) << d.start_error();
  ProcOptions as_nobody;
  as_nobody.uid = 65534;
  auto r = paddock_cli({"--socket", d.socket_path(), "status"}, as_nobody);
  EXPECT_EQ(r.code, 3) << describe(r);
  EXPECT_NE(r.err.find("permission denied"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("run as root"), std::string::npos) << describe(r);
}

TEST(CliAccess, GivenNoDaemonThenIsPaddockdRunningAndExit3) {
  const std::string path = "/tmp/paddock-cli-no-daemon-" + std::to_string(::getpid()) + ".sock";
  auto r = paddock_cli({"--socket", path, "ps"});
  EXPECT_EQ(r.code, 3) << describe(r);
  EXPECT_EQ(r.err, "paddock: cannot connect to " + path +
                       ": is paddockd running? (systemctl status paddockd)\n");
  // The environment variable is used when there is no --socket.
  ProcOptions env;
  env.env = {"PADDOCK_SOCKET=" + path};
  auto from_env = paddock_cli({"status"}, env);
  EXPECT_EQ(from_env.code, 3) << describe(from_env);
  EXPECT_NE(from_env.err.find(path), std::string::npos) << describe(from_env);
}

TEST(CliAccess, GivenStoppedDaemonThenItsSocketIsGoneAndTheMessageSaysSo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TestDaemon d;
  ASSERT_TRUE(d.started()) << d.start_error();
  auto before = paddock_cli({"--socket", d.socket_path(), "status"});
  EXPECT_EQ(before.code, 0) << describe(before);
  d.stop();
  auto after = paddock_cli({"--socket", d.socket_path(), "status"});
  EXPECT_EQ(after.code, 3) << describe(after);
  EXPECT_NE(after.err.find("is paddockd running?"), std::string::npos) << describe(after);
}

TEST_F(Cli, GivenTokenCreateThenTokenPrintedOnceHashAppendedAndTheDaemonAcceptsItAfterSighup) {
  const std::string file = d->dir() + "/tokens";
  auto r =
      paddock_cli({"token", "create", "--name", "cli-made", "--scope", "read", "--file", file});
  ASSERT_EQ(r.code, 0) << describe(r);
  std::string token = r.out;
  ASSERT_FALSE(token.empty());
  token.pop_back();
  EXPECT_EQ(token.rfind("pdk_", 0), 0u) << token;
  EXPECT_NE(r.err.find("systemctl reload paddockd"), std::string::npos) << r.err;
  std::ifstream in(file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("cli-made read sha256:"), std::string::npos) << text;
  EXPECT_EQ(text.find(token), std::string::npos) << "the token itself is not stored";

  ASSERT_EQ(::kill(d->pid(), SIGHUP), 0);
  unsigned status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    status = d->tcp().get("/v1/version", {bearer(token)}).status;
    if (status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, 200u);

  auto dup =
      paddock_cli({"token", "create", "--name", "cli-made", "--scope", "write", "--file", file});
  EXPECT_EQ(dup.code, 1) << describe(dup);
  EXPECT_NE(dup.err.find("already exists"), std::string::npos) << describe(dup);
  auto bad_scope =
      paddock_cli({"token", "create", "--name", "x", "--scope", "admin", "--file", file});
  EXPECT_EQ(bad_scope.code, 2) << describe(bad_scope);
}

TEST(CliConfig, GivenGoodAndBadFilesThenOkOrEveryErrorWithExit0Or1) {
  const auto good = paddock_cli({"config", "check", PADDOCK_SOURCE_DIR "/config/paddock.dev.toml"});
  EXPECT_EQ(good.code, 0) << describe(good);
  EXPECT_NE(good.out.find(": ok"), std::string::npos) << describe(good);

  char tmpl[] = "/tmp/paddock-cli-config-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string bad = dir + "/bad.toml";
  std::ofstream(bad) << "[process]\nworker_uid_rnage_start = 1\nworker_gid = 0\n";
  const auto r = paddock_cli({"config", "check", bad});
  EXPECT_EQ(r.code, 1) << describe(r);
  EXPECT_NE(r.err.find(bad + ":2:1:"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("worker_uid_range_start"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("error(s) in " + bad), std::string::npos) << describe(r);
  const auto missing = paddock_cli({"config", "check", dir + "/none.toml"});
  EXPECT_EQ(missing.code, 1) << describe(missing);
  std::filesystem::remove_all(dir);
}

TEST(CliUsage, GivenHelpUnknownCommandOrMissingArgumentThenExitCodes0And2) {
  const auto help = paddock_cli({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("Exit codes:"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("124"), std::string::npos) << help.out;
  for (const char* cmd : {"status", "ps", "show", "start", "stop", "restart", "kill", "logs", "run",
                          "events", "preflight", "config", "token", "seccomp", "completion"}) {
    EXPECT_NE(help.out.find(std::string("  ") + cmd), std::string::npos) << cmd;
  }
  EXPECT_EQ(paddock_cli({"no-such-command"}).code, 2);
  EXPECT_EQ(paddock_cli({"show"}).code, 2);
  EXPECT_EQ(paddock_cli({"logs", "x", "--stream", "both"}).code, 2);
  const auto bad_env =
      paddock_cli({"--socket", "/nonexistent.sock", "start", "--env", "NOEQ", "--", "true"});
  EXPECT_EQ(bad_env.code, 2) << describe(bad_env);
  EXPECT_NE(bad_env.err.find("--env expects KEY=VALUE"), std::string::npos) << describe(bad_env);
}

TEST(CliCompletion, GivenBashScriptThenItParsesAndCompletesSubcommandsAndOptions) {
  const auto script = paddock_cli({"completion", "bash"});
  ASSERT_EQ(script.code, 0) << describe(script);
  char tmpl[] = "/tmp/paddock-cli-completion-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string path = dir + "/paddock.bash";
  std::ofstream(path) << script.out;
  auto complete = [&](const std::string& words, int cword) {
    const std::string cmd = "bash -c 'source " + path + "; COMP_WORDS=(" + words +
                            "); COMP_CWORD=" + std::to_string(cword) +
                            "; _paddock; echo \"${COMPREPLY[*]}\"' 2>&1";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    ::pclose(p);
    return out;
  };
  EXPECT_EQ(complete("paddock se", 1), "seccomp\n");
  EXPECT_EQ(complete("paddock ps --st", 2), "--state\n");
  EXPECT_EQ(complete("paddock seccomp i", 2), "inspect\n");
  EXPECT_NE(complete("paddock logs x --", 3).find("--follow"), std::string::npos);
  EXPECT_EQ(complete("paddock token create --file \"\"", 4), "\n");  // file names (default)
  EXPECT_EQ(complete("paddock run -- s", 3), "\n");                  // the workload's command
  std::filesystem::remove_all(dir);
}
