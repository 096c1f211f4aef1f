#include "paddock/api/server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unordered_map>

#include "paddock/log/log.hpp"

namespace paddock::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;

namespace {

/// What the server needs to reach every live session (for shutdown).
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  /// soft: close if idle, else close after the current response. hard: close now.
  virtual void shut(bool hard) = 0;

  bool is_tcp = false;
  std::uint64_t serial = 0;  ///< accept order
  /// Waiting for a request and never had one let through by the header check: the first to
  /// go when TCP is over its soft limit.
  std::atomic<bool> evictable{false};
};

}  // namespace

struct HttpServer::State {
  asio::io_context& ioc;
  ServerOptions options;
  RequestHandler handler;
  ResponseObserver observer;
  HeaderCheck header_check;
  BodyRoute body_route;
  std::uint64_t max_streamed_bytes = 0;
  RejectObserver reject_observer;
  std::shared_ptr<ServerStats> stats = std::make_shared<ServerStats>();
  std::atomic<std::size_t> connections{0};  // every session, refused ones too (for draining)
  std::atomic<std::size_t> refusing{0};     // sessions answering 503 before closing
  std::atomic<std::uint64_t> next_serial{0};
  std::mutex addresses_mutex;
  std::unordered_map<std::string, std::uint32_t> per_address;  // open TCP connections
  std::atomic<bool> stopped{false};
  std::list<std::function<void()>> closers;      // one per acceptor
  std::vector<HttpServer::Listening> listening;  // each acceptor's socket (for a hand-over)
  // An upgrade: requests that arrive while the server drains are answered 503 + Retry-After
  // (the next image serves them), and a connection that has not sent one yet is not cut.
  std::atomic<bool> handing_over{false};

  std::mutex sessions_mutex;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions;

  // Graceful shutdown: on_drained is called once, when the last connection closes or at the
  // deadline, whichever comes first.
  std::mutex drain_mutex;
  std::atomic<bool> draining{false};
  std::function<void()> on_drained;
  std::optional<asio::steady_timer> drain_timer;

  State(asio::io_context& io, ServerOptions opts, RequestHandler h)
      : ioc(io), options(opts), handler(std::move(h)) {}

  void for_each_session(bool hard) {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard lock(sessions_mutex);
      for (auto& [ptr, weak] : sessions) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->shut(hard);
  }

  /// Closes the oldest evictable TCP session other than `except`; false when there is none.
  bool evict_oldest_idle(const SessionBase* except) {
    std::shared_ptr<SessionBase> oldest;
    {
      std::lock_guard lock(sessions_mutex);
      for (auto& [ptr, weak] : sessions) {
        if (ptr == except || !ptr->is_tcp || !ptr->evictable) continue;
        if (oldest && oldest->serial < ptr->serial) continue;
        if (auto sp = weak.lock()) oldest = std::move(sp);
      }
    }
    if (!oldest) return false;
    oldest->evictable = false;
    ++stats->idle_closed;
    oldest->shut(true);
    return true;
  }

  void finish_drain() {
    std::function<void()> done;
    {
      std::lock_guard lock(drain_mutex);
      if (!draining) return;
      draining = false;
      done = std::move(on_drained);
      on_drained = nullptr;
      if (drain_timer) drain_timer->cancel();
    }
    if (done) done();
  }
};

static void session_closed(const std::shared_ptr<HttpServer::State>& state) {
  if (--state->connections == 0 && state->draining) {
    asio::post(state->ioc, [state] { state->finish_drain(); });
  }
}

