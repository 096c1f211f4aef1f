#include "support/daemon.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "paddock/util/crypto.hpp"

extern char** environ;  // NOLINT

namespace paddock::test {

std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

std::string seccomp_profile_for_tests(const std::string& fallback_dir) {
  const std::string built = PADDOCK_BINARY_DIR "/profiles/seccomp/default.bpf";
  if (std::filesystem::exists(built)) return built;
  // The build has no compiled profile (the seccomp compiler is not part of this tree yet):
  // write an allow-all filter so the daemon has a valid BPF file to point at. Tests that check
  // the sandbox's syscall filtering must use the real profile.
  const std::string path = fallback_dir + "/allow-all.bpf";
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return built;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    seccomp_export_bpf(ctx, fd);
    ::close(fd);
  }
  seccomp_release(ctx);
  return path;
}

namespace {

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

TestDaemon::TestDaemon(TestDaemonOptions options) {
  char tmpl[] = "/tmp/paddock-test-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    error_ = std::string("mkdtemp: ") + std::strerror(errno);
    return;
  }
  dir_ = tmpl;
  // Traversable by other UIDs so tests can reach the socket as an unprivileged user; the
  // socket's own mode decides who may connect.
  ::chmod(dir_.c_str(), 0755);
  for (const char* sub : {"run", "state", "data", "log", "bundles"}) {
    std::filesystem::create_directories(dir_ + "/" + sub);
  }
  ::chmod((dir_ + "/run").c_str(), 0755);
  socket_path_ = dir_ + "/run/paddock.sock";
  write_token_ = util::random_token();
  read_token_ = util::random_token();
  {
    std::ofstream tokens(dir_ + "/tokens");
    tokens << "# test tokens\n"
           << "writer write sha256:" << util::sha256_hex(write_token_) << "\n"
           << "reader read sha256:" << util::sha256_hex(read_token_) << "\n";
  }
  // Read by the daemon after it dropped to [server] user (group paddock): 0640 root:paddock.
  ::chmod((dir_ + "/tokens").c_str(), 0640);
  if (const group* g = ::getgrnam("paddock");
      g != nullptr && ::chown((dir_ + "/tokens").c_str(), 0, g->gr_gid) != 0) {
    error_ = std::string("chown of the tokens file: ") + std::strerror(errno);
    return;
  }
  port_ = free_loopback_port();
  if (port_ == 0) {
    error_ = "could not find a free loopback port";
    return;
  }
  config_path_ = write_config(options);
  options_ = options;
  if (options.config_only) return;
  spawn(options);
  if (!error_.empty() || !options.wait_healthy) return;
  if (!wait_healthy(options.start_timeout)) {
    error_ = "paddockd did not answer /healthz within " +
             std::to_string(options.start_timeout.count()) + " ms" +
             (running() ? "" : " (it exited)") + "; its log:\n" + log();
  }
}

