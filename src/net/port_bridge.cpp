#include "paddock/net/port_bridge.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <set>

#include "paddock/log/log.hpp"

namespace paddock::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

constexpr int kBacklog = 128;
constexpr std::chrono::seconds kConnectTimeout{5};
constexpr std::chrono::seconds kProbeTimeout{1};

}  // namespace

/// One bridged connection: the host side (accepted) and the inner side (in the worker's netns).
/// Direction 0 ("up") copies outer -> inner, direction 1 ("down") inner -> outer; each has one
/// operation outstanding at a time, a read on its source or a write to its sink.
struct Conn : std::enable_shared_from_this<Conn> {
  tcp::socket outer;
  tcp::socket inner;
  asio::steady_timer connect_timer;
  std::array<std::array<char, 16384>, 2> buf{};
  bool open[2] = {true, true};  // the direction still carries data (no EOF passed on yet)
  bool connected = false;       // the inner side is connected and the pumps run
  bool closed = false;
  // An upgrade: no new read is started; a read that brought data is written out first. Once
  // neither direction has an operation outstanding (parked) the sockets can change hands.
  bool freezing = false;
  bool parked[2] = {false, false};
  bool writing[2] = {false, false};  // a write to outer (0) or inner (1) is outstanding
  std::function<void(Conn*)> on_closed;

  Conn(asio::io_context& ioc, tcp::socket o)
      : outer(std::move(o)), inner(ioc), connect_timer(ioc) {}

  tcp::socket& source(int dir) { return dir == 0 ? outer : inner; }
  tcp::socket& sink(int dir) { return dir == 0 ? inner : outer; }

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ec;
    connect_timer.cancel();
    outer.close(ec);
    inner.close(ec);
    if (on_closed) on_closed(this);
  }

  /// Nothing outstanding: connected and each direction parked or done.
  bool quiet() const {
    return !closed && connected && (parked[0] || !open[0]) && (parked[1] || !open[1]);
  }

  void start() {
    connected = true;
    for (int dir : {0, 1}) {
      if (open[dir]) pump(dir);
    }
  }

  void freeze() {
    if (freezing || closed) return;
    freezing = true;
    // Still connecting inside: cancelling would abort the connect and close the client's
    // connection with its request unread (a reset). start() parks both directions once it is in.
    if (!connected) return;
    // Cancel the reads, not the writes: a socket with a write outstanding is cancelled once it
    // completes (then only the other direction's read can be pending on it).
    boost::system::error_code ec;
    if (!writing[0]) outer.cancel(ec);
    if (!writing[1]) inner.cancel(ec);
  }

  void park(int dir) {
    parked[dir] = true;
    // The other direction's read may be pending on this direction's sink: cancel it now that
    // no write is outstanding there.
    boost::system::error_code ec;
    sink(dir).cancel(ec);
  }

  void pump(int dir) {
    if (freezing) {
      park(dir);
      return;
    }
    auto self = shared_from_this();
    source(dir).async_read_some(
        asio::buffer(buf[dir]), [self, dir](boost::system::error_code ec, std::size_t n) {
          if (self->closed) return;
          if (n > 0) {
            const int to = dir == 0 ? 1 : 0;
            self->writing[to] = true;
            asio::async_write(self->sink(dir), asio::buffer(self->buf[dir].data(), n),
                              [self, dir, to](boost::system::error_code wec, std::size_t) {
                                self->writing[to] = false;
                                if (self->closed) return;
                                if (wec) {
                                  self->close();
                                  return;
                                }
                                self->pump(dir);
                              });
            return;
          }
          if (ec == asio::error::operation_aborted && self->freezing) {
            self->parked[dir] = true;
            return;
          }
          if (ec == asio::error::eof) {
            // Pass the half-close on; the other direction may still carry the answer.
            boost::system::error_code sec;
            self->sink(dir).shutdown(tcp::socket::shutdown_send, sec);
            self->open[dir] = false;
            if (!self->open[0] && !self->open[1]) self->close();
            return;
          }
          self->close();
        });
  }
};