namespace {

using TcpStream = beast::basic_stream<tcp, asio::any_io_executor, beast::unlimited_rate_policy>;
using LocalStream = beast::basic_stream<local, asio::any_io_executor, beast::unlimited_rate_policy>;

Peer peer_of(TcpStream& s) {
  Peer p;
  boost::system::error_code ec;
  auto ep = s.socket().remote_endpoint(ec);
  if (!ec) p.address = ep.address().to_string() + ":" + std::to_string(ep.port());
  return p;
}

Peer peer_of(LocalStream& s) {
  Peer p;
  p.is_unix = true;
  ucred cred{};
  socklen_t len = sizeof(cred);
  // Peer credentials are taken once at accept; a failure leaves uid at an impossible value
  // so authentication refuses the connection.
  if (::getsockopt(s.socket().native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    p.uid = cred.uid;
    p.gid = cred.gid;
    p.pid = cred.pid;
    p.address = "unix:pid=" + std::to_string(cred.pid);
  } else {
    p.uid = static_cast<std::uint32_t>(-1);
    p.gid = static_cast<std::uint32_t>(-1);
    p.address = "unix";
  }
  return p;
}

bool is_disconnect(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::error::eof || ec == asio::error::broken_pipe ||
         ec == asio::error::bad_descriptor || ec == http::error::partial_message;
}

template <class Protocol>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Protocol>> {
 public:
  using Stream = beast::basic_stream<Protocol, asio::any_io_executor, beast::unlimited_rate_policy>;

  static constexpr bool kUnix = std::is_same_v<Protocol, local>;

  /// `refusal`: empty for an admitted connection, else the 503 message to answer with.
  /// `address`: the TCP source address counted in per_address ("" when not counted).
  Session(typename Protocol::socket socket, std::shared_ptr<HttpServer::State> state,
          std::string refusal, std::string address)
      : stream_(std::move(socket)),
        state_(std::move(state)),
        refusal_(std::move(refusal)),
        address_(std::move(address)),
        lifetime_timer_(stream_.get_executor()),
        hold_timer_(stream_.get_executor()) {
    ++state_->connections;
    is_tcp = !kUnix;
    serial = state_->next_serial++;
    if (!refusal_.empty()) {
      ++state_->refusing;
    } else if (kUnix) {
      ++state_->stats->open_unix;
    } else {
      ++state_->stats->open_tcp;
    }
  }

  ~Session() override {
    {
      std::lock_guard lock(state_->sessions_mutex);
      state_->sessions.erase(this);
    }
    if (!refusal_.empty()) {
      --state_->refusing;
    } else if (kUnix) {
      --state_->stats->open_unix;
    } else {
      --state_->stats->open_tcp;
    }
    if (!address_.empty()) {
      std::lock_guard lock(state_->addresses_mutex);
      auto it = state_->per_address.find(address_);
      if (it != state_->per_address.end() && --it->second == 0) state_->per_address.erase(it);
    }
    session_closed(state_);
  }

  void start() {
    peer_ = peer_of(stream_);
    {
      std::lock_guard lock(state_->sessions_mutex);
      state_->sessions.emplace(this, this->weak_from_this());
    }
    if (!refusal_.empty()) {
      asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
        self->reject(Response::error(503, "too_many_connections", self->refusal_));
      });
      return;
    }
    asio::dispatch(stream_.get_executor(),
                   [self = this->shared_from_this()] { self->read_header(); });
  }

