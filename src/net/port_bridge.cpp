#include "paddock/net/port_bridge.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

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
struct Conn : std::enable_shared_from_this<Conn> {
  tcp::socket outer;
  tcp::socket inner;
  asio::steady_timer connect_timer;
  std::array<char, 16384> buf_up{};    // outer -> inner
  std::array<char, 16384> buf_down{};  // inner -> outer
  int open_directions = 2;
  bool closed = false;
  std::function<void(Conn*)> on_closed;

  Conn(asio::io_context& ioc, tcp::socket o)
      : outer(std::move(o)), inner(ioc), connect_timer(ioc) {}

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ec;
    connect_timer.cancel();
    outer.close(ec);
    inner.close(ec);
    if (on_closed) on_closed(this);
  }

  void pump(tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buf) {
    auto self = shared_from_this();
    from.async_read_some(
        asio::buffer(buf), [self, &from, &to, &buf](boost::system::error_code ec, std::size_t n) {
          if (self->closed) return;
          if (n > 0) {
            asio::async_write(to, asio::buffer(buf.data(), n),
                              [self, &from, &to, &buf](boost::system::error_code wec, std::size_t) {
                                if (self->closed) return;
                                if (wec) {
                                  self->close();
                                  return;
                                }
                                if (!self->closed) self->pump(from, to, buf);
                              });
            return;
          }
          if (ec == asio::error::eof) {
            // Pass the half-close on; the other direction may still carry the answer.
            boost::system::error_code sec;
            to.shutdown(tcp::socket::shutdown_send, sec);
            if (--self->open_directions == 0) self->close();
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

  void bridge(tcp::socket outer) {
    auto c = std::make_shared<Conn>(ioc, std::move(outer));
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
      c->pump(c->outer, c->inner, c->buf_up);
      c->pump(c->inner, c->outer, c->buf_down);
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

void PortBridge::pause() {
  impl_->paused = true;
  boost::system::error_code ec;
  impl_->acceptor.cancel(ec);
  impl_->retry_timer.cancel();
}

std::size_t PortBridge::connections() const { return impl_->conns.size(); }

std::uint64_t PortBridge::accepted() const { return impl_->accepted; }

}  // namespace paddock::net
