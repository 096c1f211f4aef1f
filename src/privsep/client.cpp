#include "paddock/privsep/client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <unordered_map>

#include "paddock/api/worker_json.hpp"
#include "paddock/cgroup/manager.hpp"
#include "paddock/cgroup/usage_sampler.hpp"
#include "paddock/log/log.hpp"
#include "paddock/net/port_bridge.hpp"
#include "paddock/net/relay.hpp"
#include "paddock/privsep/protocol.hpp"
#include "paddock/supervisor/asio_process_ops.hpp"

extern char** environ;

namespace paddock::privsep {

namespace asio = boost::asio;
using asio::posix::stream_descriptor;
using supervisor::ProcId;

Result<SpawnerProcess> start_spawner(const std::string& exe, const std::string& config_path) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return util::errno_error("socketpair", errno);
  }
  util::UniqueFd mine(pair[0]);
  util::UniqueFd theirs(pair[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return util::errno_error("fork", errno);
  if (pid == 0) {
    // The child: only the socket (on fd 3) and stdin/stdout/stderr cross the exec.
    if (::dup2(theirs.get(), 3) < 0) ::_exit(127);
    ::syscall(SYS_close_range, 4U, ~0U, 0U);
    const char* argv[] = {"paddockd", "spawner",           "--fd", "3",
                          "--config", config_path.c_str(), nullptr};
    ::execve(exe.c_str(), const_cast<char* const*>(argv), environ);
    ::_exit(127);
  }
  return SpawnerProcess{pid, std::move(mine)};
}

Result<SpawnerProcess> connect_spawner(const std::string& state_dir) {
  const std::string path = state_dir + "/spawner.sock";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return make_error("not_found", "the adoption socket path " + path + " is too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  util::UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return util::errno_error("socket(AF_UNIX)", errno);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    Error e = util::errno_error("connect(" + path + ")", err);
    if (err == ENOENT || err == ECONNREFUSED) e.code = "not_found";
    return e;
  }
  ucred peer{};
  socklen_t len = sizeof peer;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
    return util::errno_error("getsockopt(SO_PEERCRED)", errno);
  }
  if (peer.uid != 0) {
    return make_error("forbidden", path + " is served by uid " + std::to_string(peer.uid) +
                                       ", not by a spawner running as root; ignored");
  }
  return SpawnerProcess{peer.pid, std::move(fd)};
}

namespace {

constexpr auto kCallTimeout = std::chrono::seconds(30);
/// How long a request waits for room in a full socket buffer before the spawner counts as gone.
constexpr auto kSendWait = std::chrono::seconds(5);
constexpr auto kUsageMaxAge = std::chrono::seconds(1);
/// The sampler's pass period, how old a sample of its may be when served (a pass over thousands
/// of leaves is slow, and the sampler then waits longer between passes), and how long it goes on
/// after the last ask (a frontend polling the list every few seconds keeps it going).
constexpr auto kUsageSamplePeriod = std::chrono::milliseconds(500);
constexpr auto kUsageSampleMaxAge = std::chrono::seconds(2);
constexpr auto kUsageKeepSampling = std::chrono::seconds(120);
constexpr std::size_t kReadBufferBytes = 16 * 1024;

struct Proc {
  ProcId id = 0;
  supervisor::ProcessSink* sink = nullptr;
  std::string worker_id;
  long uid = -1;
  pid_t pid = -1;
  std::optional<std::uint16_t> port;
  std::unique_ptr<stream_descriptor> out;
  std::unique_ptr<stream_descriptor> err;
  std::unique_ptr<stream_descriptor> in;
  std::string stdin_data;
  util::UniqueFd listener;  // the port's host side, bridged once the relay is up
  std::unique_ptr<net::PortBridge> bridge;
  std::optional<cgroup::Controllers> cgroup;
  std::string cgroup_path;
  mutable std::optional<cgroup::Usage> usage_cache;
  mutable std::chrono::steady_clock::time_point usage_at;
  bool reaped = false;
  bool out_eof = false;
  bool err_eof = false;
  bool reported = false;
  supervisor::ExitStatus exit;
  asio::steady_timer drain;
  std::array<char, kReadBufferBytes> buf_out;  // uninitialised on purpose (see AsioProcessOps)
  std::array<char, kReadBufferBytes> buf_err;
  explicit Proc(asio::io_context& ioc) : drain(ioc) {}

  const cgroup::Usage* cached_usage(cgroup::UsageSampler& sampler) const {
    if (cgroup_path.empty()) return nullptr;
    const auto now = std::chrono::steady_clock::now();
    if (!usage_cache || now - usage_at >= kUsageMaxAge) {
      // The sampler's thread keeps a young copy while usage is being asked for; the leaf is
      // read here only when it has none (a new worker, the first ask after a quiet spell).
      if (auto s = sampler.latest(id, kUsageSampleMaxAge)) {
        usage_cache = s->usage;
        usage_at = s->at;
      } else {
        usage_cache = cgroup::read_usage(cgroup_path, cgroup.value_or(cgroup::Controllers{}));
        usage_at = now;
      }
    }
    return &*usage_cache;
  }
};

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& ioc;
  stream_descriptor sock;
  std::uint32_t next_id = 1;
  std::map<std::uint32_t, std::function<void(Result<Message>)>> waiting;
  std::deque<Message> backlog;  // what arrived while a blocking call waited for its reply
  bool draining_posted = false;
  std::function<void()> lost;
  bool is_lost = false;
  bool reading = false;
  bool frozen = false;  // handed over: nothing is read any more (see Client::handoff)
  uid_t uid_first = 0;
  uid_t uid_last = 0;
  /// Hashed: a list of 1000 workers looks each one's usage up here.
  std::unordered_map<ProcId, std::shared_ptr<Proc>> procs;
  cgroup::UsageSampler sampler{kUsageSamplePeriod, kUsageKeepSampling, cgroup::read_usage};
  std::map<std::uint16_t, ProcId> bridged_ports;
  std::vector<std::pair<std::uint16_t, net::PortBridge::HandedConnection>> handed;
  std::uint64_t oom_closed = 0;

