#include "paddock/daemon/handoff.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "paddock/daemon/journal.hpp"
#include "paddock/runfiles/runfiles.hpp"
#include "paddock/supervisor/state.hpp"
#include "paddock/util/strings.hpp"

extern char** environ;

namespace paddock::daemon {

namespace {

constexpr int kVersion = 1;
constexpr std::uint64_t kMaxStateBytes = 256ULL * 1024 * 1024;
constexpr auto kCheckTimeout = std::chrono::seconds(10);

std::int64_t to_ms(supervisor::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
supervisor::WallTime from_ms(std::int64_t ms) {
  return supervisor::WallTime(std::chrono::milliseconds(ms));
}

/// Partial lines are raw worker output (any bytes); JSON strings must be UTF-8, so they travel
/// as hex.
std::string hex(const std::string& bytes) {
  return util::to_hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}
template <class T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

/// [[seq, "out"|"err", unix µs, hex text], ...]
nlohmann::json ring_to_json(const std::vector<supervisor::LogLine>& lines) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& l : lines) {
    out.push_back(
        {l.seq, l.stream == supervisor::Stream::Stdout ? "out" : "err",
         std::chrono::duration_cast<std::chrono::microseconds>(l.at.time_since_epoch()).count(),
         hex(l.text)});
  }
  return out;
}

std::optional<std::vector<supervisor::LogLine>> ring_from_json(const nlohmann::json& j) {
  std::vector<supervisor::LogLine> out;
  for (const auto& e : j) {
    if (!e.is_array() || e.size() != 4) return std::nullopt;
    auto text = util::from_hex(e[3].get<std::string>());
    if (!text) return std::nullopt;
    supervisor::LogLine l;
    l.seq = e[0].get<std::uint64_t>();
    l.stream =
        e[1].get<std::string>() == "err" ? supervisor::Stream::Stderr : supervisor::Stream::Stdout;
    l.at = supervisor::WallTime(std::chrono::microseconds(e[2].get<std::int64_t>()));
    l.text = std::move(*text);
    out.push_back(std::move(l));
  }
  return out;
}

nlohmann::json carried_to_json(const supervisor::AdoptedWorker::Carried& c) {
  return {{"state", std::string(supervisor::to_string(c.state))},
          {"reason", c.reason},
          {"created_at_ms", to_ms(c.created_at)},
          {"last_exited_at_ms",
           c.last_exited_at ? nlohmann::json(to_ms(*c.last_exited_at)) : nlohmann::json(nullptr)},
          {"exit_code", opt(c.exit_code)},
          {"signal", opt(c.signal)},
          {"restarts", c.restarts},
          {"consecutive_failures", c.consecutive_failures},
          {"log_seq", c.log_seq},
          {"ring", ring_to_json(c.ring)},
          {"partial_out_hex", hex(c.partial_out)},
          {"partial_err_hex", hex(c.partial_err)},
          {"stop_reason", c.stop_reason},
          {"stop_target", std::string(supervisor::to_string(c.stop_target))},
          {"relaunch_after_stop", c.relaunch_after_stop},
          {"grace_left_ms", c.grace_left_ms},
          {"between_runs", c.between_runs}};
}

Result<supervisor::AdoptedWorker::Carried> carried_from_json(const std::string& id,
                                                             const nlohmann::json& j) {
  auto bad = [&id](const std::string& what) {
    return make_error("invalid_config", "handoff entry " + id + ": " + what);
  };
  if (!j.is_object()) return bad("not an object");
  supervisor::AdoptedWorker::Carried c;
  try {
    auto state = supervisor::parse_state(j.at("state").get<std::string>());
    auto target = supervisor::parse_state(j.at("stop_target").get<std::string>());
    if (!state || !target) return bad("unknown state");
    c.state = *state;
    c.stop_target = *target;
    c.reason = j.at("reason").get<std::string>();
    c.created_at = from_ms(j.at("created_at_ms").get<std::int64_t>());
    if (j.at("last_exited_at_ms").is_number()) {
      c.last_exited_at = from_ms(j["last_exited_at_ms"].get<std::int64_t>());
    }
    if (j.at("exit_code").is_number()) c.exit_code = j["exit_code"].get<int>();
    if (j.at("signal").is_number()) c.signal = j["signal"].get<int>();
    c.restarts = j.at("restarts").get<std::uint32_t>();
    c.consecutive_failures = j.at("consecutive_failures").get<std::uint32_t>();
    c.log_seq = j.at("log_seq").get<std::uint64_t>();
    auto ring = ring_from_json(j.at("ring"));
    if (!ring) return bad("its log lines are not readable");
    c.ring = std::move(*ring);
    auto out = util::from_hex(j.at("partial_out_hex").get<std::string>());
    auto err = util::from_hex(j.at("partial_err_hex").get<std::string>());
    if (!out || !err) return bad("a partial line is not hex");
    c.partial_out = std::move(*out);
    c.partial_err = std::move(*err);
    c.stop_reason = j.at("stop_reason").get<std::string>();
    c.relaunch_after_stop = j.at("relaunch_after_stop").get<bool>();
    c.grace_left_ms = j.at("grace_left_ms").get<std::int64_t>();
    c.between_runs = j.at("between_runs").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
  return c;
}

}  // namespace

nlohmann::json handoff_to_json(const HandoffState& s) {
  nlohmann::json listeners = nlohmann::json::array();
  for (const auto& l : s.listeners) {
    listeners.push_back({{"kind", l.kind}, {"name", l.name}, {"fd", l.fd}});
  }
  nlohmann::json connections = nlohmann::json::array();
  for (const auto& [port, c] : s.connections) {
    connections.push_back({{"port", port},
                           {"outer_fd", c.outer_fd},
                           {"inner_fd", c.inner_fd},
                           {"up_open", c.up_open},
                           {"down_open", c.down_open}});
  }
  nlohmann::json carried = nlohmann::json::object();
  for (const auto& w : s.workers) {
    if (w.carried) carried[w.id] = carried_to_json(*w.carried);
  }
  return {
      {"version", kVersion},
      {"generation", s.generation},
      {"started_at_ms", s.started_at_ms},
      {"spawner", {{"pid", s.spawner_pid}, {"fd", s.spawner_fd}}},
      {"notify_fd", s.notify_fd},
      {"last_event_id", s.last_event_id},
      {"binary", {{"dir_fd", s.binary_dir_fd}, {"name", s.binary_name}, {"shown", s.binary_shown}}},
      {"listeners", std::move(listeners)},
      {"connections", std::move(connections)},
      {"journal", journal_to_json(s.workers)},
      {"carried", std::move(carried)},
      {"preflight", s.preflight}};
}

Result<HandoffState> handoff_from_json(const nlohmann::json& j) {
  if (!j.is_object() || j.value("version", 0) != kVersion) {
    return make_error("invalid_config", "the handoff state is not a version 1 state");
  }
  HandoffState s;
  try {
    s.generation = j.at("generation").get<std::uint64_t>();
    s.started_at_ms = j.at("started_at_ms").get<std::int64_t>();
    s.spawner_pid = j.at("spawner").at("pid").get<pid_t>();
    s.spawner_fd = j.at("spawner").at("fd").get<int>();
    s.notify_fd = j.at("notify_fd").get<int>();
    s.last_event_id = j.at("last_event_id").get<std::uint64_t>();
    s.binary_dir_fd = j.at("binary").at("dir_fd").get<int>();
    s.binary_name = j.at("binary").at("name").get<std::string>();
    s.binary_shown = j.at("binary").at("shown").get<std::string>();
    for (const auto& l : j.at("listeners")) {
      api::HttpServer::Listening h{l.at("kind").get<std::string>(), l.at("name").get<std::string>(),
                                   l.at("fd").get<int>()};
      if ((h.kind != "tcp" && h.kind != "unix") || h.fd < 0) {
        return make_error("invalid_config", "handoff listener " + h.name + " is not usable");
      }
      s.listeners.push_back(std::move(h));
    }
    for (const auto& c : j.at("connections")) {
      net::PortBridge::HandedConnection h;
      h.outer_fd = c.at("outer_fd").get<int>();
      h.inner_fd = c.at("inner_fd").get<int>();
      h.up_open = c.at("up_open").get<bool>();
      h.down_open = c.at("down_open").get<bool>();
      if (h.outer_fd < 0 || h.inner_fd < 0) {
        return make_error("invalid_config", "a handed-over connection has no descriptors");
      }
      s.connections.emplace_back(c.at("port").get<std::uint16_t>(), h);
    }
    s.preflight = j.at("preflight");
  } catch (const nlohmann::json::exception& e) {
    return make_error("invalid_config", std::string("the handoff state: ") + e.what());
  }
  if (s.spawner_fd < 0 || s.spawner_pid <= 0) {
    return make_error("invalid_config", "the handoff state names no spawner");
  }
  auto workers = journal_from_json(j.at("journal"));
  if (!workers) return workers.error();
  const auto& carried = j.value("carried", nlohmann::json::object());
  for (auto& w : *workers) {
    if (!carried.contains(w.id)) {
      return make_error("invalid_config", "handoff entry " + w.id + " carries nothing");
    }
    auto c = carried_from_json(w.id, carried[w.id]);
    if (!c) return c.error();
    w.carried = std::move(*c);
  }
  s.workers = std::move(*workers);
  return s;
}

Result<HandoffState> read_handoff(int fd) {
  util::UniqueFd owned(fd);
  auto text = runfiles::read_sealed_blob(fd, kMaxStateBytes);
  if (!text) return text.error();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return make_error("invalid_config", "the handoff state is not JSON");
  return handoff_from_json(j);
}

Result<void> check_next_image(const InstalledBinary& binary, const std::string& config_path) {
  const std::string exe = binary.exec_path();
  if (::access(exe.c_str(), X_OK) != 0) {
    return make_error(
        "upgrade_failed",
        binary.shown + " cannot be executed by the daemon's user: " + std::strerror(errno));
  }
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return util::errno_error("pipe2", errno);
  util::UniqueFd rd(out[0]);
  util::UniqueFd wr(out[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, wr.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, wr.get(), STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  const char* argv[] = {"paddockd", "check-config", "--config", config_path.c_str(), nullptr};
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, exe.c_str(), &actions, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  wr.reset();
  if (rc != 0) {
    return make_error("upgrade_failed",
                      "cannot start " + binary.shown + " check-config: " + std::strerror(rc));
  }
  std::string printed;
  const auto deadline = std::chrono::steady_clock::now() + kCheckTimeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) break;
    pollfd p{rd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[4096];
    const ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n <= 0) break;
    if (printed.size() < 16384) printed.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) break;
    if (i == 199) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return make_error("upgrade_failed", binary.shown + " check-config did not finish in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  while (!printed.empty() && (printed.back() == '\n' || printed.back() == ' ')) printed.pop_back();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return make_error("upgrade_failed", binary.shown + " check-config --config " + config_path +
                                            " failed" + (printed.empty() ? "" : ": " + printed));
  }
  return {};
}