  void shut(bool hard) override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this(), hard] {
      self->stopping_ = true;
      // Handing over, a fresh connection may have its request on the way: it is answered.
      const bool fresh = self->state_->handing_over && self->served_ == 0;
      if (hard || (self->phase_ == Phase::Header && !fresh)) {
        self->close();
      } else if (self->phase_ == Phase::Streaming) {
        self->end_stream(StreamEndReason::Shutdown);
      }
    });
  }

 private:
  enum class Phase { Header, Body, Handling, Writing, Streaming, Closing };

  void read_header() {
    if (stopping_ && !(state_->handing_over && served_ == 0)) return close();
    phase_ = Phase::Header;
    evictable = !let_through_;
    parser_.emplace();
    // Content-Length is checked against this when the header completes; the real limit of the
    // route is applied in on_header.
    parser_->body_limit(std::max(state_->options.max_body_bytes, state_->max_streamed_bytes));
    body_limit_ = 0;  // decided in on_header (or on_error, for a Content-Length over both)
    consumer_.reset();
    parser_->header_limit(state_->options.max_header_bytes);
    // One deadline for the whole header: a client that trickles bytes cannot extend it.
    stream_.expires_after(std::chrono::seconds(state_->options.header_timeout_seconds));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    evictable = false;
    if (ec) return on_error(ec);
    if (state_->handing_over) {
      auto res = Response::error(503, "upgrading",
                                 "paddockd is handing over to its new binary; retry in a moment");
      res.headers.emplace_back("Retry-After", "1");
      return reject(std::move(res));
    }
    phase_ = Phase::Body;
    const auto& msg = parser_->get();
    // Authentication and scope are decided now, before any of the body is read (and before a
    // 100 Continue invites the client to send it).
    if (msg.count(http::field::authorization) > 1) {
      return reject(Response::error(400, "bad_request", "more than one Authorization header",
                                    "authorization"));
    }
    std::optional<StreamedBody> streamed;
    if (state_->body_route) {
      Request req = request_from(msg);
      if (parse_target(req.target, req.path, req.query)) streamed = state_->body_route(req);
    }
    body_limit_ = streamed ? streamed->max_bytes : state_->options.max_body_bytes;
    if (const auto len = parser_->content_length(); len && *len > body_limit_) {
      return on_error(http::error::body_limit);
    }
    if (state_->header_check) {
      Request req = request_from(msg);
      std::optional<Response> refusal;
      if (parse_target(req.target, req.path, req.query)) {
        try {
          refusal = state_->header_check(req);
        } catch (const std::exception& e) {
          log::error("header check threw", {{"path", req.path}, {"what", e.what()}});
          refusal = Response::error(500, "internal", "internal error; see the daemon log");
        }
      }
      if (refusal) {
        // Without a body the connection can serve the next request; with one announced (and
        // not read) it closes after the answer.
        if (parser_->is_done()) {
          ++served_;
          const bool keep = msg.keep_alive() &&
                            served_ < state_->options.max_requests_per_connection && !stopping_ &&
                            !state_->stopped;
          return send(std::move(*refusal), keep, req.method == "HEAD", false);
        }
        return send(std::move(*refusal), false, req.method == "HEAD", true);
      }
      let_through_ = true;
    }
    parser_->body_limit(body_limit_);
    if (streamed) {
      consumer_ = streamed->open ? streamed->open() : nullptr;
      if (!consumer_) {
        return reject(
            Response::error(500, "internal", "cannot store the request body; see the daemon log"));
      }
    }
    if (parser_->is_done()) return on_message();
    stream_.expires_after(std::chrono::seconds(state_->options.request_timeout_seconds));
    const auto expect = msg[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      // The client waits for this before sending the body; the limits were checked above.
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(kContinue),
                        [self = this->shared_from_this()](beast::error_code wec, std::size_t) {
                          if (wec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    if (consumer_) return read_body_piece();
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->on_error(ec);
                       self->on_message();
                     });
  }

  /// A streamed body: each piece read goes to the consumer and is dropped from memory (the
  /// string body is emptied after each piece; Beast appends at its current size).
  void read_body_piece() {
    http::async_read_some(stream_, buffer_, *parser_,
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                            auto& body = self->parser_->get().body();
                            if (!body.empty()) {
                              auto stop = self->consumer_->write(body);
                              body.clear();
                              if (stop) return self->reject(std::move(*stop));
                            }
                            if (ec) return self->on_error(ec);
                            if (self->parser_->is_done()) return self->on_message();
                            self->read_body_piece();
                          });
  }

  /// The body limit of the request whose header was parsed: the body route's, or max_body_bytes.
  std::uint64_t route_body_limit() const {
    if (state_->body_route) {
      Request req = request_from(parser_->get());
      if (parse_target(req.target, req.path, req.query)) {
        if (auto streamed = state_->body_route(req)) return streamed->max_bytes;
      }
    }
    return state_->options.max_body_bytes;
  }

  void on_error(beast::error_code ec) {
    if (is_disconnect(ec) || stopping_) return close();
    if (ec == http::error::body_limit) {
      if (body_limit_ == 0) body_limit_ = route_body_limit();
      return reject(Response::error(
          413, "body_too_large", "request body exceeds " + std::to_string(body_limit_) + " bytes",
          "body"));
    }
    if (ec == http::error::header_limit) {
      return reject(Response::error(431, "headers_too_large",
                                    "request line and headers exceed " +
                                        std::to_string(state_->options.max_header_bytes) +
                                        " bytes"));
    }
    reject(Response::error(400, "bad_request", "malformed HTTP request: " + ec.message()));
  }

  /// The server's own answer to a request it cannot take: observed (audit), sent, then the
  /// connection closes.
  void reject(Response res) {
    if (state_->reject_observer) {
      Request partial;
      partial.peer = peer_;
      if (parser_ && parser_->is_header_done()) partial = request_from(parser_->get());
      state_->reject_observer(partial, res.status, res.error_code());
    }
    send(std::move(res), false, false, true);
  }

  Request request_from(const http::request<http::string_body>& msg) const {
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.peer = peer_;
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto [it, inserted] = req.headers.emplace(name, std::string(field.value()));
      if (!inserted) it->second += ", " + std::string(field.value());
    }
    return req;
  }

  void on_message() {
    phase_ = Phase::Handling;
    auto& msg = parser_->get();
    Request req = request_from(msg);
    const bool duplicate_auth = msg.count(http::field::authorization) > 1;
    req.body = std::move(msg.body());
    req.body_consumer = std::move(consumer_);
    Response res;
    if (duplicate_auth) {
      res = Response::error(400, "bad_request", "more than one Authorization header",
                            "authorization");
    } else if (!parse_target(req.target, req.path, req.query)) {
      res = Response::error(400, "bad_target", "the request target is not a valid path", "target");
    } else {
      try {
        res = state_->handler(req);
      } catch (const std::exception& e) {
        log::error("request handler threw", {{"path", req.path}, {"what", e.what()}});
        res = Response::error(500, "internal", "internal error; see the daemon log");
      }
    }
    ++served_;
    const bool keep = msg.keep_alive() && served_ < state_->options.max_requests_per_connection &&
                      !stopping_ && !state_->stopped;
    send(std::move(res), keep, req.method == "HEAD", false);
  }

  /// Writes `res`; then reads the next request (keep_alive) or closes. `linger` drains unread
  /// input for a moment before closing, so the client sees the error instead of a reset.
  void send(Response res, bool keep_alive, bool head, bool linger) {
    if (res.stream) return start_stream(std::move(res), head, keep_alive);
    phase_ = Phase::Writing;
    if (state_->observer) state_->observer(res.status);
    auto out = std::make_shared<http::response<http::string_body>>();
    out->result(res.status);
    out->version(11);
    out->set(http::field::server, "paddockd/" PADDOCK_VERSION);
    out->set(http::field::content_type, res.content_type);
    out->set(http::field::cache_control, "no-store");
    out->set("X-Content-Type-Options", "nosniff");
    for (auto& [k, v] : res.headers) out->set(k, v);
    out->keep_alive(keep_alive);
    out->body() = std::move(res.body);
    out->prepare_payload();
    if (head) out->body().clear();
    stream_.expires_after(std::chrono::seconds(state_->options.request_timeout_seconds));
    http::async_write(stream_, *out,
                      [self = this->shared_from_this(), out, keep_alive, linger](
                          beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        if (keep_alive) return self->read_header();
                        if (linger) return self->linger();
                        self->close();
                      });
  }

  // --- streamed bodies (SSE, log follow) ---------------------------------------------------

  class Sink final : public StreamSink {
   public:
    Sink(std::weak_ptr<Session> session, std::uint64_t cap)
        : session_(std::move(session)), cap_(cap) {}
    bool write(std::string data, std::uint64_t position) override {
      return push(std::move(data), position, true);
    }
    bool write(std::string data) override { return push(std::move(data), 0, false); }
    void finish() override {
      if (!open_.exchange(false)) return;
      if (auto s = session_.lock()) {
        asio::post(s->stream_.get_executor(), [s] { s->enqueue_finish(); });
      }
    }
    bool open() const override { return open_; }
    void mark_closed() { open_ = false; }

   private:
    bool push(std::string data, std::uint64_t position, bool has_position) {
      if (!open_) return false;
      auto s = session_.lock();
      if (!s) return false;
      if (data.empty()) return true;
      const std::uint64_t queued = s->queued_.load();
      if (queued > 0 && queued + data.size() > cap_) {
        // The reader is too far behind: stop taking data for it. The producer keeps going.
        if (open_.exchange(false)) {
          asio::post(s->stream_.get_executor(),
                     [s] { s->end_stream(StreamEndReason::SlowReader); });
        }
        return false;
      }
      s->account(static_cast<std::int64_t>(data.size()));
      asio::post(s->stream_.get_executor(),
                 [s, c = Chunk{std::move(data), position, has_position}]() mutable {
                   s->enqueue_chunk(std::move(c));
                 });
      return true;
    }

    std::weak_ptr<Session> session_;
    std::uint64_t cap_;
    std::atomic<bool> open_{true};
  };

  struct Chunk {
    std::string data;
    std::uint64_t position = 0;
    bool has_position = false;
  };

  /// Bytes queued for this stream (posted, queued or being written), mirrored in the stats.
  void account(std::int64_t delta) {
    queued_ += static_cast<std::uint64_t>(delta);
    state_->stats->stream_queued_bytes += static_cast<std::uint64_t>(delta);
  }

  void start_stream(Response res, bool head, bool keep_alive) {
    phase_ = Phase::Streaming;
    stream_end_ = std::move(res.stream_end);
    queued_position_ = res.stream_position;
    StreamStart start = std::move(res.stream);
    res.stream = nullptr;
    if (res.stream_hold.count() > 0 && !head) {
      // The producer starts now; what it writes waits in chunks_ (nothing is written before
      // the header) until it finishes (answer_held) or the hold ends (end_hold).
      holding_ = true;
      held_keep_alive_ = keep_alive;
      hold_timer_.expires_after(res.stream_hold);
      hold_timer_.async_wait(
          [self = this->shared_from_this()](beast::error_code) { self->end_hold(); });
      held_ = std::make_unique<Response>(std::move(res));
      start(open_sink());
      return;
    }
    write_stream_header(res, head, std::move(start));
  }

  std::shared_ptr<Sink> open_sink() {
    auto sink =
        std::make_shared<Sink>(this->weak_from_this(), state_->options.max_stream_queue_bytes);
    sink_ = sink;
    return sink;
  }

  /// The hold is over (its time passed, or the server ends the stream): the header goes out and
  /// what the producer wrote meanwhile follows as the first chunks.
  void end_hold() {
    if (!holding_ || closed_) return;
    holding_ = false;
    const auto res = std::move(held_);
    write_stream_header(*res, false, nullptr);
  }

  /// The producer finished within the hold: what it wrote is the body of one ordinary response.
  void answer_held() {
    holding_ = false;
    hold_timer_.cancel();
    if (auto sink = sink_.lock()) sink->mark_closed();
    sink_.reset();
    Response res = std::move(*held_);
    held_.reset();
    for (auto& c : chunks_) {
      account(-static_cast<std::int64_t>(c.data.size()));
      res.body += c.data;
    }
    chunks_.clear();
    res.stream_hold = std::chrono::milliseconds(0);
    stream_end_ = nullptr;
    send(std::move(res), held_keep_alive_ && !stopping_, false, false);
  }

  /// Writes a stream's header, then opens its sink (or, after a hold, keeps the one the producer
  /// has) and starts the producer (`start`; empty after a hold).
  void write_stream_header(const Response& res, bool head, StreamStart start) {
    if (state_->observer) state_->observer(res.status);
    auto header = std::make_shared<http::response<http::empty_body>>();
    header->result(res.status);
    header->version(11);
    header->set(http::field::server, "paddockd/" PADDOCK_VERSION);
    header->set(http::field::content_type, res.content_type);
    header->set(http::field::cache_control, "no-store");
    header->set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : res.headers) header->set(k, v);
    header->keep_alive(false);
    header->chunked(true);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*header);
    stream_.expires_after(std::chrono::seconds(state_->options.request_timeout_seconds));
    http::async_write_header(stream_, *serializer,
                             [self = this->shared_from_this(), header, serializer, head,
                              start = std::move(start)](beast::error_code ec, std::size_t) {
                               if (ec || head) return self->close();
                               self->stream_.expires_never();
                               self->header_sent_ = true;
                               ++self->state_->stats->streams_open;
                               self->stream_counted_ = true;
                               auto sink = self->sink_.lock();
                               if (!sink) sink = self->open_sink();
                               self->watch_peer();
                               if (self->stopping_ || self->finishing_) {
                                 // Shutdown began while the header was being written: end the body
                                 // at once.
                                 sink->mark_closed();
                                 self->finishing_ = false;
                                 self->end_stream(StreamEndReason::Shutdown);
                                 return;
                               }
                               if (const auto max = self->state_->options.stream_max_seconds;
                                   max > 0) {
                                 self->lifetime_timer_.expires_after(std::chrono::seconds(max));
                                 self->lifetime_timer_.async_wait([self](beast::error_code tec) {
                                   if (!tec) self->end_stream(StreamEndReason::Lifetime);
                                 });
                               }
                               if (start) return start(sink);
                               self->write_next_chunk();  // what the producer wrote during the hold
                             });
  }

  /// While streaming, the client sends nothing; a read completes only when it goes away.
  void watch_peer() {
    stream_.async_read_some(asio::buffer(drain_buf_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->close();
                              self->watch_peer();
                            });
  }

  void enqueue_chunk(Chunk c) {
    if (closed_ || finishing_) {
      account(-static_cast<std::int64_t>(c.data.size()));
      return;
    }
    if (c.has_position) queued_position_ = c.position;
    chunks_.push_back(std::move(c));
    if (!writing_) write_next_chunk();
  }

  void enqueue_finish() {
    if (closed_ || finishing_) return;
    if (holding_) return answer_held();
    finishing_ = true;
    if (auto sink = sink_.lock()) sink->mark_closed();
    if (!writing_) write_next_chunk();
  }

  /// Ends the stream on the server's initiative: it takes no more data; what is queued, then
  /// the end text go out and the body ends.
  void end_stream(StreamEndReason reason) {
    if (closed_ || finishing_ || !header_sent_) {
      if (!header_sent_) finishing_ = true;
      if (holding_) hold_timer_.cancel();  // the header goes out now, then the end
      return;
    }
    finishing_ = true;
    if (auto sink = sink_.lock()) sink->mark_closed();
    lifetime_timer_.cancel();
    // What is already queued still goes out (at most the cap), so every stream makes progress
    // and the position named in the end text is exact.
    const std::uint64_t position = queued_position_;
    if (reason == StreamEndReason::SlowReader) {
      ++state_->stats->streams_cut_slow;
    } else if (reason == StreamEndReason::Lifetime) {
      ++state_->stats->streams_cut_lifetime;
    }
    log::info("stream ended by the server",
              {{"reason", to_string(reason)}, {"remote", peer_.address}, {"position", position}});
    if (stream_end_) {
      std::string text = stream_end_(reason, position);
      if (!text.empty()) {
        account(static_cast<std::int64_t>(text.size()));
        chunks_.push_back(Chunk{std::move(text), position, true});
      }
    }
    if (!writing_) write_next_chunk();
  }

  void drop_queued() {
    for (const auto& c : chunks_) account(-static_cast<std::int64_t>(c.data.size()));
    chunks_.clear();
  }

  /// Hands everything queued (up to kBatchBytes, at least one chunk) to the socket as one chunk.
  void write_next_chunk() {
    if (closed_ || !header_sent_) return;
    if (chunks_.empty()) {
      writing_ = false;
      if (!finishing_) return;
      writing_ = true;
      stream_.expires_after(std::chrono::seconds(state_->options.request_timeout_seconds));
      asio::async_write(
          stream_, http::make_chunk_last(),
          [self = this->shared_from_this()](beast::error_code, std::size_t) { self->close(); });
      return;
    }
    writing_ = true;
    constexpr std::size_t kBatchBytes = 64 * 1024;
    auto data = std::make_shared<std::string>(std::move(chunks_.front().data));
    chunks_.pop_front();
    while (!chunks_.empty() && data->size() + chunks_.front().data.size() <= kBatchBytes) {
      data->append(chunks_.front().data);
      chunks_.pop_front();
    }
    // A client that stops reading is dropped when one chunk cannot be written in time.
    stream_.expires_after(std::chrono::seconds(state_->options.request_timeout_seconds));
    asio::async_write(stream_, http::make_chunk(asio::buffer(*data)),
                      [self = this->shared_from_this(), data](beast::error_code ec, std::size_t) {
                        self->account(-static_cast<std::int64_t>(data->size()));
                        data->clear();
                        data->shrink_to_fit();
                        if (ec) return self->close();
                        self->stream_.expires_never();
                        self->write_next_chunk();
                      });
  }

  void linger() {
    phase_ = Phase::Closing;
    beast::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_send, ec);
    stream_.expires_after(std::chrono::seconds(2));
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(drain_buf_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > 1024 * 1024) return self->close();
                              self->drain();
                            });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    evictable = false;
    if (auto sink = sink_.lock()) sink->mark_closed();
    lifetime_timer_.cancel();
    hold_timer_.cancel();
    holding_ = false;
    drop_queued();
    if (stream_counted_) {
      stream_counted_ = false;
      --state_->stats->streams_open;
    }
    phase_ = Phase::Closing;
    beast::error_code ec;
    stream_.socket().shutdown(Protocol::socket::shutdown_both, ec);
    stream_.close();
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::State> state_;
  Peer peer_;
  Phase phase_ = Phase::Header;
  bool stopping_ = false;
  bool closed_ = false;
  std::uint32_t served_ = 0;
  std::size_t drained_ = 0;
  std::array<char, 4096> drain_buf_{};
  std::string refusal_;
  std::string address_;
  std::uint64_t body_limit_ = 0;            // of the request being read
  std::shared_ptr<BodyConsumer> consumer_;  // its streamed body, if any
  bool let_through_ = false;                // a request of this connection passed the header check
  std::weak_ptr<Sink> sink_;
  std::deque<Chunk> chunks_;
  std::atomic<std::uint64_t> queued_{0};
  std::uint64_t queued_position_ = 0;  // position of the last chunk queued
  std::function<std::string(StreamEndReason, std::uint64_t)> stream_end_;
  asio::steady_timer lifetime_timer_;
  asio::steady_timer hold_timer_;
  bool holding_ = false;            // a stream waiting for its whole body (Response::stream_hold)
  bool held_keep_alive_ = false;    // the request allowed the connection to be kept
  std::unique_ptr<Response> held_;  // its status and headers meanwhile
  bool stream_counted_ = false;
  bool header_sent_ = false;
  bool writing_ = false;
  bool finishing_ = false;
};

