#pragma once
/// TestDaemon: a real paddockd (PADDOCKD_PATH) started as a child process with a config written
/// into a fresh temporary directory: a free loopback port, a unix socket, a token file with one
/// write and one read token, state/data/log directories and the audit log all inside that
/// directory. The constructor waits (bounded) for /healthz; the destructor sends SIGTERM, then
/// SIGKILL after a bound, reaps the child and removes the directory (kept when the environment
/// variable PADDOCK_TEST_KEEP is set).
///
///   paddock::test::TestDaemon d;
///   ASSERT_TRUE(d.started()) << d.start_error();
///   auto r = d.tcp().get("/v1/version", {paddock::test::bearer(d.read_token())});

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "support/http_client.hpp"

namespace paddock::test {

/// True in the asan preset (the daemon and the tests are built alike). ASan's quarantine keeps
/// freed memory resident (256 MiB by default), so bounds on the daemon's RSS are only
/// meaningful in the other builds; tests check them there and say so here.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif

struct TestDaemonOptions {
  /// "section.key" -> TOML value text, e.g. {"server.max_connections", "2000"} or
  /// {"server.socket_mode", "\"0666\""}. Replaces a generated key or adds one.
  std::map<std::string, std::string> set;
  /// Appended verbatim to the config (for sections the generated config does not contain).
  std::string extra_toml;
  /// Added to the daemon's environment (e.g. PADDOCK_SERVER_MAX_BODY_BYTES); the test's own
  /// PADDOCK_* variables are not passed on.
  std::map<std::string, std::string> env;
  /// Runs in the child between fork and exec (e.g. setrlimit). Keep it to plain syscalls.
  std::function<void()> before_exec;
  /// The paddockd binary to run; "" means the one just built.
  std::string daemon_path;
  /// Wait for /healthz in the constructor.
  bool wait_healthy = true;
  /// Write the config and its directories but start nothing (tests that run the spawner
  /// themselves, as a compromised daemon would).
  bool config_only = false;
  std::chrono::milliseconds start_timeout{15000};
};

class TestDaemon {
 public:
  explicit TestDaemon(TestDaemonOptions options = {});
  ~TestDaemon();
  TestDaemon(const TestDaemon&) = delete;
  TestDaemon& operator=(const TestDaemon&) = delete;

  /// True when the daemon was spawned (and, with wait_healthy, answered /healthz).
  bool started() const { return error_.empty(); }
  /// Why starting failed, including the daemon's log.
  const std::string& start_error() const { return error_; }

  const std::string& dir() const { return dir_; }
  /// The daemon's [bundles] dir (beside dir(); removed with it).
  std::string bundle_store_dir() const { return dir_ + ".bundles"; }
  const std::string& config_path() const { return config_path_; }
  std::uint16_t port() const { return port_; }
  const std::string& socket_path() const { return socket_path_; }
  const std::string& write_token() const { return write_token_; }
  const std::string& read_token() const { return read_token_; }
  std::string audit_log_path() const { return dir_ + "/log/audit.log"; }
  pid_t pid() const { return pid_; }

  /// The daemon's stderr so far.
  std::string log() const;
  HttpClient tcp() const { return HttpClient::tcp("127.0.0.1", port_); }
  HttpClient unix_client() const { return HttpClient::unix_socket(socket_path_); }

  /// True while the child has not exited (reaps it when it has).
  bool running();
  /// Polls /healthz until it answers 200 or `timeout` passes.
  bool wait_healthy(std::chrono::milliseconds timeout);
  /// Waits up to `timeout` for the daemon to exit on its own (no signal sent); returns the wait
  /// status, or nullopt when it is still running.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  /// SIGTERM, then waits up to `timeout`; returns the wait status, or nullopt when the daemon had
  /// to be killed with SIGKILL (or was not running).
  std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Starts paddockd again with the same directory and config once it has exited (or been
  /// killed), its log appended to the first one's; false (see start_error()) when it does not
  /// answer /healthz.
  bool start_again();

 private:
  std::string write_config(const TestDaemonOptions& options);
  void spawn(const TestDaemonOptions& options);

  std::string dir_;
  std::string config_path_;
  std::string socket_path_;
  std::string write_token_;
  std::string read_token_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string error_;
  TestDaemonOptions options_;
  bool append_log_ = false;
};

/// A loopback TCP port that was free a moment ago (bind port 0, read it, close).
std::uint16_t free_loopback_port();

/// The seccomp BPF the test daemons use: PADDOCK_BINARY_DIR/profiles/seccomp/default.bpf when
/// the build produced it, else an allow-all filter generated with libseccomp into `fallback_dir`.
std::string seccomp_profile_for_tests(const std::string& fallback_dir);

}  // namespace paddock::test