  struct Uids final : pool::UidAllocator {
    Impl* impl = nullptr;
    std::map<uid_t, std::string> leases;
    mutable std::size_t last_draining = 0;
    Result<uid_t> lease(const std::string& owner) override {
      auto r = impl->call(Type::LeaseUid, {{"worker_id", owner}});
      if (!r) return r.error();
      const auto uid = r->body.value("uid", static_cast<uid_t>(0));
      last_draining = r->body.value("draining", std::size_t{0});
      draining_at = std::chrono::steady_clock::now();
      if (uid < impl->uid_first || uid > impl->uid_last) {
        return make_error("spawn_failed", "the spawner answered a UID outside the worker range");
      }
      leases[uid] = owner;
      return uid;
    }
    void give_back(uid_t uid) override {
      auto it = leases.find(uid);
      if (it == leases.end()) return;
      impl->tell(Type::ReleaseUid, {{"worker_id", it->second}});
      leases.erase(it);
      // The spawner drains it until a scan finds none of its processes left (the tree was
      // killed a moment ago): not free until the spawner's next count says so.
      ++last_draining;
      draining_at = std::chrono::steady_clock::now();
    }
    std::size_t capacity() const override {
      return static_cast<std::size_t>(impl->uid_last - impl->uid_first) + 1;
    }
    std::size_t leased() const override { return leases.size(); }
    /// The spawner frees draining UIDs on its own (when their last process is reaped): its
    /// counts, asked at most every 200 ms (Impl::stats).
    std::size_t draining() const override {
      const auto& s = impl->stats();
      if (impl->stats_at > draining_at) {  // else a lease since has the newer count
        draining_at = impl->stats_at;
        // UIDs held by parked sandboxes ([pool] warm) are no more free than draining ones.
        last_draining = s.value("uids_draining", std::size_t{0}) +
                        s.value("warm_parked", std::size_t{0}) +
                        s.value("warm_starting", std::size_t{0});
      }
      return last_draining;
    }
    mutable std::chrono::steady_clock::time_point draining_at{};
  } uids;

  /// The spawner's last Stats answer, asked again when older than 200 ms: the UID allocator and
  /// /metrics read it, and each answer costs the spawner a scan of /proc.
  const nlohmann::json& stats() {
    const auto now = std::chrono::steady_clock::now();
    if (now - stats_asked >= std::chrono::milliseconds(200)) {
      stats_asked = now;
      if (auto r = call(Type::Stats, nlohmann::json::object())) {
        stats_body = std::move(r->body);
        stats_at = now;
      }
    }
    return stats_body;
  }
  nlohmann::json stats_body = nlohmann::json::object();
  std::chrono::steady_clock::time_point stats_asked{};
  std::chrono::steady_clock::time_point stats_at{};  ///< when stats_body was answered

  struct Ports final : pool::PortAllocator {
    Impl* impl = nullptr;
    std::map<std::uint16_t, std::string> leases;
    Result<pool::PortLease> lease(const std::string& owner) override {
      auto r = impl->call(Type::LeasePort, {{"worker_id", owner}});
      if (!r) return r.error();
      if (r->fds.size() != 1) {
        return make_error("spawn_failed", "the spawner leased a port without its socket");
      }
      pool::PortLease l;
      l.port = r->body.value("port", std::uint16_t{0});
      l.listener = std::move(r->fds[0]);
      leases[l.port] = owner;
      return l;
    }
    void give_back(std::uint16_t port) override {
      auto it = leases.find(port);
      if (it == leases.end()) return;
      impl->tell(Type::ReleasePort, {{"worker_id", it->second}});
      leases.erase(it);
    }
    std::size_t leased() const override { return leases.size(); }
  } ports;

  Impl(asio::io_context& i, util::UniqueFd s) : ioc(i), sock(i, s.release()) {
    uids.impl = this;
    ports.impl = this;
  }

  void lose(const std::string& why) {
    if (is_lost) return;
    is_lost = true;
    log::critical("the spawner is gone: " + why);
    for (auto& [id, cb] : std::exchange(waiting, {})) {
      cb(make_error("spawn_failed", "the spawner is gone"));
    }
    if (lost) asio::post(ioc, lost);
  }

  /// A request that gets no reply.
  void tell(Type type, const nlohmann::json& body) {
    if (is_lost) return;
    if (auto r = send(type, 0, body); !r) lose(r.error().message);
  }