Error exec_next_image(const InstalledBinary& binary, const std::string& config_path,
                      const HandoffState& state) {
  const std::string exe = binary.exec_path();
  auto blob = runfiles::sealed_blob(
      handoff_to_json(state).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (!blob) return blob.error();
  std::vector<int> keep{blob->get(), state.spawner_fd};
  if (state.notify_fd >= 0) keep.push_back(state.notify_fd);
  if (state.binary_dir_fd >= 0) keep.push_back(state.binary_dir_fd);
  for (const auto& l : state.listeners) keep.push_back(l.fd);
  for (const auto& [port, c] : state.connections) {
    keep.push_back(c.outer_fd);
    keep.push_back(c.inner_fd);
  }
  for (int fd : keep) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) != 0) {
      return util::errno_error("fcntl(F_SETFD) of descriptor " + std::to_string(fd), errno);
    }
  }
  const std::string fd_text = std::to_string(blob->get());
  const char* argv[] = {"paddockd",     "--config",      config_path.c_str(),
                        "--handoff-fd", fd_text.c_str(), nullptr};
  ::execve(exe.c_str(), const_cast<char* const*>(argv), environ);
  const int err = errno;
  for (int fd : keep) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return util::errno_error("execve(" + binary.shown + ")", err);
}

std::string installed_binary_path() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  std::string path(buf, static_cast<std::size_t>(n));
  const std::string deleted = " (deleted)";
  if (path.size() > deleted.size() &&
      path.compare(path.size() - deleted.size(), deleted.size(), deleted) == 0) {
    path.resize(path.size() - deleted.size());
  }
  return path;
}

std::string InstalledBinary::exec_path() const {
  return "/proc/self/fd/" + std::to_string(dir.get()) + "/" + name;
}

Result<InstalledBinary> open_installed_binary() {
  InstalledBinary b;
  b.shown = installed_binary_path();
  const auto slash = b.shown.rfind('/');
  if (slash == std::string::npos || slash + 1 == b.shown.size()) {
    return make_error("io", "cannot tell the directory of " + b.shown);
  }
  b.name = b.shown.substr(slash + 1);
  const std::string dir = slash == 0 ? "/" : b.shown.substr(0, slash);
  b.dir.reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!b.dir) return util::errno_error("open(" + dir + ")", errno);
  return b;
}

}  // namespace paddock::daemon