struct PortBridge::Impl : std::enable_shared_from_this<PortBridge::Impl> {
  asio::io_context& ioc;
  tcp::acceptor acceptor;
  PortBridge::InnerSocket inner_socket;
  std::uint16_t port;
  std::string worker_id;
  long uid;
  asio::steady_timer retry_timer;
  std::set<std::shared_ptr<Conn>> conns;
  std::uint64_t accepted = 0;
  bool closed = false;
  bool paused = false;

  Impl(asio::io_context& i, PortBridge::InnerSocket inner, std::uint16_t p, std::string id, long u)
      : ioc(i),
        acceptor(i),
        inner_socket(std::move(inner)),
        port(p),
        worker_id(std::move(id)),
        uid(u),
        retry_timer(i) {}

  log::Fields fields(log::Fields extra = {}) const {
    return log::worker_fields(worker_id, uid, -1, std::move(extra));
  }

  tcp::endpoint inner_endpoint() const {
    return tcp::endpoint(asio::ip::address_v4::loopback(), port);
  }

  /// A TCP socket in the worker's namespace, opened on an asio socket.
  Result<void> open_inner(tcp::socket& s) {
    auto fd = inner_socket();
    if (!fd) return fd.error();
    boost::system::error_code ec;
    s.assign(tcp::v4(), fd->get(), ec);
    if (ec) return make_error("io", "assign socket: " + ec.message());
    fd->release();
    return {};
  }

  void accept() {
    if (closed || paused) return;
    std::weak_ptr<Impl> weak = shared_from_this();
    acceptor.async_accept([weak](boost::system::error_code ec, tcp::socket s) {
      auto self = weak.lock();
      if (!self || self->closed) return;
      if (ec) {
        if (ec == asio::error::operation_aborted) return;
        // Out of descriptors and the like: back off a moment instead of spinning.
        log::warn("bridge accept failed", self->fields({{"error", ec.message()}}));
        self->retry_timer.expires_after(std::chrono::milliseconds(100));
        self->retry_timer.async_wait([weak](boost::system::error_code tec) {
          if (auto again = weak.lock(); again && !tec) again->accept();
        });
        return;
      }
      ++self->accepted;
      self->bridge(std::move(s));
      if (!self->paused) self->accept();
    });
  }

  /// Tracks `c` until it closes.
  void keep(const std::shared_ptr<Conn>& c) {
    std::weak_ptr<Impl> weak = shared_from_this();
    c->on_closed = [weak](Conn* done) {
      auto self = weak.lock();
      if (!self) return;
      for (auto it = self->conns.begin(); it != self->conns.end(); ++it) {
        if (it->get() == done) {
          self->conns.erase(it);
          break;
        }
      }
    };
    conns.insert(c);
  }

  void bridge(tcp::socket outer) {
    auto c = std::make_shared<Conn>(ioc, std::move(outer));
    if (paused) c->freezing = true;  // accepted as the bridge froze
    keep(c);
    if (auto r = open_inner(c->inner); !r) {
      log::warn("cannot open a connection inside the worker's network namespace",
                fields({{"error", r.error().message}}));
      c->close();
      return;
    }
    c->connect_timer.expires_after(kConnectTimeout);
    c->connect_timer.async_wait([c](boost::system::error_code ec) {
      if (!ec) c->close();
    });
    c->inner.async_connect(inner_endpoint(), [c](boost::system::error_code ec) {
      c->connect_timer.cancel();
      if (c->closed) return;
      if (ec) {
        c->close();  // the worker is not listening: the client sees its connection closed
        return;
      }
      boost::system::error_code nd;
      c->inner.set_option(tcp::no_delay(true), nd);
      c->outer.set_option(tcp::no_delay(true), nd);
      c->start();  // parks at once when freezing
    });
  }