template <class Protocol>
class Acceptor : public std::enable_shared_from_this<Acceptor<Protocol>> {
 public:
  Acceptor(typename Protocol::acceptor acceptor, std::shared_ptr<HttpServer::State> state,
           std::string name)
      : acceptor_(std::move(acceptor)),
        timer_(state->ioc),
        state_(std::move(state)),
        name_(std::move(name)) {}

  void start() { accept(); }
  void close() {
    boost::system::error_code ec;
    acceptor_.close(ec);
    timer_.cancel();
  }

 private:
  void accept() {
    acceptor_.async_accept(asio::make_strand(state_->ioc),
                           [self = this->shared_from_this()](boost::system::error_code ec,
                                                             typename Protocol::socket socket) {
                             self->on_accept(ec, std::move(socket));
                           });
  }

  void on_accept(boost::system::error_code ec, typename Protocol::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (state_->stopped) {
      // Accepted just before the acceptor closed. Handing over, its request is answered (503);
      // dropping it would reset a connection the client already sent a request on.
      if (!ec && state_->handing_over) admit(std::move(socket));
      return;
    }
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: the pending connection stays in the backlog and the listening
      // socket stays readable, so accepting again at once would spin. Back off instead; log the
      // first failure of a run and how many followed once accepting works again.
      if (failures_++ == 0) {
        log::warn("accept failed; backing off",
                  {{"listener", name_},
                   {"error", ec.message()},
                   {"backoff_ms", state_->options.accept_backoff.count()},
                   {"open_connections", state_->connections.load()}});
      }
      timer_.expires_after(state_->options.accept_backoff);
      timer_.async_wait([self = this->shared_from_this()](boost::system::error_code tec) {
        if (!tec && !self->state_->stopped) self->accept();
      });
      return;
    }
    if (failures_ > 0) {
      log::info("accept works again", {{"listener", name_}, {"failed_attempts", failures_}});
      failures_ = 0;
    }
    admit(std::move(socket));
    accept();
  }

  /// Applies the listener's connection limits: an admitted connection gets a session; one
  /// over a limit gets a short-lived session answering 503, or (when many are already being
  /// refused) is closed at once.
  void admit(typename Protocol::socket socket) {
    constexpr bool kUnix = std::is_same_v<Protocol, local>;
    const auto& opts = state_->options;
    auto& stats = *state_->stats;
    std::string refusal;
    std::string address;
    if constexpr (kUnix) {
      if (stats.open_unix >= opts.max_admin_connections) {
        ++stats.refused_unix;
        refusal = "the admin socket is at its connection limit (server.max_admin_connections = " +
                  std::to_string(opts.max_admin_connections) + "); retry shortly";
      }
    } else {
      boost::system::error_code ec;
      const auto remote = socket.remote_endpoint(ec);
      if (stats.open_tcp >= opts.max_connections) {
        ++stats.refused_tcp;
        refusal = "the server is at its connection limit; retry shortly";
      } else if (!ec) {
        address = remote.address().to_string();
        std::lock_guard lock(state_->addresses_mutex);
        auto& n = state_->per_address[address];
        if (opts.max_connections_per_address > 0 && n >= opts.max_connections_per_address) {
          if (n == 0) state_->per_address.erase(address);
          ++stats.refused_tcp_address;
          refusal = "too many connections from " + address +
                    " (server.max_connections_per_address = " +
                    std::to_string(opts.max_connections_per_address) + "); retry shortly";
          address.clear();
        } else {
          ++n;
        }
      }
    }
    if (!refusal.empty() && state_->refusing >= kMaxRefusing) {
      boost::system::error_code ignored;
      socket.close(ignored);
      return;
    }
    auto session = std::make_shared<Session<Protocol>>(std::move(socket), state_,
                                                       std::move(refusal), std::move(address));
    session->start();
    if (!kUnix && stats.open_tcp > opts.idle_connections_soft_limit) {
      state_->evict_oldest_idle(session.get());
    }
  }

  /// Connections answered with 503 at the same time; beyond this they are closed unanswered,
  /// so a flood cannot hold descriptors with refusals.
  static constexpr std::size_t kMaxRefusing = 64;

  typename Protocol::acceptor acceptor_;
  asio::steady_timer timer_;
  std::shared_ptr<HttpServer::State> state_;
  std::string name_;
  std::uint64_t failures_ = 0;
};

}  // namespace