  /// A request whose reply arrives later, on the io thread.
  void call_async(Type type, const nlohmann::json& body, std::function<void(Result<Message>)> cb) {
    if (is_lost) {
      asio::post(ioc, [cb] { cb(make_error("spawn_failed", "the spawner is gone")); });
      return;
    }
    const std::uint32_t id = next_id++;
    if (auto r = send(type, id, body); !r) {
      asio::post(ioc, [cb, e = r.error()] { cb(e); });
      lose(r.error().message);
      return;
    }
    waiting[id] = std::move(cb);
  }

  /// A request answered before this returns. Whatever else arrives meanwhile (events, replies
  /// to earlier requests) is kept and handled on the io thread afterwards, in order.
  Result<Message> call(Type type, const nlohmann::json& body,
                       std::chrono::milliseconds timeout = kCallTimeout,
                       const std::vector<int>& fds = {}) {
    if (is_lost) return make_error("spawn_failed", "the spawner is gone");
    const std::uint32_t id = next_id++;
    if (auto r = send(type, id, body, fds); !r) {
      lose(r.error().message);
      return make_error("spawn_failed", "cannot reach the spawner: " + r.error().message);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        return make_error("spawn_failed", "the spawner did not answer a " +
                                              std::string(to_string(type)) + " request in time");
      }
      pollfd p{sock.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) {
        return util::errno_error("poll", errno);
      }
      Message m;
      auto got = receive_message(sock.native_handle(), kMaxReplyBytes, m);
      if (!got) {
        log::error("unreadable message from the spawner", {{"error", got.error().message}});
        continue;
      }
      if (*got == Received::WouldBlock) continue;
      if (*got == Received::Closed) {
        lose("its socket closed");
        return make_error("spawn_failed", "the spawner is gone");
      }
      if (m.type == Type::Reply && m.id == id) {
        if (auto st = reply_status(m.body); !st) return st.error();
        return m;
      }
      keep(std::move(m));
    }
  }

  /// Keeps a message that arrived while waiting, for the io thread, in order.
  void keep(Message m) {
    backlog.push_back(std::move(m));
    if (!draining_posted) {
      draining_posted = true;
      asio::post(ioc, [self = shared_from_this()] {
        self->draining_posted = false;
        while (!self->backlog.empty()) {
          Message next = std::move(self->backlog.front());
          self->backlog.pop_front();
          self->dispatch(std::move(next));
        }
      });
    }
  }

  /// Sends one request. While the spawner's socket buffer is full (a burst of stops, say), waits
  /// for room (bounded, as the spawner does towards the daemon) and meanwhile takes in what the
  /// spawner sends, so that neither side waits on the other.
  Result<void> send(Type type, std::uint32_t id, const nlohmann::json& body,
                    const std::vector<int>& fds = {}) {
    const auto deadline = std::chrono::steady_clock::now() + kSendWait;
    for (;;) {
      auto r = send_message(sock.native_handle(), type, id, body, fds, kMaxRequestBytes);
      if (r || r.error().message.find("EAGAIN") == std::string::npos ||
          std::chrono::steady_clock::now() >= deadline) {
        return r;
      }
      pollfd p{sock.native_handle(), POLLOUT | POLLIN, 0};
      (void)::poll(&p, 1, 100);
      if ((p.revents & POLLIN) == 0) continue;
      for (int i = 0; i < 64; ++i) {
        Message m;
        auto got = receive_message(sock.native_handle(), kMaxReplyBytes, m);
        if (!got) continue;
        if (*got != Received::Message) break;
        keep(std::move(m));
      }
    }
  }

  void read_loop() {
    sock.async_wait(
        stream_descriptor::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
          if (ec || self->is_lost || self->frozen) return;
          for (int i = 0; i < 64; ++i) {
            Message m;
            auto got = receive_message(self->sock.native_handle(), kMaxReplyBytes, m);
            if (!got) {
              log::error("unreadable message from the spawner", {{"error", got.error().message}});
              continue;
            }
            if (*got == Received::WouldBlock) break;
            if (*got == Received::Closed) {
              self->lose("its socket closed");
              return;
            }
            self->dispatch(std::move(m));
          }
          self->read_loop();
        });
  }

  std::shared_ptr<Proc> proc_of(const Message& m) {
    const auto id = m.body.value("proc", ProcId{0});
    auto it = procs.find(id);
    return it == procs.end() ? nullptr : it->second;
  }

  /// Starts reading (and tracking) a tree the spawner handed over: its output pipes, its
  /// cgroup as the spawner's `body` names it, and the host side of a bridged port.
  std::shared_ptr<Proc> track(ProcId id, pid_t pid, supervisor::ProcessSink& sink,
                              const std::string& worker_id, uid_t uid,
                              std::optional<std::uint16_t> port, const nlohmann::json& body,
                              util::UniqueFd out, util::UniqueFd err, util::UniqueFd listener) {
    auto p = std::make_shared<Proc>(ioc);
    p->id = id;
    p->pid = pid;
    p->sink = &sink;
    p->worker_id = worker_id;
    p->uid = static_cast<long>(uid);
    p->port = port;
    if (listener && port) {
      p->listener = std::move(listener);
      bridged_ports[*port] = id;
    }
    if (const auto c = body.find("cgroup"); c != body.end() && c->is_object()) {
      p->cgroup = cgroup::Controllers{c->value("memory", false), c->value("cpu", false),
                                      c->value("pids", false)};
      p->cgroup_path = body.value("cgroup_path", "");
      if (!p->cgroup_path.empty()) sampler.add(id, p->cgroup_path, *p->cgroup);
    }
    p->out = std::make_unique<stream_descriptor>(ioc, out.release());
    p->err = std::make_unique<stream_descriptor>(ioc, err.release());
    procs[id] = p;
    read_stream(p, supervisor::Stream::Stdout);
    read_stream(p, supervisor::Stream::Stderr);
    return p;
  }

  /// Writes a run's stdin, then closes it (EOF for the workload).
  void feed_stdin(const std::shared_ptr<Proc>& p, util::UniqueFd fd, std::string data) {
    p->in = std::make_unique<stream_descriptor>(ioc, fd.release());
    p->stdin_data = std::move(data);
    asio::async_write(*p->in, asio::buffer(p->stdin_data),
                      [p](boost::system::error_code, std::size_t) {
                        boost::system::error_code ec;
                        if (p->in) p->in->close(ec);
                      });
  }

  /// Serves the port's host side through the relay's control socket `ctl`.
  static void bridge(asio::io_context& ioc, const std::shared_ptr<Proc>& p, util::UniqueFd ctl) {
    auto shared = std::make_shared<util::UniqueFd>(std::move(ctl));
    p->bridge = net::PortBridge::start(
        ioc, std::move(p->listener), [shared] { return net::relay_socket(shared->get()); },
        *p->port, p->worker_id, p->uid);
  }

  void dispatch(Message m) {
    switch (m.type) {
      case Type::Reply: {
        if (m.id == 0) {
          if (auto st = reply_status(m.body); !st) {
            log::warn("the spawner refused a request", {{"error", st.error().message}});
          }
          return;
        }
        auto it = waiting.find(m.id);
        if (it == waiting.end()) return;
        auto cb = std::move(it->second);
        waiting.erase(it);
        if (auto st = reply_status(m.body); !st) {
          cb(st.error());
        } else {
          cb(std::move(m));
        }
        return;
      }
      case Type::Started: {
        auto p = proc_of(m);
        if (p && !p->reported) p->sink->on_started(p->id, m.body.value("workload_pid", pid_t{-1}));
        return;
      }
      case Type::Relay: {
        auto p = proc_of(m);
        if (!p || p->reported || m.fds.size() != 1 || !p->listener || !p->port) return;
        bridge(ioc, p, std::move(m.fds[0]));
        return;
      }
      case Type::Exited: {
        auto p = proc_of(m);
        if (!p || p->reaped) return;
        p->reaped = true;
        p->exit = supervisor::ExitStatus{m.body.value("exit_code", -1), m.body.value("signal", 0),
                                         m.body.value("data_removed", false)};
        if (frozen) {
          finish_frozen(p);
          return;
        }
        // The pipes close right after bwrap; wait (bounded) for their EOF so nothing is lost.
        std::weak_ptr<Impl> weak = shared_from_this();
        p->drain.expires_after(std::chrono::seconds(2));
        p->drain.async_wait([weak, p](boost::system::error_code ec) {
          auto self = weak.lock();
          if (ec || !self) return;
          p->out_eof = p->err_eof = true;
          self->maybe_report(p);
        });
        maybe_report(p);
        return;
      }
      default:
        log::warn("unexpected message from the spawner",
                  {{"type", std::string(to_string(m.type))}});
    }
  }

  void read_stream(const std::shared_ptr<Proc>& p, supervisor::Stream which) {
    auto& sd = which == supervisor::Stream::Stdout ? p->out : p->err;
    auto& buf = which == supervisor::Stream::Stdout ? p->buf_out : p->buf_err;
    if (!sd || frozen) return;
    std::weak_ptr<Impl> weak = shared_from_this();
    sd->async_read_some(asio::buffer(buf),
                        [weak, p, which](boost::system::error_code ec, std::size_t n) {
                          auto self = weak.lock();
                          if (!self || p->reported) return;
                          if (n > 0) {
                            auto& b = which == supervisor::Stream::Stdout ? p->buf_out : p->buf_err;
                            p->sink->on_output(p->id, which, std::string_view(b.data(), n));
                          }
                          if (self->frozen) return;  // what is left in the pipe is the next image's
                          if (ec) {
                            (which == supervisor::Stream::Stdout ? p->out_eof : p->err_eof) = true;
                            self->maybe_report(p);
                            return;
                          }
                          self->read_stream(p, which);
                        });
  }

  /// A tree that ended after the hand-over began: the spawner no longer holds its pipes, so what
  /// they still hold is read now (they are at EOF or about to be), and the end is reported.
  void finish_frozen(const std::shared_ptr<Proc>& p) {
    for (auto which : {supervisor::Stream::Stdout, supervisor::Stream::Stderr}) {
      auto& sd = which == supervisor::Stream::Stdout ? p->out : p->err;
      auto& buf = which == supervisor::Stream::Stdout ? p->buf_out : p->buf_err;
      for (int rounds = 0; sd && rounds < 64; ++rounds) {
        pollfd pfd{sd->native_handle(), POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) break;
        const ssize_t n = ::read(sd->native_handle(), buf.data(), buf.size());
        if (n <= 0) break;
        p->sink->on_output(p->id, which, std::string_view(buf.data(), static_cast<std::size_t>(n)));
      }
    }
    p->out_eof = p->err_eof = true;
    maybe_report(p);
  }

  void maybe_report(const std::shared_ptr<Proc>& p) {
    if (p->reported || !p->reaped || !p->out_eof || !p->err_eof) return;
    p->reported = true;
    p->drain.cancel();
    boost::system::error_code ec;
    for (auto* sd : {&p->out, &p->err, &p->in}) {
      if (*sd) (*sd)->close(ec);
    }
    if (p->bridge) {
      p->bridge->close();
      p->bridge.reset();
    }
    if (p->port) {
      auto it = bridged_ports.find(*p->port);
      if (it != bridged_ports.end() && it->second == p->id) bridged_ports.erase(it);
    }
    if (p->usage_cache) oom_closed += p->usage_cache->oom_kills.value_or(0);
    procs.erase(p->id);
    sampler.remove(p->id);
    p->sink->on_exited(p->id, p->exit);
  }
};