std::string TestDaemon::write_config(const TestDaemonOptions& options) {
  // Section -> ordered (key, TOML value) pairs.
  using Keys = std::vector<std::pair<std::string, std::string>>;
  std::vector<std::pair<std::string, Keys>> sections;
  sections.emplace_back(
      "server", Keys{{"listen", "[" + toml_string("127.0.0.1:" + std::to_string(port_)) + "]"},
                     {"socket", toml_string(socket_path_)},
                     {"socket_mode", toml_string("0660")},
                     {"socket_group", toml_string("")},
                     {"token_file", toml_string(dir_ + "/tokens")}});
  sections.emplace_back(
      "process", Keys{{"seccomp_profile", toml_string(seccomp_profile_for_tests(dir_))},
                      {"sandbox_profiles_dir", toml_string(PADDOCK_SOURCE_DIR "/profiles/sandbox")},
                      {"state_dir", toml_string(dir_ + "/state")},
                      // Workers of a test daemon that was killed do not wait long for another.
                      {"adopt_seconds", "5"},
                      {"data_root", toml_string(dir_ + "/data")},
                      {"bundle_roots", "[" + toml_string(dir_ + "/bundles") + "]"}});
  // Preflight runs at every start; its metadata checks go to a closed loopback port.
  sections.emplace_back("preflight", Keys{{"metadata_endpoint", toml_string("127.0.0.1:9")}});
  // Beside dir_, not in it: dir_ holds the config file, which no mount may contain.
  sections.emplace_back("bundles", Keys{{"dir", toml_string(bundle_store_dir())}});
  sections.emplace_back("log", Keys{{"level", toml_string("debug")},
                                    {"format", toml_string("json")},
                                    {"audit_log", toml_string(dir_ + "/log/audit.log")}});
  for (const auto& [full, value] : options.set) {
    const auto dot = full.find('.');
    const std::string section = full.substr(0, dot);
    const std::string key = dot == std::string::npos ? std::string{} : full.substr(dot + 1);
    auto sec = std::find_if(sections.begin(), sections.end(),
                            [&](const auto& s) { return s.first == section; });
    if (sec == sections.end()) {
      sections.emplace_back(section, Keys{});
      sec = std::prev(sections.end());
    }
    auto kv = std::find_if(sec->second.begin(), sec->second.end(),
                           [&](const auto& p) { return p.first == key; });
    if (kv == sec->second.end()) {
      sec->second.emplace_back(key, value);
    } else {
      kv->second = value;
    }
  }
  std::ostringstream out;
  out << "# Written by TestDaemon\n";
  for (const auto& [section, keys] : sections) {
    out << "\n[" << section << "]\n";
    for (const auto& [k, v] : keys) out << k << " = " << v << "\n";
  }
  out << options.extra_toml << "\n";
  const std::string path = dir_ + "/paddock.toml";
  std::ofstream(path) << out.str();
  return path;
}

void TestDaemon::spawn(const TestDaemonOptions& options) {
  // Everything the child needs is built before fork.
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "PADDOCK_", 8) == 0) continue;
    env_strings.emplace_back(*e);
  }
  for (const auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = options.daemon_path.empty() ? PADDOCKD_PATH : options.daemon_path;
  std::string flag = "--config";
  std::vector<char*> argv{exe.data(), flag.data(), config_path_.data(), nullptr};
  const std::string log_path = dir_ + "/daemon.log";
  const int log_fd = ::open(
      log_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append_log_ ? O_APPEND : O_TRUNC), 0644);
  if (log_fd < 0) {
    error_ = "open(" + log_path + "): " + std::strerror(errno);
    return;
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    error_ = std::string("fork: ") + std::strerror(errno);
    ::close(log_fd);
    return;
  }
  if (pid_ == 0) {
    // Die with the test process, even when it crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    // No descriptor of the test process leaks into the daemon.
    ::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.before_exec) options.before_exec();
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
}

std::string TestDaemon::log() const {
  std::ifstream in(dir_ + "/daemon.log");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool TestDaemon::running() {
  if (pid_ <= 0 || exit_status_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_status_ = status;
    return false;
  }
  return r == 0;
}

bool TestDaemon::wait_healthy(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto client = tcp();
  client.set_timeout(std::chrono::milliseconds(1000));
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running()) return false;
    try {
      if (client.get("/healthz").status == 200) return true;
    } catch (const std::exception&) {
      // not listening yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::optional<int> TestDaemon::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_status_;
}

std::optional<int> TestDaemon::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  if (exit_status_) return exit_status_;
  if (!running()) return exit_status_;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_status_ = status;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  exit_status_ = status;
  return std::nullopt;
}

bool TestDaemon::start_again() {
  if (running()) {
    error_ = "paddockd still runs";
    return false;
  }
  exit_status_.reset();
  pid_ = -1;
  error_.clear();
  append_log_ = true;
  spawn(options_);
  if (!error_.empty()) return false;
  if (!wait_healthy(options_.start_timeout)) {
    error_ = "paddockd did not answer /healthz again; its log:\n" + log();
    return false;
  }
  return true;
}

TestDaemon::~TestDaemon() {
  stop();
  if (!dir_.empty() && std::getenv("PADDOCK_TEST_KEEP") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    std::filesystem::remove_all(bundle_store_dir(), ec);
  }
}

}  // namespace paddock::test