HttpServer::HttpServer(asio::io_context& ioc, ServerOptions options, RequestHandler handler)
    : state_(std::make_shared<State>(ioc, options, std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::on_response(ResponseObserver observer) { state_->observer = std::move(observer); }

void HttpServer::on_headers(HeaderCheck check) { state_->header_check = std::move(check); }

void HttpServer::on_body_route(BodyRoute route, std::uint64_t max_streamed_bytes) {
  state_->body_route = std::move(route);
  state_->max_streamed_bytes = max_streamed_bytes;
}

void HttpServer::on_reject(RejectObserver observer) {
  state_->reject_observer = std::move(observer);
}

std::shared_ptr<const ServerStats> HttpServer::stats() const { return state_->stats; }

Result<std::uint16_t> HttpServer::listen_tcp(const util::HostPort& address) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address.host, ec);
  if (ec) {
    // Names such as "localhost" resolve to their first address.
    tcp::resolver resolver(state_->ioc);
    auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
    if (ec || results.empty()) {
      return make_error("listen", "cannot resolve listen address " + util::to_string(address));
    }
    addr = results.begin()->endpoint().address();
  }
  tcp::endpoint ep(addr, address.port);
  tcp::acceptor acc(state_->ioc);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error("listen", "cannot listen on " + util::to_string(address) + ": " +
                                    ec.message() + " (is another daemon using the port?)");
  }
  const auto port = acc.local_endpoint().port();
  state_->listening.push_back({"tcp", util::to_string({address.host, port}), acc.native_handle()});
  auto a = std::make_shared<Acceptor<tcp>>(std::move(acc), state_,
                                           util::to_string({address.host, port}));
  state_->closers.emplace_back([a] { a->close(); });
  a->start();
  return port;
}