Client::Client(asio::io_context& ioc, util::UniqueFd sock)
    : impl_(std::make_shared<Impl>(ioc, std::move(sock))) {}

Client::~Client() { close(); }

void Client::goodbye() { impl_->tell(Type::Bye, nlohmann::json::object()); }

void Client::close() {
  // Closing the socket tells the spawner to stop every worker and exit; without goodbye()
  // first it keeps them for a daemon that adopts them ([process] adopt_seconds).
  impl_->is_lost = true;
  boost::system::error_code ec;
  impl_->sock.close(ec);
}

Result<void> Client::hello() {
  auto r = impl_->call(Type::Hello, nlohmann::json::object());
  if (!r) return r.error();
  if (r->body.value("version", 0) != kVersion) {
    return make_error("spawn_failed", "the spawner speaks another protocol version");
  }
  impl_->uid_first = r->body.value("uid_first", uid_t{0});
  impl_->uid_last = r->body.value("uid_last", uid_t{0});
  if (!impl_->reading) {
    impl_->reading = true;
    impl_->read_loop();
  }
  return {};
}

void Client::on_lost(std::function<void()> fn) { impl_->lost = std::move(fn); }

void Client::freeze_bridges() {
  for (auto& [id, p] : impl_->procs) {
    if (p->bridge) p->bridge->freeze();
  }
}

