#include "paddock/privsep/spawner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "paddock/api/json_body.hpp"
#include "paddock/api/worker_json.hpp"
#include "paddock/bundles/store.hpp"
#include "paddock/cgroup/startup.hpp"
#include "paddock/config/loader.hpp"
#include "paddock/daemon/reload.hpp"
#include "paddock/log/log.hpp"
#include "paddock/pool/port_pool.hpp"
#include "paddock/pool/uid_pool.hpp"
#include "paddock/preflight/preflight.hpp"
#include "paddock/preflight/sandbox_probe.hpp"
#include "paddock/privsep/protocol.hpp"
#include "paddock/runfiles/runfiles.hpp"
#include "paddock/sandbox/paths.hpp"
#include "paddock/sandbox/plan.hpp"
#include "paddock/sandbox/warm.hpp"
#include "paddock/seccomp/bpf_file.hpp"
#include "paddock/spawn/reaper.hpp"
#include "paddock/spawn/spawn.hpp"
#include "paddock/supervisor/asio_process_ops.hpp"
#include "paddock/supervisor/supervisor.hpp"
#include "paddock/util/crypto.hpp"
#include "paddock/util/fd.hpp"

namespace paddock::privsep {

namespace asio = boost::asio;
using Required = api::FieldReader::Required;

namespace {

Result<std::string> read_bpf(const config::Config& cfg) {
  auto info = seccomp::validate_bpf_file(cfg.process.seccomp_profile);
  if (!info) return info.error();
  std::ifstream in(cfg.process.seccomp_profile, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Sends a warm request to a parked helper on its control socket, with the run's descriptors
/// attached to the first byte; 0 or the errno (EPIPE: the helper is gone). The helper has run no
/// code of a run yet and reads at once; a send that still stalls gives up after a second.
int send_warm_request(int sock, std::string_view data, const std::vector<int>& fds) {
  const timeval limit{1, 0};
  if (::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) return errno;
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  ssize_t n = -1;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return n < 0 ? errno : EIO;
  data.remove_prefix(static_cast<std::size_t>(n));
  while (!data.empty()) {
    n = ::send(sock, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? errno : EIO;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

/// What can be read from `fd` now (at most 2 KiB), without waiting: a parked sandbox's stderr
/// (bwrap's and the helper's messages) when it ends before a run took it.
std::string available_text(int fd) {
  std::string out(2048, '\0');
  pollfd p{fd, POLLIN, 0};
  if (fd < 0 || ::poll(&p, 1, 0) <= 0) return "";
  const ssize_t n = ::read(fd, out.data(), out.size());
  out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return out;
}

/// Prefixes the field of an error from the spec parser with "spec.".
Error in_spec(Error e) {
  e.field = e.field.empty() ? "spec" : "spec." + e.field;
  return e;
}

class Spawner final : public supervisor::ProcessSink {
 public:
  Spawner(int sock, std::string config_path, config::Config cfg, std::string bpf)
      : sock_(ioc_, sock),
        config_path_(std::move(config_path)),
        cfg_(std::move(cfg)),
        profiles_(cfg_.process.sandbox_profiles_dir),
        uids_(cfg_.process.worker_uid_range_start, cfg_.process.worker_uid_range_end, table_),
        ports_(static_cast<std::uint16_t>(cfg_.process.port_range_start),
               static_cast<std::uint16_t>(cfg_.process.port_range_end), binder_),
        ops_(ioc_, std::move(bpf)),
        chld_(ioc_, SIGCHLD),
        stop_(ioc_, SIGTERM, SIGINT, SIGHUP) {}

  Result<void> start() {
    if (auto r = profiles_.reload(); !r) return r.error();
    if (auto p = profiles_.get(cfg_.process.default_profile); !p) return p.error();
    if (auto r = check_pool(); !r) return r.error();
    if (auto r = uids_.adopt_host_state(); !r) {
      log::warn("cannot scan /proc for processes under worker UIDs",
                {{"error", r.error().message}});
    } else if (uids_.draining() > 0) {
      log::warn(
          "processes from an earlier run still hold worker UIDs; those UIDs wait until they exit",
          {{"uids", uids_.draining()}});
    }
    if (auto r = spawn::become_subreaper(); !r) {
      log::warn("cannot become a child subreaper; orphaned sandbox processes are reaped by pid 1",
                {{"error", r.error().message}});
    }
    ops_.use_cgroups(cgroup::start_for_daemon(cfg_.process.cgroup, "/proc", ::getppid()));
    return {};
  }

  void wait_stop() {
    stop_.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      if (orphaned() && !closing_) {
        stop_everything();
        return;
      }
      wait_stop();
    });
  }

  int run() {
    wait_chld();
    // The daemon's signals are the daemon's business; the spawner stops when its socket closes
    // (or, with no daemon, on SIGTERM/SIGINT/SIGHUP).
    wait_stop();
    wait_request();
    ioc_.run();
    // Sandbox init processes re-parented to us may exit a moment after their bwrap: reap them
    // (bounded) so nothing is left running or for pid 1 to collect.
    for (int i = 0; i < 100; ++i) {
      spawn::reap_orphans([](pid_t) { return false; });
      if (::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  }

  // ProcessSink: events for the daemon.
  void on_started(supervisor::ProcId proc, pid_t workload_pid) override {
    if (auto pk = parked_.find(proc); pk != parked_.end()) {
      // Parked and waiting: the daemon hears of it when a run takes it.
      pk->second.workload_pid = workload_pid;
      refill_backoff_ = std::chrono::milliseconds(0);
      asio::post(ioc_, [this] { refill(); });
      return;
    }
    if (auto it = live_.find(proc); it != live_.end()) it->second.workload_pid = workload_pid;
    if (!silent()) send_event(Type::Started, {{"proc", proc}, {"workload_pid", workload_pid}});
  }
  void on_output(supervisor::ProcId, supervisor::Stream, std::string_view) override {}
  void on_exited(supervisor::ProcId proc, supervisor::ExitStatus status) override {
    if (parked_.count(proc) != 0) {
      unparked(proc, status);
      return;
    }
    auto it = live_.find(proc);
    if (it != live_.end() && silent()) {
      // Told to the daemon that adopts what is left.
      ended_.push_back({{"worker_id", it->second.worker_id},
                        {"uid", it->second.uid},
                        {"spec", it->second.spec},
                        {"started_at_ms", it->second.started_at_ms},
                        {"exited_at_ms", now_ms()},
                        {"exit_code", status.exit_code},
                        {"signal", status.signal}});
    }
    bool data_removed = false;
    if (it != live_.end()) {
      if (!it->second.remove_dir.empty()) {
        // The sandbox is gone as the tree ends: bwrap has exited and its PID namespace with it,
        // or (a warm run, whose end is known before bwrap's) everything under the UID was killed
        // just now. A process killed a moment ago may still finish a system call in the
        // directory; then the removal fails and the daemon asks for it again (remove_data).
        auto removed = spawn::remove_data_dir(it->second.remove_dir);
        data_removed = removed.ok();
        if (!removed) {
          log::debug("a run's data directory is removed later",
                     {{"worker_id", it->second.worker_id}, {"error", removed.error().message}});
        }
      }
      live_.erase(it);
    }
    if (!silent()) {
      send_event(Type::Exited, {{"proc", proc},
                                {"exit_code", status.exit_code},
                                {"signal", status.signal},
                                {"data_removed", data_removed}});
    }
    if (closing_ && live_.empty() && parked_.empty()) ioc_.stop();
  }
  void on_relay(supervisor::ProcId proc, util::UniqueFd control) override {
    if (auto it = live_.find(proc); it != live_.end()) {
      it->second.relay.reset(::fcntl(control.get(), F_DUPFD_CLOEXEC, 3));
    }
    if (!silent()) send_event(Type::Relay, {{"proc", proc}}, {control.get()});
  }

 private:
  void send_event(Type type, const nlohmann::json& body, const std::vector<int>& fds = {}) {
    send(type, 0, body, fds);
  }

  /// Sends one message; waits (bounded) when the daemon's socket buffer is full.
  void send(Type type, std::uint32_t id, const nlohmann::json& body,
            const std::vector<int>& fds = {}) {
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto r = send_message(sock_.native_handle(), type, id, body, fds);
      if (r) return;
      if (r.error().message.find("EAGAIN") == std::string::npos) {
        log::warn("cannot answer the daemon",
                  {{"type", std::string(to_string(type))}, {"error", r.error().message}});
        return;
      }
      pollfd p{sock_.native_handle(), POLLOUT, 0};
      (void)::poll(&p, 1, 100);
    }
    log::warn("the daemon does not read its socket; a message to it was dropped",
              {{"type", std::string(to_string(type))}});
  }

  void reply(std::uint32_t id, const Result<nlohmann::json>& r, const std::vector<int>& fds = {}) {
    if (id == 0) {
      if (!r) log::warn("refused a request from the daemon", {{"error", r.error().message}});
      return;
    }
    send(Type::Reply, id, r ? ok_body(*r) : error_body(r.error()), r ? fds : std::vector<int>{});
  }

  void wait_request() {
    sock_.async_wait(asio::posix::stream_descriptor::wait_read,
                     [this](boost::system::error_code ec) {
                       if (ec) return;
                       for (int i = 0; i < 64; ++i) {
                         Message m;
                         auto got = receive_message(sock_.native_handle(), kMaxRequestBytes, m);
                         if (!got) {
                           log::warn("refused a malformed message from the daemon",
                                     {{"error", got.error().message}});
                           send(Type::Reply, 0, error_body(got.error()));
                           continue;
                         }
                         if (*got == Received::WouldBlock) break;
                         if (*got == Received::Closed) {
                           daemon_gone();
                           return;
                         }
                         handle(std::move(m));
                       }
                       wait_request();
                     });
  }

  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  bool orphaned() const { return !sock_.is_open(); }
  /// No daemon reads events now: none is connected, or the one connected is exec'ing its
  /// successor (Handoff) and the successor has not adopted yet.
  bool silent() const { return orphaned() || held_; }

  /// The daemon is gone. When it said goodbye (or adopt_seconds is 0), every worker is stopped;
  /// when it died, its workers wait adopt_seconds for a new daemon to adopt them.
  void daemon_gone() {
    boost::system::error_code ec;
    sock_.close(ec);
    if (!bye_ && cfg_.process.adopt_seconds > 0 && !live_.empty()) {
      if (auto r = listen_for_adopter(); r) {
        log::warn(
            "the daemon is gone without stopping its workers; they keep running for a new "
            "paddockd to adopt",
            {{"workers", live_.size()},
             {"adopt_seconds", cfg_.process.adopt_seconds},
             {"socket", adopt_path()}});
        adopt_timer_.expires_after(std::chrono::seconds(cfg_.process.adopt_seconds));
        adopt_timer_.async_wait([this](boost::system::error_code tec) {
          if (tec || !orphaned()) return;
          log::warn("no paddockd adopted the workers in time", {});
          stop_everything();
        });
        return;
      } else {
        log::error("cannot wait for a new daemon to adopt the workers",
                   {{"error", r.error().message}});
      }
    }
    stop_everything();
  }

  /// Where a paddockd started again finds this spawner.
  std::string adopt_path() const { return cfg_.process.state_dir + "/spawner.sock"; }

  Result<void> listen_for_adopter() {
    const std::string path = adopt_path();
    util::UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return util::errno_error("socket(AF_UNIX)", errno);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
      return make_error("invalid_config", "the adoption socket path " + path + " is too long");
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    const mode_t old = ::umask(0077);
    const int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    const int bind_errno = errno;
    ::umask(old);
    if (bound != 0) return util::errno_error("bind(" + path + ")", bind_errno);
    if (::listen(fd.get(), 4) != 0) return util::errno_error("listen(" + path + ")", errno);
    adopt_listener_.assign(fd.release());
    accept_adopter();
    return {};
  }

  /// Takes the first connection from root (a paddockd before it drops its privileges) as the
  /// new daemon; anyone else is hung up on.
  void accept_adopter() {
    adopt_listener_.async_wait(
        asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
          if (ec || !orphaned()) return;
          util::UniqueFd conn(::accept4(adopt_listener_.native_handle(), nullptr, nullptr,
                                        SOCK_CLOEXEC | SOCK_NONBLOCK));
          ucred peer{};
          socklen_t len = sizeof peer;
          if (!conn || ::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 ||
              peer.uid != 0) {
            if (conn) log::warn("refused an adopter that is not root", {{"uid", peer.uid}});
            accept_adopter();
            return;
          }
          log::info("a new paddockd connected; it adopts the workers",
                    {{"pid", peer.pid}, {"workers", live_.size()}});
          boost::system::error_code ignored;
          adopt_timer_.cancel();
          adopt_listener_.close(ignored);
          ::unlink(adopt_path().c_str());
          sock_.assign(conn.release());
          wait_request();
        });
  }

  /// Nothing may outlive the daemon unsupervised.
  void stop_everything() {
    log::info("the daemon is gone; stopping every worker", {{"workers", live_.size()}});
    boost::system::error_code ignored;
    adopt_listener_.close(ignored);
    if (!cfg_.process.state_dir.empty()) ::unlink(adopt_path().c_str());
    closing_ = true;
    for (const auto& [proc, l] : live_) ops_.kill_tree(proc);
    retire_parked();
    if (live_.empty() && parked_.empty()) {
      ioc_.stop();
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(ioc_, std::chrono::seconds(5));
    timer->async_wait([this, timer](boost::system::error_code) { ioc_.stop(); });
  }

  void handle(Message m) {
    // The only descriptor the daemon may send: a launch's files, in one sealed memfd.
    const bool files_fd = (m.type == Type::Launch || m.type == Type::LaunchWarm) &&
                          m.fds.size() == 1 && m.body.contains("files");
    if (!m.fds.empty() && !files_fd) {
      reply(m.id, make_error("bad_message",
                             "the spawner takes no descriptors from the daemon but a launch's "
                             "files (one sealed memfd)"));
      return;
    }
    switch (m.type) {
      case Type::Hello:
        reply(m.id, hello(m.body));
        return;
      case Type::LeaseUid:
        reply(m.id, lease_uid(m.body));
        return;
      case Type::ReleaseUid:
        reply(m.id, release_uid(m.body));
        return;
      case Type::LeasePort: {
        util::UniqueFd listener;
        auto r = lease_port(m.body, listener);
        reply(m.id, r, {listener.get()});
        return;
      }
      case Type::ReleasePort:
        reply(m.id, release_port(m.body));
        return;
      case Type::Launch:
      case Type::LaunchWarm: {
        supervisor::Handover h;
        const int files = m.fds.empty() ? -1 : m.fds.front().get();
        auto r = m.type == Type::Launch ? launch(m.body, files, h) : launch_warm(m.body, files, h);
        std::vector<int> fds{h.stdout_fd.get(), h.stderr_fd.get()};
        if (h.stdin_fd) fds.push_back(h.stdin_fd.get());
        reply(m.id, r, fds);
        return;
      }
      case Type::Signal:
        reply(m.id, signal(m.body));
        return;
      case Type::Kill:
        reply(m.id, kill(m.body));
        return;
      case Type::RemoveData:
        reply(m.id, remove_data(m.body));
        return;
      case Type::Preflight:
        preflight(m.id, m.body);
        return;
      case Type::Reload:
        reply(m.id, reload(m.body));
        return;
      case Type::Stats:
        reply(m.id, stats(m.body));
        return;
      case Type::Bye:
        bye_ = true;
        return;
      case Type::Adopt:
        reply(m.id, adopt(m.body));
        held_ = false;
        return;
      case Type::Handoff:
        log::info("the daemon hands over to a new image; holding events until it adopts",
                  {{"workers", live_.size()}});
        reply(m.id, Result<nlohmann::json>(nlohmann::json::object()));
        held_ = true;
        return;
      case Type::AdoptFds: {
        std::vector<int> fds;
        auto r = adopt_fds(m.body, fds);
        reply(m.id, r, fds);
        return;
      }
      case Type::Collect: {
        util::UniqueFd blob;
        auto r = collect(m.body, blob);
        reply(m.id, r, blob ? std::vector<int>{blob.get()} : std::vector<int>{});
        return;
      }
      default:
        reply(m.id, make_error("bad_message", "a " + std::string(to_string(m.type)) +
                                                  " message is not a request"));
    }
  }

  /// Reads the fields of a request body strictly (unknown fields are refused).
  template <class F>
  static Result<nlohmann::json> read(const nlohmann::json& body, F&& fields) {
    api::FieldReader r(body);
    auto out = fields(r);
    if (auto done = r.finish(); !done) return done.error();
    return out;
  }

  Result<std::string> worker_id_of(const nlohmann::json& body) const {
    api::FieldReader r(body);
    auto id = r.string("worker_id", Required::Yes);
    if (auto done = r.finish(); !done) return done.error();
    if (!valid_worker_id(*id)) {
      return make_error("invalid_field",
                        "worker_id '" + id->substr(0, 64) + "' is not a worker or run id",
                        "worker_id");
    }
    return *id;
  }

  /// The UID leased to `id`, which must be a valid id whose tree does not run now (else an
  /// error saying it `live_message`).
  Result<uid_t> leased_and_idle(const std::string& id, const std::string& live_message) const {
    if (!valid_worker_id(id)) {
      return make_error("invalid_field", "worker_id is not a worker or run id", "worker_id");
    }
    auto uid = uid_leases_.find(id);
    if (uid == uid_leases_.end()) {
      return make_error("invalid_request", "worker " + id + " holds no UID from this spawner",
                        "worker_id");
    }
    if (is_live(id)) {
      return make_error("invalid_request", "worker " + id + " " + live_message, "worker_id");
    }
    return uid->second;
  }

  bool is_live(const std::string& worker_id) const {
    for (const auto& [proc, l] : live_) {
      if (l.worker_id == worker_id) return true;
    }
    return false;
  }

  Result<nlohmann::json> hello(const nlohmann::json& body) {
    return read(body, [&](api::FieldReader&) {
      asio::post(ioc_, [this] { refill(); });  // a daemon is connected: park the pool
      return nlohmann::json{{"version", kVersion},
                            {"uid_first", cfg_.process.worker_uid_range_start},
                            {"uid_last", cfg_.process.worker_uid_range_end}};
    });
  }

  Result<nlohmann::json> lease_uid(const nlohmann::json& body) {
    auto id = worker_id_of(body);
    if (!id) return id.error();
    if (uid_leases_.count(*id) != 0) {
      return make_error("invalid_request", "worker " + *id + " holds a UID already", "worker_id");
    }
    std::lock_guard lock(pool_mutex_);
    auto uid = uids_.acquire();
    if (!uid) return uid.error();
    uid_leases_[*id] = *uid;
    return nlohmann::json{{"uid", *uid}, {"draining", uids_.draining()}};
  }

  Result<nlohmann::json> release_uid(const nlohmann::json& body) {
    auto id = worker_id_of(body);
    if (!id) return id.error();
    auto it = uid_leases_.find(*id);
    if (it == uid_leases_.end()) {
      return make_error("not_found", "worker " + *id + " holds no UID", "worker_id");
    }
    if (is_live(*id)) {
      return make_error("invalid_request", "worker " + *id + " still runs", "worker_id");
    }
    {
      // Everything of the UID was killed when its tree ended; the process table is scanned
      // when a UID is needed (acquire) or counted (stats), not on every run's way out.
      std::lock_guard lock(pool_mutex_);
      uids_.release_deferred(it->second);
    }
    uid_leases_.erase(it);
    asio::post(ioc_, [this] { refill(); });
    refill_after_runs();
    return nlohmann::json::object();
  }

  Result<nlohmann::json> lease_port(const nlohmann::json& body, util::UniqueFd& listener) {
    auto id = worker_id_of(body);
    if (!id) return id.error();
    if (port_leases_.count(*id) != 0) {
      return make_error("invalid_request", "worker " + *id + " holds a port already", "worker_id");
    }
    auto lease = ports_.acquire();
    if (!lease) return lease.error();
    listener.reset(::fcntl(lease->listener.get(), F_DUPFD_CLOEXEC, 3));
    const auto port = lease->port;
    port_leases_[*id] = std::move(*lease);
    return nlohmann::json{{"port", port}};
  }

  Result<nlohmann::json> release_port(const nlohmann::json& body) {
    auto id = worker_id_of(body);
    if (!id) return id.error();
    auto it = port_leases_.find(*id);
    if (it == port_leases_.end()) {
      return make_error("not_found", "worker " + *id + " holds no port", "worker_id");
    }
    if (is_live(*id)) {
      return make_error("invalid_request", "worker " + *id + " still runs", "worker_id");
    }
    ports_.release(it->second.port);
    port_leases_.erase(it);
    return nlohmann::json::object();
  }

  /// An uploaded bundle's directory in the store, or an absolute path under a bundle root.
  Result<std::string> resolve_bundle(const std::string& bundle) const {
    if (bundle.empty()) return std::string();
    if (bundle.front() == '/') {
      auto path = sandbox::resolve_bundle_path(bundle, cfg_.process.bundle_roots, fs_);
      if (!path) return in_spec(path.error());
      return path;
    }
    const std::string dir = cfg_.bundles.dir + "/" + bundle + "/root";
    struct stat st {};
    if (!bundles::valid_bundle_id(bundle) || ::lstat(dir.c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
      return make_error("invalid_bundle",
                        "bundle '" + bundle.substr(0, 64) +
                            "' is neither an absolute host path nor an uploaded "
                            "bundle",
                        "spec.bundle");
    }
    return dir;
  }

  /// A launch's files: the list in the body, the contents from the sealed memfd `fd`; every
  /// path and limit checked again (runfiles::write_inputs checks them once more).
  Result<std::vector<runfiles::InputFile>> launch_files(const nlohmann::json& list, int fd) const {
    const auto caps = runfiles::caps_from(cfg_.runs);
    if (!list.is_array()) return make_error("invalid_field", "files is not a list", "files");
    if (fd < 0) return make_error("bad_message", "a launch with files but no memfd", "files");
    if (list.size() > caps.max_files) {
      return make_error("files_limit", "too many files", "files");
    }
    auto blob = runfiles::read_sealed_blob(fd, caps.max_files_bytes);
    if (!blob) return blob.error();
    std::vector<runfiles::InputFile> out;
    for (const auto& e : list) {
      api::FieldReader r(e);
      auto path = r.string("path", Required::Yes);
      auto offset = r.integer("offset", 0, INT64_MAX, Required::Yes);
      auto size = r.integer("size", 0, INT64_MAX, Required::Yes);
      if (auto done = r.finish(); !done) return done.error();
      const auto off = static_cast<std::uint64_t>(*offset);
      const auto len = static_cast<std::uint64_t>(*size);
      if (off > blob->size() || len > blob->size() - off) {
        return make_error("bad_message", "a file points outside the memfd", "files");
      }
      out.push_back({*path, blob->substr(off, len)});
    }
    if (auto ok = runfiles::check_inputs(out, caps); !ok) return ok.error();
    return out;
  }

  Result<nlohmann::json> launch(const nlohmann::json& body, int files_fd, supervisor::Handover& h) {
    api::FieldReader r(body);
    auto id = r.string("worker_id", Required::Yes);
    auto with_stdin = r.boolean("stdin");
    auto workdir = r.boolean("workdir");
    auto remove_at_end = r.boolean("remove_data_at_end");
    accept_files_and_spec(r, body);
    if (auto done = r.finish(); !done) return done.error();
    auto uid = leased_and_idle(*id, "is running already");
    if (!uid) return uid.error();
    auto spec = launch_spec(body);
    if (!spec) return spec.error();
    auto profile = profiles_.get(spec->profile);
    if (!profile) return in_spec(profile.error());
    if (auto ok = command_not_an_option(*spec); !ok) return ok.error();
    auto limits = sandbox::resolve_limits(spec->limits, cfg_.limits);
    if (!limits) return in_spec(limits.error());
    auto network = sandbox::resolve_network(spec->network, cfg_.process);
    if (!network) return in_spec(network.error());
    spec->network = *network;
    auto bundle = resolve_bundle(spec->bundle);
    if (!bundle) return bundle.error();

    sandbox::Allocation alloc;
    alloc.worker_id = *id;
    alloc.uid = *uid;
    alloc.bundle_path = *bundle;
    alloc.run_workdir = workdir.value_or(false);
    supervisor::LaunchRequest req;
    if (body.contains("files")) {
      if (!alloc.run_workdir) {
        return make_error("invalid_request", "files without a working directory", "files");
      }
      auto files = launch_files(body["files"], files_fd);
      if (!files) return files.error();
      req.files = std::move(*files);
    }
    req.run_workdir = alloc.run_workdir;
    req.file_caps = runfiles::caps_from(cfg_.runs);
    if (spec->port) {
      auto port = port_leases_.find(*id);
      if (port == port_leases_.end()) {
        return make_error("invalid_request", "worker " + *id + " holds no port from this spawner",
                          "spec.port");
      }
      alloc.port = port->second.port;
      // Host network: the workload binds the port itself once the reservation is closed.
      // Otherwise the daemon holds it and bridges it; this copy is not needed.
      // (The spawner keeps its own copy otherwise: a daemon that adopts the worker gets it.)
      if (*network == sandbox::NetworkMode::Host)
        req.port_listener = std::move(port->second.listener);
    }
    auto plan = sandbox::make_plan(*spec, *profile, cfg_, alloc);
    if (!plan) return in_spec(plan.error());
    req.plan = std::move(*plan);
    req.spec = *spec;
    if (with_stdin.value_or(false)) req.stdin_data = std::string();
    req.handover = &h;
    auto launched = ops_.launch(std::move(req), *this);
    if (!launched) return launched.error();
    record_live(launched->first, *id, *uid, launched->second, body["spec"], h);
    if (remove_at_end.value_or(false) && alloc.run_workdir) {
      live_.at(launched->first).remove_dir = cfg_.process.data_root + "/" + *id;
    }
    nlohmann::json out{{"proc", launched->first}, {"pid", launched->second}};
    add_cgroup(out, launched->first);
    return out;
  }

  /// A launch's fields besides the worker's: "files" (read by launch_files) and "spec" (read
  /// by the API's own strict parser in launch_spec).
  static void accept_files_and_spec(api::FieldReader& r, const nlohmann::json& body) {
    if (body.contains("files")) r.accept("files");
    if (auto spec_reader = r.object("spec", Required::Yes)) {
      for (const auto& [key, value] : body["spec"].items()) spec_reader->accept(key);
    }
  }

  /// A launch's "spec", with the default profile filled in.
  Result<sandbox::WorkerSpec> launch_spec(const nlohmann::json& body) const {
    auto spec = api::parse_worker_spec(body["spec"]);
    if (!spec) return in_spec(spec.error());
    if (spec->profile.empty()) spec->profile = cfg_.process.default_profile;
    return spec;
  }

  /// bwrap would read a command starting with '-' as one of its options.
  static Result<void> command_not_an_option(const sandbox::WorkerSpec& spec) {
    if (!spec.command.empty() && !spec.command.front().empty() &&
        spec.command.front().front() == '-') {
      return make_error("invalid_field", "the command must not start with '-'", "spec.command");
    }
    return {};
  }

  /// A tree that runs from now on, as a daemon that adopts it would need it. The output pipes
  /// handed over in `h` are duplicated: a daemon that adopts this worker after a crash reads the
  /// same pipes.
  void record_live(supervisor::ProcId proc, const std::string& worker_id, uid_t uid, pid_t pid,
                   const nlohmann::json& spec, const supervisor::Handover& h) {
    Live& l = live_[proc];
    l.worker_id = worker_id;
    l.uid = uid;
    l.pid = pid;
    l.spec = spec;
    l.started_at_ms = now_ms();
    l.out.reset(::fcntl(h.stdout_fd.get(), F_DUPFD_CLOEXEC, 3));
    l.err.reset(::fcntl(h.stderr_fd.get(), F_DUPFD_CLOEXEC, 3));
  }

  /// "cgroup" and "cgroup_path" of a tree placed in a cgroup leaf.
  void add_cgroup(nlohmann::json& out, supervisor::ProcId proc) const {
    if (auto c = ops_.cgroup_of(proc)) {
      out["cgroup"] = {{"memory", c->memory}, {"cpu", c->cpu}, {"pids", c->pids}};
      out["cgroup_path"] = ops_.cgroup_path(proc);
    }
  }

  // Warm sandboxes ([pool] warm).

  /// Every profile [pool] warm names exists, and the helper is there when any count is set.
  Result<void> check_pool() {
    bool any = false;
    for (const auto& [name, n] : cfg_.pool.warm) {
      if (n == 0) continue;
      any = true;
      if (auto p = profiles_.get(name); !p) {
        return make_error("invalid_config", "[pool] warm names profile '" + name +
                                                "', which cannot be used: " + p.error().message);
      }
    }
    if (!any) return {};
    return load_warm_helper();
  }

  Result<void> load_warm_helper() {
    if (!warm_helper_.empty()) return {};
    auto path =
        preflight::locate_libexec_helper(cfg_.pool.helper_path, "paddock-warm", "pool.helper_path");
    if (!path) return path.error();
    constexpr std::size_t kHelperLimit = 16U << 20U;
    auto bytes = util::read_file_no_symlinks(*path, kHelperLimit);
    if (!bytes)
      return make_error("probe_missing", "cannot read " + *path + ": " + bytes.error().message);
    warm_helper_ = std::move(*bytes);
    warm_helper_digest_ = "paddock-warm sha256:" + util::sha256_hex(warm_helper_);
    return {};
  }

  std::size_t parked_ready() const {
    std::size_t n = 0;
    for (const auto& [proc, p] : parked_) n += p.workload_pid > 0 && !p.retiring ? 1 : 0;
    return n;
  }

  /// Parks sandboxes until each profile of [pool] warm has its count. One at a time: the next
  /// starts once the one before runs, so the pool takes at most one sandbox start's worth of
  /// the host from cold starts. Never while no daemon is connected, nor into the last UIDs.
  void refill() {
    if (closing_ || silent() || refill_waiting_ || refill_soon_armed_) return;
    std::uint64_t total = 0;
    for (const auto& [name, n] : cfg_.pool.warm) total += n;
    for (const auto& [proc, p] : parked_) {
      if (p.workload_pid < 0 && !p.retiring) return;  // one is starting
    }
    for (const auto& [name, want] : cfg_.pool.warm) {
      std::size_t have = 0;
      for (const auto& [proc, p] : parked_) have += p.profile == name && !p.retiring ? 1 : 0;
      if (have >= want) continue;
      {
        std::lock_guard lock(pool_mutex_);
        // A parked sandbox never takes one of the last `total` free UIDs: cold starts keep them.
        if (uids_.leased() + uids_.draining() + total >= uids_.capacity()) (void)uids_.reclaim();
        if (uids_.leased() + uids_.draining() + total >= uids_.capacity()) return;
      }
      if (auto r = park(name); !r) {
        log::warn("cannot park a warm sandbox; cold starts serve the runs meanwhile",
                  {{"profile", name}, {"error", r.error().message}});
        back_off();
      }
      return;
    }
  }

  /// After a failure: the next try in 1 s, doubling up to a minute.
  void back_off() {
    refill_backoff_ = std::clamp(refill_backoff_ * 2, std::chrono::milliseconds(1000),
                                 std::chrono::milliseconds(60000));
    refill_waiting_ = true;
    refill_timer_.expires_after(refill_backoff_);
    refill_timer_.async_wait([this](boost::system::error_code ec) {
      refill_waiting_ = false;
      if (!ec) refill();
    });
  }

  /// What a parked sandbox of `profile` is planned from: a run of that profile without options,
  /// the helper as its command, the runs' default network.
  Result<sandbox::WorkerSpec> parked_spec(const std::string& profile) const {
    sandbox::WorkerSpec s;
    s.profile = profile;
    s.command = {sandbox::kHelperProgramPath};
    auto network = sandbox::resolve_run_network(std::nullopt, cfg_);
    if (!network) return network.error();
    s.network = *network;
    return s;
  }

  /// A parked sandbox's allocation. The helper's bytes (800 KiB) are only needed to start it;
  /// plans that are only compared or read for the command and environment carry the helper's
  /// digest in their place, so a run's claim copies and compares 64 bytes, not the binary.
  sandbox::Allocation parked_allocation(const std::string& id, uid_t uid,
                                        bool with_helper_bytes = false) const {
    sandbox::Allocation a;
    a.worker_id = id;
    a.uid = uid;
    a.run_workdir = true;
    a.helper_program = with_helper_bytes ? warm_helper_ : warm_helper_digest_;
    a.warm_control = true;
    return a;
  }

  /// The plan of a parked sandbox of `profile_name` (see parked_allocation for the helper).
  Result<sandbox::SandboxPlan> parked_plan(const std::string& profile_name, const std::string& id,
                                           uid_t uid, bool with_helper_bytes = false) const {
    auto profile = profiles_.get(profile_name);
    if (!profile) return profile.error();
    auto spec = parked_spec(profile_name);
    if (!spec) return spec.error();
    return sandbox::make_plan(*spec, *profile, cfg_, parked_allocation(id, uid, with_helper_bytes));
  }

  Result<void> park(const std::string& profile_name) {
    if (auto r = load_warm_helper(); !r) return r.error();
    auto spec = parked_spec(profile_name);
    if (!spec) return spec.error();
    std::string id = util::random_id("r-");
    while (uid_leases_.count(id) != 0) id = util::random_id("r-");
    Result<uid_t> uid = [this] {
      std::lock_guard lock(pool_mutex_);
      return uids_.acquire();
    }();
    if (!uid) return uid.error();
    auto give_back = [this, &id, &uid] {
      std::lock_guard lock(pool_mutex_);
      uids_.release(*uid);
      uid_leases_.erase(id);
    };
    uid_leases_[id] = *uid;
    auto plan = parked_plan(profile_name, id, *uid, true);
    auto compared = parked_plan(profile_name, id, *uid);
    if (!plan || !compared) {
      give_back();
      return plan ? compared.error() : plan.error();
    }
    supervisor::Handover h;
    supervisor::LaunchRequest req;
    req.plan = *plan;
    req.spec = *spec;
    req.run_workdir = true;
    req.file_caps = runfiles::caps_from(cfg_.runs);
    req.handover = &h;
    auto launched = ops_.launch(std::move(req), *this);
    if (!launched) {
      give_back();
      ops_.remove_data_dir(plan->data_dir);
      return launched.error();
    }
    Parked& p = parked_[launched->first];
    p.id = id;
    p.uid = *uid;
    p.profile = profile_name;
    p.plan = std::move(*compared);
    p.pid = launched->second;
    p.control = std::move(h.control_fd);
    p.out = std::move(h.stdout_fd);
    p.err = std::move(h.stderr_fd);
    log::debug("parked a warm sandbox",
               log::worker_fields(id, static_cast<long>(*uid), p.pid, {{"profile", profile_name}}));
    return {};
  }

  /// After a reload: a parked sandbox the new config would plan otherwise (or no longer wants)
  /// is stopped; new ones are parked by refill().
  void reconcile_pool() {
    const bool helper = load_warm_helper().ok();
    std::map<std::string, std::uint32_t> kept;
    for (auto& [proc, p] : parked_) {
      if (p.retiring) continue;
      bool keep = helper;
      if (keep) {
        auto again = parked_plan(p.profile, p.id, p.uid);
        keep = again && sandbox::same_sandbox(p.plan, *again);
      }
      const auto want = cfg_.pool.warm.find(p.profile);
      if (keep && (want == cfg_.pool.warm.end() || kept[p.profile] >= want->second)) keep = false;
      if (keep) {
        ++kept[p.profile];
        continue;
      }
      p.retiring = true;
      ops_.kill_tree(proc);
    }
  }

  /// Stops every parked sandbox (their ends clean up in unparked()).
  void retire_parked() {
    for (auto& [proc, p] : parked_) {
      if (p.retiring) continue;
      p.retiring = true;
      ops_.kill_tree(proc);
    }
  }

  /// A parked sandbox ended before any run took it: its UID and directory go back.
  void unparked(supervisor::ProcId proc, supervisor::ExitStatus status) {
    auto it = parked_.find(proc);
    if (it == parked_.end()) return;
    Parked p = std::move(it->second);
    parked_.erase(it);
    {
      std::lock_guard lock(pool_mutex_);
      uids_.release(p.uid);
    }
    uid_leases_.erase(p.id);
    ops_.remove_data_dir(p.plan.data_dir);
    if (closing_) {
      if (live_.empty() && parked_.empty()) ioc_.stop();
      return;
    }
    if (p.retiring) {
      asio::post(ioc_, [this] { refill(); });
      return;
    }
    std::string why = status.signal != 0 ? "signal " + std::to_string(status.signal)
                                         : "exit code " + std::to_string(status.exit_code);
    log::warn(
        "a parked warm sandbox ended before a run took it",
        log::worker_fields(
            p.id, static_cast<long>(p.uid), p.pid,
            {{"profile", p.profile}, {"ended", why}, {"stderr", available_text(p.err.get())}}));
    back_off();
  }

  /// A warm run's end as its helper reports it: the tree ends at once (AsioProcessOps::
  /// end_reported) instead of after bwrap's teardown. A helper that ends without a report (it
  /// was killed) leaves the end to bwrap's exit, as in a cold start. The report can only come
  /// from the helper or from the run's own processes (the command does not get the socket, but
  /// shares the UID): at worst a run reports its own end early, and is then killed.
  void watch_warm_exit(supervisor::ProcId proc, util::UniqueFd control) {
    auto r = std::make_shared<WarmReport>(ioc_, control.release());
    live_.at(proc).report = r;
    asio::async_read(r->sd, asio::buffer(r->buf),
                     [this, proc, r](boost::system::error_code ec, std::size_t n) {
                       if (ec || live_.count(proc) == 0) return;
                       auto code = sandbox::decode_warm_exit(std::string_view(r->buf.data(), n));
                       if (!code) {
                         log::warn(
                             "unreadable exit report from a warm sandbox; its end is "
                             "taken from bwrap",
                             log::Fields{{"worker_id", live_.at(proc).worker_id},
                                         {"error", code.error().message}});
                         return;
                       }
                       ops_.end_reported(proc, supervisor::ExitStatus{*code, 0});
                     });
  }

  static Error no_warm(const std::string& why) { return make_error("no_warm_sandbox", why); }

  /// A run served by a parked sandbox: the run's plan for that sandbox must match the parked
  /// one but for the command and the environment, which the helper receives on its control
  /// socket with the run's own pipes (sandbox/warm.hpp). Anything else is "no_warm_sandbox" and the
  /// daemon starts the run cold; a request error that a cold start would meet too is returned as it
  /// is.
  Result<nlohmann::json> launch_warm(const nlohmann::json& body, int files_fd,
                                     supervisor::Handover& h) {
    api::FieldReader r(body);
    auto with_stdin = r.boolean("stdin");
    auto remove_at_end = r.boolean("remove_data_at_end");
    accept_files_and_spec(r, body);
    if (auto done = r.finish(); !done) return done.error();
    auto spec = launch_spec(body);
    if (!spec) return spec.error();
    if (!spec->bundle.empty() || spec->port) return no_warm("a run with a bundle or a port");
    auto network = sandbox::resolve_run_network(spec->network, cfg_);
    if (!network) return in_spec(network.error());
    spec->network = *network;
    auto it = parked_.end();
    for (auto i = parked_.begin(); i != parked_.end(); ++i) {
      if (i->second.profile != spec->profile || i->second.retiring) continue;
      if (it == parked_.end() || (it->second.workload_pid < 0 && i->second.workload_pid > 0)) {
        it = i;
      }
    }
    if (it == parked_.end()) return no_warm("no sandbox of profile " + spec->profile + " parked");
    Parked& p = it->second;
    const supervisor::ProcId proc = it->first;
    auto profile = profiles_.get(spec->profile);
    if (!profile) return in_spec(profile.error());
    const auto alloc = parked_allocation(p.id, p.uid);
    sandbox::WorkerSpec canonical = *spec;
    canonical.command = {sandbox::kHelperProgramPath};
    canonical.env.clear();
    auto same = sandbox::make_plan(canonical, *profile, cfg_, alloc);
    if (!same || !sandbox::same_sandbox(p.plan, *same)) {
      return no_warm("the run needs another sandbox than the parked one");
    }
    if (auto ok = command_not_an_option(*spec); !ok) return ok.error();
    auto plan = sandbox::make_plan(*spec, *profile, cfg_, alloc);
    if (!plan) return in_spec(plan.error());
    if (body.contains("files")) {
      // From here on the sandbox is the run's: a failure stops it.
      auto files = launch_files(body["files"], files_fd);
      Result<void> written =
          files ? runfiles::write_inputs_as(plan->data_dir, *files, plan->uid, plan->gid,
                                            runfiles::caps_from(cfg_.runs))
                : Result<void>(files.error());
      if (!written) {
        p.retiring = true;
        ops_.kill_tree(proc);
        return written.error();
      }
    }
    // The run's own pipes: only its command holds their far ends (bwrap's copies of 0-2 are
    // the parked sandbox's), so their EOF comes when the command and what it started are done.
    const bool stdin_pipe = with_stdin.value_or(false);
    auto out_pipe = spawn::make_pipe();
    if (!out_pipe) return out_pipe.error();
    auto err_pipe = spawn::make_pipe();
    if (!err_pipe) return err_pipe.error();
    std::pair<util::UniqueFd, util::UniqueFd> in_pipe;
    if (stdin_pipe) {
      auto made = spawn::make_pipe();
      if (!made) return made.error();
      in_pipe = std::move(*made);
    }
    // Without stdin data the command gets /dev/null from the helper, as in a cold start.
    std::vector<int> theirs{out_pipe->second.get(), err_pipe->second.get()};
    if (stdin_pipe) theirs.push_back(in_pipe.first.get());
    const std::string request = sandbox::encode_warm_request(plan->command, plan->sandbox_env);
    if (const int e = send_warm_request(p.control.get(), request, theirs); e != 0) {
      p.retiring = true;
      ops_.kill_tree(proc);
      return no_warm("the parked sandbox did not take the run (" + std::string(std::strerror(e)) +
                     ")");
    }
    h.stdout_fd = std::move(out_pipe->first);
    h.stderr_fd = std::move(err_pipe->first);
    if (stdin_pipe) h.stdin_fd = std::move(in_pipe.second);
    record_live(proc, p.id, p.uid, p.pid, body["spec"], h);
    watch_warm_exit(proc, std::move(p.control));
    Live& l = live_.at(proc);
    l.workload_pid = p.workload_pid;
    l.warm = true;
    if (remove_at_end.value_or(false)) l.remove_dir = plan->data_dir;
    nlohmann::json out{{"worker_id", p.id},
                       {"uid", p.uid},
                       {"proc", proc},
                       {"pid", p.pid},
                       {"workload_pid", p.workload_pid > 0 ? nlohmann::json(p.workload_pid)
                                                           : nlohmann::json(nullptr)}};
    add_cgroup(out, proc);
    parked_.erase(it);
    ++warm_served_;
    // The replacement is parked once this run has ended and the daemon has cleaned up after it
    // (remove_data): a start holds the spawner up for a moment, and with it the run's own end.
    // A run that takes longer than kRefillDelay does not hold the refill up further.
    if (!refill_soon_armed_) {
      refill_soon_armed_ = true;
      refill_soon_.expires_after(kRefillDelay);
      refill_soon_.async_wait([this](boost::system::error_code) {
        refill_soon_armed_ = false;
        refill();
      });
    }
    return out;
  }

  /// What the daemon that went away left: the trees that run and those that ended since.
  Result<nlohmann::json> adopt(const nlohmann::json& body) {
    std::vector<std::string> named;
    auto checked = read(body, [&named](api::FieldReader& r) {
      named = r.string_array("keep", Required::No).value_or(std::vector<std::string>{});
      return nlohmann::json::object();
    });
    if (!checked) return checked.error();
    // Leases of workers that neither run nor ended meanwhile (between restarts, or ended before
    // the old daemon read that) go back: the new daemon will never know those ids. An upgrade
    // names the workers it knows between two runs of their tree ("keep"): theirs stay.
    std::set<std::string> keep(named.begin(), named.end());
    for (const auto& [proc, l] : live_) keep.insert(l.worker_id);
    for (const auto& e : ended_) keep.insert(e.value("worker_id", ""));
    for (const auto& [proc, pk] : parked_) keep.insert(pk.id);
    {
      std::lock_guard lock(pool_mutex_);
      std::erase_if(uid_leases_, [&](const auto& lease) {
        if (keep.count(lease.first) != 0) return false;
        uids_.release(lease.second);
        return true;
      });
    }
    std::erase_if(port_leases_, [&](const auto& lease) {
      if (keep.count(lease.first) != 0) return false;
      ports_.release(lease.second.port);
      return true;
    });
    nlohmann::json workers = nlohmann::json::array();
    for (const auto& [proc, l] : live_) {
      nlohmann::json w{{"worker_id", l.worker_id},
                       {"proc", proc},
                       {"pid", l.pid},
                       {"workload_pid", l.workload_pid > 0 ? nlohmann::json(l.workload_pid)
                                                           : nlohmann::json(nullptr)},
                       {"uid", l.uid},
                       {"spec", l.spec},
                       {"started_at_ms", l.started_at_ms}};
      if (auto port = port_leases_.find(l.worker_id); port != port_leases_.end()) {
        w["port"] = port->second.port;
      }
      add_cgroup(w, proc);
      workers.push_back(std::move(w));
    }
    nlohmann::json ended = nlohmann::json::array();
    for (auto& e : ended_) {
      const std::string id = e["worker_id"];
      if (auto port = port_leases_.find(id); port != port_leases_.end())
        e["port"] = port->second.port;
      ended.push_back(std::move(e));
    }
    ended_.clear();
    return nlohmann::json{{"workers", std::move(workers)}, {"exited", std::move(ended)}};
  }

  /// A running tree's descriptors for the daemon that adopts it: its output pipes, its port's
  /// listener and its relay when the port is bridged.
  Result<nlohmann::json> adopt_fds(const nlohmann::json& body, std::vector<int>& fds) {
    if (body.contains("port_of")) {
      // {port_of: worker_id}: only the port's listener, for a worker between two runs of its
      // tree (it restarts under the new image and its port is bridged again).
      auto id = worker_id_of({{"worker_id", body.at("port_of")}});
      if (!id) return id.error();
      auto port = port_leases_.find(*id);
      if (port == port_leases_.end() || !port->second.listener) {
        return make_error("not_found", "worker " + *id + " holds no port", "port_of");
      }
      fds = {port->second.listener.get()};
      return nlohmann::json{{"listener", true}};
    }
    api::FieldReader r(body);
    auto proc = live_proc(r);
    if (auto done = r.finish(); !done) return done.error();
    if (!proc) return proc.error();
    const Live& l = live_.at(*proc);
    if (!l.out || !l.err) return make_error("not_found", "the tree's output pipes are gone");
    fds = {l.out.get(), l.err.get()};
    nlohmann::json out{{"listener", false}, {"relay", false}};
    if (auto port = port_leases_.find(l.worker_id);
        port != port_leases_.end() && port->second.listener) {
      fds.push_back(port->second.listener.get());
      out["listener"] = true;
      if (l.relay) {
        fds.push_back(l.relay.get());
        out["relay"] = true;
      }
    }
    return out;
  }

  Result<supervisor::ProcId> live_proc(api::FieldReader& r) const {
    auto proc = r.integer("proc", 1, INT64_MAX, Required::Yes);
    if (!r.ok() || !proc) return make_error("invalid_field", "proc is missing", "proc");
    const auto p = static_cast<supervisor::ProcId>(*proc);
    if (live_.count(p) == 0)
      return make_error("not_found", "no live process tree " + std::to_string(p), "proc");
    return p;
  }

  Result<nlohmann::json> signal(const nlohmann::json& body) {
    api::FieldReader r(body);
    auto proc = live_proc(r);
    auto sig = r.integer("signal", 1, SIGRTMAX, Required::Yes);
    if (auto done = r.finish(); !done) return done.error();
    if (!proc) return proc.error();
    // A warm run's command is the helper's child: it gets the signal itself, as a cold start's
    // workload would (the helper forwards what it receives, but SIGSTOP and SIGKILL cannot be
    // forwarded). Before the helper has forked, the helper gets it.
    const Live& l = live_.at(*proc);
    if (l.warm && l.workload_pid > 0 && spawn::signal_only_child(l.workload_pid, *sig)) {
      return nlohmann::json::object();
    }
    ops_.signal_workload(*proc, static_cast<int>(*sig));
    return nlohmann::json::object();
  }

  Result<nlohmann::json> kill(const nlohmann::json& body) {
    api::FieldReader r(body);
    auto proc = live_proc(r);
    if (auto done = r.finish(); !done) return done.error();
    if (!proc) return proc.error();
    ops_.kill_tree(*proc);
    return nlohmann::json::object();
  }

  Result<nlohmann::json> remove_data(const nlohmann::json& body) {
    auto id = worker_id_of(body);
    if (!id) return id.error();
    if (is_live(*id) || uid_leases_.count(*id) != 0) {
      return make_error("invalid_request",
                        "worker " + *id + " still runs or holds its UID; its data stays",
                        "worker_id");
    }
    ops_.remove_data_dir(cfg_.process.data_root + "/" + *id);
    refill_after_runs();
    return nlohmann::json::object();
  }

  /// The daemon cleans up after a run (release_uid, remove_data): when no run that took a
  /// parked sandbox is still going, the pool refills now (see launch_warm).
  void refill_after_runs() {
    bool warm_running = false;
    for (const auto& [p, l] : live_) warm_running = warm_running || l.warm;
    if (!warm_running && refill_soon_armed_) asio::post(ioc_, [this] { refill_soon_.cancel(); });
  }

  /// Reads a run's working directory once its tree has ended (and with it every process of its
  /// UID): only while the run still holds its UID, so the directory is still its own.
  Result<nlohmann::json> collect(const nlohmann::json& body, util::UniqueFd& blob) {
    api::FieldReader r(body);
    auto id = r.string("worker_id", Required::Yes);
    auto patterns = r.string_array("patterns", Required::Yes);
    if (auto done = r.finish(); !done) return done.error();
    auto uid = leased_and_idle(*id, "still runs");
    if (!uid) return uid.error();
    auto caps = runfiles::caps_from(cfg_.runs);
    caps.collect_total_bytes = std::min(caps.collect_total_bytes, kMaxCollectBlobBytes);
    if (patterns->size() > caps.max_collect_patterns) {
      return make_error("invalid_field", "too many patterns", "patterns");
    }
    auto found = runfiles::collect(cfg_.process.data_root + "/" + *id, *patterns, *uid,
                                   cfg_.process.worker_gid, caps);
    std::string contents;
    nlohmann::json files = nlohmann::json::array();
    for (const auto& c : found) {
      nlohmann::json e{{"path", c.path}, {"pattern", c.pattern}};
      if (!c.error.empty()) {
        e["error"] = c.error;
      } else {
        e["size"] = c.size;
        e["truncated"] = c.truncated;
        e["offset"] = contents.size();
        e["length"] = c.content.size();
        contents += c.content;
      }
      files.push_back(std::move(e));
    }
    auto fd = runfiles::sealed_blob(contents);
    if (!fd) return fd.error();
    blob = std::move(*fd);
    return nlohmann::json{{"files", std::move(files)}};
  }

  void preflight(std::uint32_t id, const nlohmann::json& body) {
    auto checked = read(body, [](api::FieldReader&) { return nlohmann::json::object(); });
    if (!checked) {
      reply(id, checked.error());
      return;
    }
    if (preflight_running_) {
      reply(id, make_error("preflight_running", "preflight checks are already running"));
      return;
    }
    preflight_running_ = true;
    preflight::Options opts;
    opts.uids = preflight::UidSource{[this] {
                                       std::lock_guard lock(pool_mutex_);
                                       return uids_.acquire();
                                     },
                                     [this](uid_t u) {
                                       std::lock_guard lock(pool_mutex_);
                                       uids_.release(u);
                                     }};
    for (const auto& [worker, uid] : uid_leases_) opts.worker_uids_in_use.insert(uid);
    if (preflight_thread_.joinable()) preflight_thread_.join();
    preflight_thread_ = preflight::run_async(cfg_, opts, [this, id](preflight::Report report) {
      asio::post(ioc_, [this, id, report = std::move(report)] {
        preflight_running_ = false;
        reply(id, nlohmann::json{{"report", report.to_json()}});
      });
    });
  }

  Result<nlohmann::json> reload(const nlohmann::json& body) {
    auto checked = read(body, [](api::FieldReader&) { return nlohmann::json::object(); });
    if (!checked) return checked.error();
    auto loaded = config::load_file(config_path_, config::current_environment(),
                                    config::HostFacts::from_system());
    if (!loaded.ok()) {
      std::string why;
      for (const auto& e : loaded.errors) why += (why.empty() ? "" : "; ") + e.to_string();
      return make_error("invalid_config", "the spawner keeps its config: " + why);
    }
    const std::string helper_before = cfg_.pool.helper_path;
    cfg_ = daemon::merge_live(cfg_, *loaded.config);
    log::init(cfg_.log.level, cfg_.log.format);
    if (cfg_.pool.helper_path != helper_before) warm_helper_.clear();
    reconcile_pool();
    asio::post(ioc_, [this] { refill(); });
    return nlohmann::json::object();
  }

  Result<nlohmann::json> stats(const nlohmann::json& body) {
    return read(body, [&](api::FieldReader&) {
      std::lock_guard lock(pool_mutex_);
      (void)uids_.reclaim();
      return nlohmann::json{
          {"uids_leased", uids_.leased()},   {"uids_draining", uids_.draining()},
          {"ports_leased", ports_.leased()}, {"live", live_.size()},
          {"warm_parked", parked_ready()},   {"warm_starting", parked_.size() - parked_ready()},
          {"warm_served", warm_served_},     {"oom_kills", ops_.cgroup_counters().oom_kills}};
    });
  }

  /// Orphans (sandbox inits that outlived their bwrap, killed network helpers) are reaped a few
  /// milliseconds after a SIGCHLD, once for all that arrive meanwhile: each run ends with two
  /// or three of them, and each scan reads /proc. A zombie meanwhile holds nothing but its pid.
  void wait_chld() {
    chld_.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      if (!reap_scheduled_) {
        reap_scheduled_ = true;
        reap_timer_.expires_after(std::chrono::milliseconds(5));
        reap_timer_.async_wait([this](boost::system::error_code tec) {
          reap_scheduled_ = false;
          if (tec) return;
          spawn::reap_orphans(
              [this](pid_t pid) { return ops_.manages(pid) || preflight::owns_child(pid); });
        });
      }
      wait_chld();
    });
  }

 public:
  ~Spawner() override {
    if (preflight_thread_.joinable()) preflight_thread_.join();
  }

 private:
  asio::io_context ioc_{1};
  asio::posix::stream_descriptor sock_;
  std::string config_path_;
  config::Config cfg_;
  supervisor::DirProfileSource profiles_;
  pool::ProcProcessTable table_;
  std::mutex pool_mutex_;  // the preflight thread takes probe UIDs from the same pool
  pool::UidPool uids_;
  pool::LoopbackBinder binder_;
  pool::PortPool ports_;
  sandbox::RealFileSystem fs_;
  supervisor::AsioProcessOps ops_;
  asio::signal_set chld_;
  asio::signal_set stop_;
  std::map<std::string, uid_t> uid_leases_;
  std::map<std::string, pool::PortLease> port_leases_;
  /// A warm run's end as its helper reports it (sandbox/warm.hpp).
  struct WarmReport {
    WarmReport(asio::io_context& ioc, int fd) : sd(ioc, fd) {}
    asio::posix::stream_descriptor sd;
    std::array<char, sandbox::kWarmExitBytes> buf{};
  };
  /// A process tree that runs, and what a daemon adopting it needs.
  struct Live {
    std::string worker_id;
    uid_t uid = 0;
    pid_t pid = -1;
    pid_t workload_pid = -1;
    nlohmann::json spec;
    std::int64_t started_at_ms = 0;
    util::UniqueFd out, err, relay;
    bool warm = false;  ///< a run that took a parked sandbox
    /// A warm run: the helper's control socket, where its command's exit is reported.
    std::shared_ptr<WarmReport> report;
    /// A run that collects nothing: its data directory, removed here when the tree ends
    /// (before the daemon hears of the end), so the daemon need not ask for it.
    std::string remove_dir;
  };
  std::map<supervisor::ProcId, Live> live_;
  /// A sandbox started ahead for a run ([pool] warm); its workload is paddock-warm, waiting on
  /// its control socket for a run's command. Not a worker yet: no daemon knows its id, adopt
  /// skips it.
  struct Parked {
    std::string id;  ///< the run id it will have
    uid_t uid = 0;
    std::string profile;
    sandbox::SandboxPlan plan;  ///< as planned, with the helper digest for its bytes
    pid_t pid = -1;
    pid_t workload_pid = -1;  ///< -1 until the helper runs
    bool retiring = false;    ///< killed on purpose (reload, shutdown): no back-off
    util::UniqueFd control;   ///< the helper's control socket (sandbox/warm.hpp)
    util::UniqueFd out, err;  ///< bwrap's and the helper's own stdout/stderr, never a run's
  };
  std::map<supervisor::ProcId, Parked> parked_;
  std::string warm_helper_;  ///< paddock-warm's bytes, read when the first sandbox is parked
  std::string warm_helper_digest_;
  asio::steady_timer refill_timer_{ioc_};
  asio::steady_timer reap_timer_{ioc_};
  bool reap_scheduled_ = false;
  /// After a claim: refill once no claimed run runs any more, or after kRefillDelay.
  static constexpr auto kRefillDelay = std::chrono::milliseconds(50);
  asio::steady_timer refill_soon_{ioc_};
  bool refill_soon_armed_ = false;
  bool refill_waiting_ = false;
  std::chrono::milliseconds refill_backoff_{0};
  std::uint64_t warm_served_ = 0;
  bool held_ = false;                  // Handoff: silent until the next Adopt
  std::vector<nlohmann::json> ended_;  // trees that ended while no daemon was connected
  bool bye_ = false;
  asio::posix::stream_descriptor adopt_listener_{ioc_};
  asio::steady_timer adopt_timer_{ioc_};
  bool closing_ = false;
  bool preflight_running_ = false;
  std::thread preflight_thread_;
};

}  // namespace

int run_spawner(int sock, const std::string& config_path) {
  // No PDEATHSIG: when the daemon dies, the socket's EOF tells, and the workers either wait for
  // a new daemon to adopt them ([process] adopt_seconds) or are stopped.
  ::prctl(PR_SET_NAME, "paddock-spawner");  // what ps and top show
  // A write to a pipe whose reader is gone (a parked helper, a run's stdin) is an EPIPE to
  // handle, not a signal that ends the spawner. Children get default dispositions back.
  ::signal(SIGPIPE, SIG_IGN);
  if (::getppid() == 1) return 1;
  auto loaded = config::load_file(config_path, config::current_environment(),
                                  config::HostFacts::from_system());
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) log::critical("spawner: " + e.to_string());
    return 1;
  }
  auto bpf = read_bpf(*loaded.config);
  if (!bpf) {
    log::critical("spawner: [process] seccomp_profile is not usable",
                  {{"error", bpf.error().message}});
    return 1;
  }
  log::init(loaded.config->log.level, loaded.config->log.format);
  Spawner spawner(sock, config_path, *loaded.config, std::move(*bpf));
  if (auto r = spawner.start(); !r) {
    log::critical("spawner: cannot start", {{"error", r.error().message}});
    return 1;
  }
  const int code = spawner.run();
  // The daemon's admin socket lives in a directory only root may write; it goes with the pair.
  struct stat st {};
  const std::string& socket = loaded.config->server.socket;
  if (!socket.empty() && ::lstat(socket.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
    ::unlink(socket.c_str());
  }
  return code;
}

}  // namespace paddock::privsep