Result<void> HttpServer::listen_unix(const std::string& path, std::uint32_t mode,
                                     const std::string& group) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return make_error("listen", path +
                                      " exists and is not a socket; remove it or choose "
                                      "another server.socket");
    }
    ::unlink(path.c_str());  // stale socket from an earlier run
  }
  boost::system::error_code ec;
  local::acceptor acc(state_->ioc);
  acc.open(local(), ec);
  // Bind with a restrictive umask so the socket is never reachable with a wider mode.
  const mode_t old = ::umask(0177);
  if (!ec) acc.bind(local::endpoint(path), ec);
  ::umask(old);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error("listen", "cannot listen on unix socket " + path + ": " + ec.message() +
                                    " (does its directory exist?)");
  }
  if (!group.empty()) {
    if (const struct ::group* gr = ::getgrnam(group.c_str())) {
      if (::chown(path.c_str(), static_cast<uid_t>(-1), gr->gr_gid) != 0) {
        return make_error("listen",
                          "chown(" + path + ", group " + group + "): " + std::strerror(errno));
      }
    } else {
      log::warn("server.socket_group does not exist; the socket keeps the daemon's group",
                {{"group", group}, {"socket", path}});
    }
  }
  if (::chmod(path.c_str(), mode) != 0) {
    return make_error("listen", "chmod(" + path + "): " + std::strerror(errno));
  }
  state_->listening.push_back({"unix", path, acc.native_handle()});
  auto a = std::make_shared<Acceptor<local>>(std::move(acc), state_, path);
  state_->closers.emplace_back([a] { a->close(); });
  a->start();
  return {};
}