bool Client::bridges_quiet() const {
  for (const auto& [id, p] : impl_->procs) {
    if (p->bridge && !p->bridge->quiet()) return false;
  }
  return true;
}

std::vector<Client::HandedConnection> Client::handed_connections() {
  return std::exchange(impl_->handed, {});
}

void Client::adopt_connections(const std::vector<HandedConnection>& conns) {
  for (const auto& [port, h] : conns) {
    auto it = impl_->bridged_ports.find(port);
    auto p = it == impl_->bridged_ports.end() ? impl_->procs.end() : impl_->procs.find(it->second);
    if (p == impl_->procs.end() || !p->second->bridge) {
      ::close(h.outer_fd);
      ::close(h.inner_fd);
      continue;
    }
    p->second->bridge->adopt_connection(h);
  }
}

std::size_t Client::pending_requests() const { return impl_->waiting.size(); }

Result<void> Client::handoff() {
  auto r = impl_->call(Type::Handoff, nlohmann::json::object());
  if (!r) return r.error();
  // From here on the spawner sends nothing; messages that came before its reply are still
  // dispatched (in order) when the io_context next runs.
  impl_->frozen = true;
  boost::system::error_code ec;
  impl_->sock.cancel(ec);
  std::vector<std::shared_ptr<Proc>> ended;
  for (auto& [id, p] : impl_->procs) {
    // Reads under way complete (with what they read, delivered at the next poll) or abort;
    // none starts again. The pipes' contents wait for the new image.
    for (auto* sd : {&p->out, &p->err}) {
      if (*sd) (*sd)->cancel(ec);
    }
    if (p->bridge) {
      // Quiet connections go to the new image; the spawner keeps the listener for it.
      for (const auto& h : p->bridge->release_connections())
        impl_->handed.emplace_back(*p->port, h);
      p->bridge->close();
    }
    if (p->reaped) ended.push_back(p);
  }
  std::sort(ended.begin(), ended.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  for (auto& p : ended) {
    p->drain.cancel();
    impl_->finish_frozen(p);
  }
  return {};
}

util::UniqueFd Client::release_socket() {
  impl_->is_lost = true;
  return util::UniqueFd(impl_->sock.release());
}

namespace {

supervisor::WallTime wall_ms(std::int64_t ms) {
  return supervisor::WallTime(std::chrono::milliseconds(ms));
}

/// The fields every entry of an adopt reply has (running or ended).
Result<supervisor::AdoptedWorker> adopted(const nlohmann::json& e) {
  auto spec = api::parse_worker_spec(e.value("spec", nlohmann::json::object()));
  if (!spec) {
    return make_error("bad_message",
                      "the spawner kept a spec this daemon cannot read: " + spec.error().message);
  }
  supervisor::AdoptedWorker a;
  a.id = e.value("worker_id", "");
  a.spec = std::move(*spec);
  a.uid = e.value("uid", uid_t{0});
  if (e.contains("port") && e["port"].is_number()) a.port = e["port"].get<std::uint16_t>();
  a.started_at = wall_ms(e.value("started_at_ms", std::int64_t{0}));
  return a;
}

}  // namespace

std::shared_ptr<util::UniqueFd> Client::port_listener_of(const std::string& worker_id) {
  auto r = impl_->call(Type::AdoptFds, {{"port_of", worker_id}});
  if (!r || r->fds.size() != 1) return nullptr;
  return std::make_shared<util::UniqueFd>(std::move(r->fds[0]));
}

Result<std::vector<supervisor::AdoptedWorker>> Client::adopt(
    supervisor::ProcessSink& sink, std::vector<supervisor::AdoptedWorker> kept) {
  nlohmann::json body = nlohmann::json::object();
  if (!kept.empty()) {
    body["keep"] = nlohmann::json::array();
    for (const auto& k : kept) body["keep"].push_back(k.id);
  }
  auto r = impl_->call(Type::Adopt, body);
  if (!r) return r.error();
  std::vector<supervisor::AdoptedWorker> out;
  auto lease = [this](const supervisor::AdoptedWorker& a) {
    impl_->uids.leases[a.uid] = a.id;
    if (a.port) impl_->ports.leases[*a.port] = a.id;
  };
  for (const auto& e : r->body.value("exited", nlohmann::json::array())) {
    auto parsed = adopted(e);
    if (!parsed) return parsed.error();
    supervisor::AdoptedWorker& a = *parsed;
    a.exited_at = wall_ms(e.value("exited_at_ms", std::int64_t{0}));
    a.exit = supervisor::ExitStatus{e.value("exit_code", -1), e.value("signal", 0)};
    lease(a);
    out.push_back(std::move(a));
  }
  for (const auto& e : r->body.value("workers", nlohmann::json::array())) {
    auto parsed = adopted(e);
    if (!parsed) return parsed.error();
    supervisor::AdoptedWorker& a = *parsed;
    a.proc = e.value("proc", ProcId{0});
    a.bwrap_pid = e.value("pid", pid_t{-1});
    if (e.contains("workload_pid") && e["workload_pid"].is_number()) {
      a.workload_pid = e["workload_pid"].get<pid_t>();
    }
    auto fds = impl_->call(Type::AdoptFds, {{"proc", *a.proc}});
    if (!fds) {
      if (fds.error().code != "not_found") return fds.error();
      // It ended between the two requests; its exit status went to no one.
      a.proc.reset();
      a.exited_at = std::chrono::system_clock::now();
      a.exit = supervisor::ExitStatus{-1, 0};
      lease(a);
      out.push_back(std::move(a));
      continue;
    }
    const bool with_listener = fds->body.value("listener", false);
    const bool with_relay = fds->body.value("relay", false);
    if (fds->fds.size() != std::size_t{2} + (with_listener ? 1U : 0U) + (with_relay ? 1U : 0U)) {
      return make_error("bad_message", "the spawner handed over a tree without its descriptors");
    }
    const bool bridged = with_listener && a.port && a.spec.network != sandbox::NetworkMode::Host;
    if (bridged) {
      // The supervisor keeps one for the worker's later restarts (each launch gets a copy).
      a.port_listener =
          std::make_shared<util::UniqueFd>(::fcntl(fds->fds[2].get(), F_DUPFD_CLOEXEC, 3));
    }
    auto p =
        impl_->track(*a.proc, a.bwrap_pid, sink, a.id, a.uid, a.port, e, std::move(fds->fds[0]),
                     std::move(fds->fds[1]), bridged ? std::move(fds->fds[2]) : util::UniqueFd());
    a.cgroup = p->cgroup;
    if (bridged && with_relay) Impl::bridge(impl_->ioc, p, std::move(fds->fds[3]));
    lease(a);
    out.push_back(std::move(a));
  }
  for (auto& k : kept) {
    lease(k);
    if (k.port && k.spec.network != sandbox::NetworkMode::Host) {
      k.port_listener = port_listener_of(k.id);
    }
    out.push_back(std::move(k));
  }
  return out;
}

namespace {

/// A run's files in one sealed memfd; `body` gets "files" listing where each one is in it.
Result<util::UniqueFd> files_blob(const std::vector<runfiles::InputFile>& files,
                                  nlohmann::json& body) {
  if (files.empty()) return util::UniqueFd();
  std::string blob;
  nlohmann::json index = nlohmann::json::array();
  for (const auto& f : files) {
    index.push_back({{"path", f.path}, {"offset", blob.size()}, {"size", f.content.size()}});
    blob += f.content;
  }
  auto fd = runfiles::sealed_blob(blob);
  if (!fd) return fd.error();
  body["files"] = std::move(index);
  return std::move(*fd);
}

}  // namespace

Result<supervisor::WarmLaunch> Client::launch_warm(supervisor::LaunchRequest& request,
                                                   supervisor::ProcessSink& sink) {
  nlohmann::json body{{"spec", api::spec_to_json(request.spec)},
                      {"stdin", request.stdin_data.has_value()}};
  if (request.remove_data_at_end) body["remove_data_at_end"] = true;
  auto files_fd = files_blob(request.files, body);
  if (!files_fd) return files_fd.error();
  auto r = *files_fd ? impl_->call(Type::LaunchWarm, body, kCallTimeout, {files_fd->get()})
                     : impl_->call(Type::LaunchWarm, body);
  if (!r) return r.error();
  const std::size_t want = request.stdin_data ? 3 : 2;
  const std::string id = r->body.value("worker_id", "");
  const auto uid = r->body.value("uid", uid_t{0});
  if (r->fds.size() != want || !valid_worker_id(id) || uid < impl_->uid_first ||
      uid > impl_->uid_last) {
    return make_error("spawn_failed", "the spawner answered a warm launch without its parts");
  }
  impl_->uids.leases[uid] = id;
  auto p = impl_->track(r->body.value("proc", ProcId{0}), r->body.value("pid", pid_t{-1}), sink, id,
                        uid, std::nullopt, r->body, std::move(r->fds[0]), std::move(r->fds[1]),
                        util::UniqueFd());
  if (request.stdin_data)
    impl_->feed_stdin(p, std::move(r->fds[2]), std::move(*request.stdin_data));
  if (const auto wp = r->body.find("workload_pid"); wp != r->body.end() && wp->is_number()) {
    // The helper runs already; it is the run's process as the daemon sees it (its command is
    // the helper's child, and the spawner passes signals on to it). Told once the caller has
    // recorded the launch.
    asio::post(impl_->ioc, [p, pid = wp->get<pid_t>()] {
      if (!p->reported && !p->reaped) p->sink->on_started(p->id, pid);
    });
  }
  return supervisor::WarmLaunch{id, uid, p->id, p->pid};
}

Result<std::pair<ProcId, pid_t>> Client::launch(supervisor::LaunchRequest request,
                                                supervisor::ProcessSink& sink) {
  const auto& plan = request.plan;
  const bool bridged = plan.network != sandbox::NetworkMode::Host && plan.port;
  util::UniqueFd listener;
  if (bridged) {
    listener = std::move(request.port_listener);
  } else {
    // Host network: the workload binds the port itself, so this reservation must be closed
    // before it runs (the spawner closes its own copy once the child exists).
    request.port_listener.reset();
  }
  nlohmann::json body{{"worker_id", plan.worker_id},
                      {"spec", api::spec_to_json(request.spec)},
                      {"stdin", request.stdin_data.has_value()}};
  // A run's files travel in one sealed memfd; the message lists where each one is in it.
  util::UniqueFd files_fd;
  if (request.run_workdir) {
    body["workdir"] = true;
    if (request.remove_data_at_end) body["remove_data_at_end"] = true;
    auto fd = files_blob(request.files, body);
    if (!fd) return fd.error();
    files_fd = std::move(*fd);
  }
  auto r = files_fd ? impl_->call(Type::Launch, body, kCallTimeout, {files_fd.get()})
                    : impl_->call(Type::Launch, body);
  if (!r) return r.error();
  const std::size_t want = request.stdin_data ? 3 : 2;
  if (r->fds.size() != want) {
    return make_error("spawn_failed", "the spawner answered a launch without its descriptors");
  }
  auto p = impl_->track(r->body.value("proc", ProcId{0}), r->body.value("pid", pid_t{-1}), sink,
                        plan.worker_id, plan.uid, plan.port, r->body, std::move(r->fds[0]),
                        std::move(r->fds[1]), bridged ? std::move(listener) : util::UniqueFd());
  if (request.stdin_data)
    impl_->feed_stdin(p, std::move(r->fds[2]), std::move(*request.stdin_data));
  return std::make_pair(p->id, p->pid);
}

void Client::signal_workload(ProcId proc, int sig) {
  auto it = impl_->procs.find(proc);
  if (it == impl_->procs.end() || it->second->reaped) return;
  impl_->tell(Type::Signal, {{"proc", proc}, {"signal", sig}});
}

void Client::kill_tree(ProcId proc) {
  auto it = impl_->procs.find(proc);
  if (it == impl_->procs.end() || it->second->reaped) return;
  impl_->tell(Type::Kill, {{"proc", proc}});
}

void Client::probe_port(std::uint16_t port, std::function<void(bool)> done) {
  if (auto it = impl_->bridged_ports.find(port); it != impl_->bridged_ports.end()) {
    // Only a connect inside the worker's namespace tells: the host's side is our own listener.
    auto p = impl_->procs.find(it->second);
    if (p != impl_->procs.end() && p->second->bridge) {
      p->second->bridge->probe(std::move(done));
    } else {
      asio::post(impl_->ioc, [done = std::move(done)] { done(false); });
    }
    return;
  }
  supervisor::probe_tcp_port(impl_->ioc, port, std::move(done));
}

bool Client::port_has_connections(std::uint16_t port) {
  return supervisor::loopback_port_has_connections(port);
}

std::optional<cgroup::Controllers> Client::cgroup_of(ProcId proc) const {
  auto it = impl_->procs.find(proc);
  return it == impl_->procs.end() ? std::nullopt : it->second->cgroup;
}

std::optional<cgroup::Usage> Client::usage(ProcId proc) const {
  auto it = impl_->procs.find(proc);
  if (it == impl_->procs.end() || it->second->reported) return std::nullopt;
  const auto* u = it->second->cached_usage(impl_->sampler);
  return u ? std::optional<cgroup::Usage>(*u) : std::nullopt;
}

void Client::remove_data_dir(const std::string& path) {
  // Answered once the directory is gone: whoever sees the worker ended sees its data gone too.
  const auto slash = path.rfind('/');
  auto r = impl_->call(Type::RemoveData,
                       {{"worker_id", slash == std::string::npos ? path : path.substr(slash + 1)}});
  if (!r) log::warn("the spawner did not remove a data directory", {{"error", r.error().message}});
}

void Client::collect(supervisor::CollectRequest request,
                     std::function<void(std::vector<runfiles::Collected>)> done) {
  // The spawner reads the directory (the run's UID owns it) with its own caps and paths; the
  // contents come back in a sealed memfd, the reply lists where each file is in it.
  const nlohmann::json body{{"worker_id", request.worker_id}, {"patterns", request.patterns}};
  auto fail = [done](const std::string& why) {
    runfiles::Collected c;
    c.error = "not collected: " + why;
    done({c});
  };
  impl_->call_async(Type::Collect, body, [done, fail](Result<Message> r) {
    if (!r) {
      fail(r.error().message);
      return;
    }
    auto entries = collected_from_reply(r->body, r->fds);
    if (!entries) {
      fail(entries.error().message);
      return;
    }
    done(std::move(*entries));
  });
}

Result<std::vector<runfiles::Collected>> collected_from_reply(
    const nlohmann::json& body, const std::vector<util::UniqueFd>& fds) {
  const auto files = body.find("files");
  if (files == body.end() || !files->is_array()) {
    return make_error("bad_message", "a collect reply without \"files\"");
  }
  std::string blob;
  if (!fds.empty()) {
    auto read = runfiles::read_sealed_blob(fds.front().get(), kMaxCollectBlobBytes);
    if (!read) return read.error();
    blob = std::move(*read);
  }
  std::vector<runfiles::Collected> out;
  for (const auto& f : *files) {
    if (!f.is_object()) return make_error("bad_message", "a collect entry is not an object");
    runfiles::Collected c;
    c.path = f.value("path", "");
    c.pattern = f.value("pattern", "");
    c.error = f.value("error", "");
    c.size = f.value("size", std::uint64_t{0});
    c.truncated = f.value("truncated", false);
    const auto offset = f.value("offset", std::uint64_t{0});
    const auto length = f.value("length", std::uint64_t{0});
    if (offset > blob.size() || length > blob.size() - offset) {
      return make_error("bad_message", "a collect entry points outside the blob");
    }
    c.content = blob.substr(offset, length);
    out.push_back(std::move(c));
  }
  return out;
}

pool::UidAllocator& Client::uids() { return impl_->uids; }
pool::PortAllocator& Client::ports() { return impl_->ports; }

Result<preflight::Report> Client::preflight_now(std::chrono::seconds timeout) {
  auto r = impl_->call(Type::Preflight, nlohmann::json::object(), timeout);
  if (!r) return r.error();
  return report_from_json(r->body.value("report", nlohmann::json::object()));
}

void Client::preflight(std::function<void(Result<preflight::Report>)> done) {
  impl_->call_async(Type::Preflight, nlohmann::json::object(),
                    [done = std::move(done)](Result<Message> r) {
                      if (!r) {
                        done(r.error());
                        return;
                      }
                      done(report_from_json(r->body.value("report", nlohmann::json::object())));
                    });
}

void Client::reload(std::function<void(Result<void>)> done) {
  impl_->call_async(Type::Reload, nlohmann::json::object(),
                    [done = std::move(done)](Result<Message> r) {
                      if (!r) {
                        done(r.error());
                        return;
                      }
                      done(Result<void>{});
                    });
}

Client::WarmPool Client::warm_pool() const {
  const auto& s = impl_->stats();
  return WarmPool{s.value("warm_parked", std::size_t{0}), s.value("warm_starting", std::size_t{0})};
}

std::size_t Client::active() const { return impl_->procs.size(); }

std::size_t Client::cgroup_leaves() const {
  std::size_t n = 0;
  for (const auto& [id, p] : impl_->procs) n += p->cgroup ? 1 : 0;
  return n;
}

std::uint64_t Client::oom_kills() const {
  std::uint64_t n = impl_->oom_closed;
  for (const auto& [id, p] : impl_->procs) {
    if (const auto* u = p->cached_usage(impl_->sampler)) n += u->oom_kills.value_or(0);
  }
  return n;
}

Result<preflight::Report> report_from_json(const nlohmann::json& j) {
  const auto results = j.find("results");
  if (results == j.end() || !results->is_array()) {
    return make_error("spawn_failed", "the spawner's preflight report has no results");
  }
  std::vector<preflight::CheckResult> out;
  for (const auto& r : *results) {
    if (!r.is_object()) continue;
    preflight::CheckResult c;
    c.name = r.value("name", "");
    const std::string sev = r.value("severity", "error");
    c.severity = sev == "ok"        ? preflight::Severity::Ok
                 : sev == "info"    ? preflight::Severity::Info
                 : sev == "warning" ? preflight::Severity::Warning
                                    : preflight::Severity::Error;
    c.message = r.value("message", "");
    c.remedy = r.value("remedy", "");
    c.duration_ms = r.value("duration_ms", std::int64_t{0});
    c.details = r.value("details", nlohmann::json::object());
    out.push_back(std::move(c));
  }
  return preflight::make_report(std::move(out));
}

}  // namespace paddock::privsep