  void probe(std::function<void(bool)> done) {
    auto sock = std::make_shared<tcp::socket>(ioc);
    if (closed || !open_inner(*sock)) {
      asio::post(ioc, [done = std::move(done)] { done(false); });
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(ioc, kProbeTimeout);
    auto finished = std::make_shared<bool>(false);
    timer->async_wait([sock, finished](boost::system::error_code ec) {
      if (!ec && !*finished) {
        boost::system::error_code ignored;
        sock->close(ignored);
      }
    });
    sock->async_connect(inner_endpoint(), [sock, timer, finished,
                                           done = std::move(done)](boost::system::error_code ec) {
      *finished = true;
      timer->cancel();
      boost::system::error_code ignored;
      sock->close(ignored);
      done(!ec);
    });
  }

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ec;
    acceptor.close(ec);
    retry_timer.cancel();
    auto all = std::move(conns);
    conns.clear();
    for (const auto& c : all) {
      c->on_closed = nullptr;
      c->close();
    }
  }
};

std::unique_ptr<PortBridge> PortBridge::start(asio::io_context& ioc, util::UniqueFd listener,
                                              InnerSocket inner, std::uint16_t port,
                                              std::string worker_id, long uid) {
  auto impl = std::make_shared<Impl>(ioc, std::move(inner), port, std::move(worker_id), uid);
  // The lease listens with a backlog of 1 (it only reserves the port); raise it.
  ::listen(listener.get(), kBacklog);
  boost::system::error_code ec;
  impl->acceptor.assign(tcp::v4(), listener.get(), ec);
  if (ec) {
    log::error("cannot serve a bridged port", impl->fields({{"error", ec.message()}}));
  } else {
    listener.release();
    impl->accept();
  }
  return std::unique_ptr<PortBridge>(new PortBridge(std::move(impl)));
}

PortBridge::PortBridge(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

PortBridge::~PortBridge() { close(); }

void PortBridge::probe(std::function<void(bool)> done) { impl_->probe(std::move(done)); }

void PortBridge::close() { impl_->close(); }

void PortBridge::freeze() {
  pause();
  for (const auto& c : impl_->conns) c->freeze();
}

bool PortBridge::quiet() const {
  for (const auto& c : impl_->conns) {
    if (!c->quiet()) return false;
  }
  return true;
}

std::vector<PortBridge::HandedConnection> PortBridge::release_connections() {
  std::vector<HandedConnection> out;
  for (auto it = impl_->conns.begin(); it != impl_->conns.end();) {
    const auto& c = *it;
    if (!c->quiet()) {
      ++it;
      continue;
    }
    boost::system::error_code ec;
    HandedConnection h;
    h.outer_fd = c->outer.release(ec);
    h.inner_fd = c->inner.release(ec);
    h.up_open = c->open[0];
    h.down_open = c->open[1];
    c->on_closed = nullptr;
    c->closed = true;
    c->connect_timer.cancel();
    if (h.outer_fd >= 0 && h.inner_fd >= 0) {
      out.push_back(h);
    } else {
      if (h.outer_fd >= 0) ::close(h.outer_fd);
      if (h.inner_fd >= 0) ::close(h.inner_fd);
    }
    it = impl_->conns.erase(it);
  }
  return out;
}

void PortBridge::adopt_connection(const HandedConnection& h) {
  tcp::socket outer(impl_->ioc);
  boost::system::error_code ec;
  outer.assign(tcp::v4(), h.outer_fd, ec);
  if (ec) {
    ::close(h.outer_fd);
    ::close(h.inner_fd);
    return;
  }
  auto c = std::make_shared<Conn>(impl_->ioc, std::move(outer));
  c->inner.assign(tcp::v4(), h.inner_fd, ec);
  if (ec) {
    ::close(h.inner_fd);
    c->close();
    return;
  }
  c->open[0] = h.up_open;
  c->open[1] = h.down_open;
  impl_->keep(c);
  c->start();
}

void PortBridge::pause() {
  impl_->paused = true;
  boost::system::error_code ec;
  impl_->acceptor.cancel(ec);
  impl_->retry_timer.cancel();
}

std::size_t PortBridge::connections() const { return impl_->conns.size(); }

std::uint64_t PortBridge::accepted() const { return impl_->accepted; }

}  // namespace paddock::net