Result<void> HttpServer::adopt_listener(const Listening& l) {
  boost::system::error_code ec;
  if (l.kind == "unix") {
    local::acceptor acc(state_->ioc);
    acc.assign(local(), l.fd, ec);
    if (ec) return make_error("listen", "cannot take over " + l.name + ": " + ec.message());
    state_->listening.push_back(l);
    auto a = std::make_shared<Acceptor<local>>(std::move(acc), state_, l.name);
    state_->closers.emplace_back([a] { a->close(); });
    a->start();
    return {};
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(l.fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return make_error("listen", "cannot take over " + l.name + ": " + std::strerror(errno));
  }
  tcp::acceptor acc(state_->ioc);
  acc.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), l.fd, ec);
  if (ec) return make_error("listen", "cannot take over " + l.name + ": " + ec.message());
  state_->listening.push_back(l);
  auto a = std::make_shared<Acceptor<tcp>>(std::move(acc), state_, l.name);
  state_->closers.emplace_back([a] { a->close(); });
  a->start();
  return {};
}

std::vector<HttpServer::Listening> HttpServer::hand_over_listeners() {
  std::vector<Listening> out;
  for (const auto& l : state_->listening) {
    const int fd = ::fcntl(l.fd, F_DUPFD_CLOEXEC, 3);
    if (fd >= 0) out.push_back({l.kind, l.name, fd});
  }
  state_->handing_over = true;
  return out;
}

void HttpServer::shutdown(std::chrono::milliseconds deadline, std::function<void()> on_done) {
  if (!state_ || state_->stopped) return;
  state_->stopped = true;
  for (auto& c : state_->closers) c();
  state_->closers.clear();
  {
    std::lock_guard lock(state_->drain_mutex);
    state_->on_drained = std::move(on_done);
    state_->draining = true;
  }
  if (state_->connections == 0) {
    asio::post(state_->ioc, [s = state_] { s->finish_drain(); });
    return;
  }
  state_->for_each_session(false);
  state_->drain_timer.emplace(state_->ioc);
  state_->drain_timer->expires_after(deadline);
  state_->drain_timer->async_wait([s = state_](boost::system::error_code ec) {
    if (ec) return;
    log::warn("connections still open at the shutdown deadline; closing them",
              {{"open_connections", s->connections.load()}});
    s->for_each_session(true);
    s->finish_drain();
  });
}

void HttpServer::stop() {
  if (!state_) return;
  if (!state_->stopped) {
    state_->stopped = true;
    for (auto& c : state_->closers) c();
    state_->closers.clear();
  }
  state_->for_each_session(true);
}

std::size_t HttpServer::active_connections() const { return state_->connections; }

}  // namespace paddock::api
