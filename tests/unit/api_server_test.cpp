// Tests of HttpServer run in-process on loopback: streamed (chunked) responses, client
// disconnects seen by the producer, and graceful shutdown ending streams.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <functional>
#include <future>
#include <sstream>
#include <thread>

#include "paddock/api/server.hpp"
#include "support/http_client.hpp"

using namespace paddock::api;
using namespace std::chrono_literals;
using paddock::test::HttpClient;
using paddock::test::RawConnection;
using ::testing::HasSubstr;

namespace {

bool paddock_eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 500; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

/// An HttpServer on 127.0.0.1:<ephemeral> with its io_context on a background thread.
class LoopbackServer {
 public:
  explicit LoopbackServer(RequestHandler handler, ServerOptions options = {})
      : server_(std::make_unique<HttpServer>(ioc_, options, std::move(handler))) {
    auto port = server_->listen_tcp({"127.0.0.1", 0});
    port_ = port ? *port : 0;
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~LoopbackServer() {
    ioc_.stop();
    thread_.join();
    server_.reset();
  }
  std::uint16_t port() const { return port_; }
  HttpServer& server() { return *server_; }
  boost::asio::io_context& ioc() { return ioc_; }

 private:
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{
      ioc_.get_executor()};
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

Response streamed(StreamStart start) {
  Response r;
  r.content_type = "text/event-stream";
  r.stream = std::move(start);
  return r;
}

/// What arrives on `c` until `needle` has been seen, reading at most `tries` times 100 ms.
std::string read_until_seen(RawConnection& c, const std::string& needle, int tries) {
  std::string got;
  for (int i = 0; i < tries && got.find(needle) == std::string::npos; ++i) {
    got += c.read_some(100ms);
  }
  return got;
}

/// The payload of a chunked body (the chunk-size lines removed).
std::string dechunk(const std::string& raw) {
  const auto start = raw.find("\r\n\r\n");
  if (start == std::string::npos) return {};
  std::string out;
  std::size_t pos = start + 4;
  while (pos < raw.size()) {
    const auto eol = raw.find("\r\n", pos);
    if (eol == std::string::npos) break;
    const auto size = std::stoul(raw.substr(pos, eol - pos), nullptr, 16);
    if (size == 0) break;
    out += raw.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

Response numbered_stream(int count, std::atomic<int>* refused_at) {
  Response r = streamed([count, refused_at](std::shared_ptr<StreamSink> sink) {
    // Everything is written at once, before the server has sent a byte: far more than the cap.
    for (int i = 1; i <= count; ++i) {
      if (!sink->write("line " + std::to_string(i) + " " + std::string(1000, 'x') + "\n",
                       static_cast<std::uint64_t>(i))) {
        *refused_at = i;
        return;
      }
    }
  });
  r.stream_end = [](StreamEndReason reason, std::uint64_t position) {
    return std::string("END ") + to_string(reason) + " " + std::to_string(position) + "\n";
  };
  return r;
}

}  // namespace

TEST(ApiServerStream, GivenAReaderFarBehind_ThenTheStreamIsCutAtTheCapAndNamesTheLastPosition) {
  std::atomic<int> refused_at{0};
  ServerOptions o;
  o.max_stream_queue_bytes = 256 * 1024;
  LoopbackServer s([&](const Request&) { return numbered_stream(4000, &refused_at); }, o);
  auto c = RawConnection::tcp(s.port());
  ASSERT_TRUE(c.send("GET /logs HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_until_closed(10s);
  ASSERT_TRUE(r.closed);
  const std::string body = dechunk(r.data);
  // The producer was told to stop (not blocked) once the cap was reached.
  ASSERT_GT(refused_at.load(), 1);
  EXPECT_LT(refused_at.load(), 400) << "more than the cap was queued";
  // Lines 1..N arrive in order, then the end line names N.
  std::istringstream in(body);
  std::string line;
  int expect = 1;
  std::string end;
  while (std::getline(in, line)) {
    if (line.rfind("END ", 0) == 0) {
      end = line;
      break;
    }
    ASSERT_EQ(line.rfind("line " + std::to_string(expect) + " ", 0), 0u) << line.substr(0, 20);
    ++expect;
  }
  EXPECT_EQ(end, "END slow_reader " + std::to_string(expect - 1));
  EXPECT_EQ(expect, refused_at.load()) << "a line accepted by the sink did not arrive";
  const auto stats = s.server().stats();
  EXPECT_EQ(stats->streams_cut_slow.load(), 1u);
  EXPECT_TRUE(paddock_eventually([&] { return stats->stream_queued_bytes.load() == 0; }));
  EXPECT_TRUE(paddock_eventually([&] { return stats->streams_open.load() == 0; }));
}

TEST(ApiServerStream, GivenAStreamPastItsLifetime_ThenItEndsWithTheEndText) {
  ServerOptions o;
  o.stream_max_seconds = 1;
  LoopbackServer s(
      [](const Request&) {
        Response r = streamed([](std::shared_ptr<StreamSink> sink) { sink->write("a\n", 7); });
        r.stream_end = [](StreamEndReason reason, std::uint64_t position) {
          return std::string("END ") + to_string(reason) + " " + std::to_string(position) + "\n";
        };
        return r;
      },
      o);
  auto c = RawConnection::tcp(s.port());
  ASSERT_TRUE(c.send("GET /logs HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r = c.read_until_closed(10s);
  ASSERT_TRUE(r.closed);
  EXPECT_EQ(dechunk(r.data), "a\nEND lifetime 7\n");
  EXPECT_EQ(s.server().stats()->streams_cut_lifetime.load(), 1u);
}

/// A streamed answer held back for up to `hold` (Response::stream_hold); the producer is run by
/// the test through `sink` (written from the test's thread: the sink posts to the server's).
Response held(std::chrono::milliseconds hold, std::shared_ptr<StreamSink>* sink,
              std::atomic<bool>* started) {
  Response r = streamed([sink, started](std::shared_ptr<StreamSink> s) {
    *sink = std::move(s);
    *started = true;
  });
  r.content_type = "application/json";
  r.headers.emplace_back("Location", "/v1/runs/r-1");
  r.stream_hold = hold;
  return r;
}

TEST(ApiServerHold,
     GivenAProducerThatFinishesWithinTheHold_ThenOneOrdinaryAnswerOnAKeptConnection) {
  std::shared_ptr<StreamSink> sink;
  std::atomic<bool> started{false};
  std::atomic<int> handled{0};
  LoopbackServer s([&](const Request& req) {
    ++handled;
    if (req.path == "/plain") return Response::json(200, {{"ok", true}});
    return held(60s, &sink, &started);
  });
  auto c = RawConnection::tcp(s.port());
  ASSERT_TRUE(c.send("POST /v1/runs HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(paddock_eventually([&] { return started.load(); }));
  sink->write("{\"a\":");
  sink->write("1}\n");
  sink->finish();
  const std::string got = read_until_seen(c, "{\"a\":1}\n", 100);
  EXPECT_EQ(paddock::test::status_of(got), 200u) << got;
  EXPECT_THAT(got, HasSubstr("Content-Length: 8\r\n"));
  EXPECT_THAT(got, HasSubstr("Location: /v1/runs/r-1\r\n"));
  EXPECT_THAT(got, ::testing::Not(HasSubstr("chunked")));
  EXPECT_THAT(got, ::testing::Not(HasSubstr("close")));
  // The same connection serves the next request.
  ASSERT_TRUE(c.send("GET /plain HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string next = read_until_seen(c, "{\"ok\":true}", 100);
  EXPECT_THAT(next, HasSubstr("{\"ok\":true}"));
  EXPECT_EQ(handled.load(), 2);
  EXPECT_EQ(s.server().stats()->streams_open.load(), 0u);
  EXPECT_EQ(s.server().stats()->stream_queued_bytes.load(), 0u);
}

TEST(ApiServerHold, GivenAProducerThatOutlastsTheHold_ThenTheHeaderGoesOutAndTheBodyIsChunked) {
  std::shared_ptr<StreamSink> sink;
  std::atomic<bool> started{false};
  LoopbackServer s([&](const Request&) { return held(200ms, &sink, &started); });
  auto c = RawConnection::tcp(s.port());
  ASSERT_TRUE(c.send("POST /v1/runs HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(paddock_eventually([&] { return started.load(); }));
  sink->write("during the hold\n");
  // The header comes while the producer has not finished.
  const std::string got = read_until_seen(c, "\r\n\r\n", 100);
  EXPECT_EQ(paddock::test::status_of(got), 200u) << got;
  EXPECT_THAT(got, HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_THAT(got, HasSubstr("Location: /v1/runs/r-1\r\n"));
  sink->write("after it\n");
  sink->finish();
  auto rest = c.read_until_closed(10s);
  ASSERT_TRUE(rest.closed);
  const std::string all = got + rest.data;
  EXPECT_EQ(dechunk(all), "during the hold\nafter it\n") << all;
}

TEST(ApiServerHeaders, GivenARefusingHeaderCheck_ThenTheAnswerComesBeforeAnyBodyByte) {
  std::atomic<int> handled{0};
  LoopbackServer s([&](const Request&) {
    ++handled;
    return Response::json(200, {{"ok", true}});
  });
  s.server().on_headers([](const Request& r) -> std::optional<Response> {
    if (r.header("authorization") == "Bearer good") return std::nullopt;
    return Response::error(401, "unauthorized", "no");
  });
  // Sends `head` (no body) and returns what arrives up to the end of the first answer's header.
  auto first_answer = [&](RawConnection& c, const std::string& head) {
    EXPECT_TRUE(c.send(head));
    return read_until_seen(c, "\r\n\r\n", 50);
  };
  // Headers announcing 1 MiB, no body sent: the 401 must come anyway.
  auto c = RawConnection::tcp(s.port());
  const auto got = first_answer(c,
                                "POST /v1/runs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
                                "bad\r\nContent-Length: 1048576\r\n\r\n");
  EXPECT_EQ(paddock::test::status_of(got), 401u) << got;
  // Expect: 100-continue with a bad token: 401, never 100.
  auto e = RawConnection::tcp(s.port());
  const auto got_e = first_answer(e,
                                  "POST /v1/runs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
                                  "bad\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n");
  EXPECT_EQ(paddock::test::status_of(got_e), 401u) << got_e;
  // With the good token the client is invited to send the body.
  auto g = RawConnection::tcp(s.port());
  const auto got_g = first_answer(g,
                                  "POST /v1/runs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer "
                                  "good\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(paddock::test::status_of(got_g), 100u) << got_g;
  ASSERT_TRUE(g.send("{}"));
  const std::string answer = read_until_seen(g, "200 OK", 50);
  EXPECT_THAT(answer, HasSubstr("200 OK"));
  EXPECT_EQ(handled.load(), 1);
}

TEST(ApiServerConnections, GivenThePerAddressLimit_ThenTheNextConnectionFromThatAddressGets503) {
  ServerOptions o;
  o.max_connections_per_address = 2;
  o.header_timeout_seconds = 60;
  LoopbackServer s([](const Request&) { return Response::json(200, {{"ok", true}}); }, o);
  auto a = RawConnection::tcp(s.port());
  auto b = RawConnection::tcp(s.port());
  ASSERT_TRUE(a.connected() && b.connected());
  ASSERT_TRUE(paddock_eventually([&] { return s.server().stats()->open_tcp.load() == 2; }));
  auto c = RawConnection::tcp(s.port());
  auto r = c.read_until_closed(5s);
  EXPECT_EQ(paddock::test::status_of(r.data), 503u) << r.data;
  EXPECT_THAT(r.data, HasSubstr("max_connections_per_address"));
  EXPECT_EQ(s.server().stats()->refused_tcp_address.load(), 1u);
}

TEST(ApiServerConnections, GivenTheAdminSocketFull_ThenItRefusesWhileTcpIsUnaffected) {
  ServerOptions o;
  o.max_admin_connections = 1;
  o.max_connections = 1;
  o.header_timeout_seconds = 60;
  LoopbackServer s([](const Request&) { return Response::json(200, {{"ok", true}}); }, o);
  char tmpl[] = "/tmp/paddock-admin-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/s.sock";
  std::promise<bool> listening;
  boost::asio::post(s.ioc(), [&] {
    listening.set_value(static_cast<bool>(s.server().listen_unix(path, 0600, "")));
  });
  ASSERT_TRUE(listening.get_future().get());
  // TCP full: its one slot is taken.
  auto tcp = RawConnection::tcp(s.port());
  ASSERT_TRUE(paddock_eventually([&] { return s.server().stats()->open_tcp.load() == 1; }));
  // The admin socket still has its own slot ...
  EXPECT_EQ(HttpClient::unix_socket(path).get("/").status, 200u);
  auto held = RawConnection::unix_socket(path);
  ASSERT_TRUE(paddock_eventually([&] { return s.server().stats()->open_unix.load() == 1; }));
  // ... and only one.
  auto extra = RawConnection::unix_socket(path);
  auto r = extra.read_until_closed(5s);
  EXPECT_EQ(paddock::test::status_of(r.data), 503u) << r.data;
  EXPECT_THAT(r.data, HasSubstr("max_admin_connections"));
  EXPECT_EQ(s.server().stats()->refused_unix.load(), 1u);
  EXPECT_EQ(s.server().stats()->refused_tcp.load(), 0u);
  std::filesystem::remove_all(tmpl);
}

TEST(ApiServerConnections, GivenOverTheSoftLimit_ThenTheOldestIdleConnectionIsClosed) {
  ServerOptions o;
  o.idle_connections_soft_limit = 2;
  o.header_timeout_seconds = 60;
  LoopbackServer s([](const Request&) { return Response::json(200, {{"ok", true}}); }, o);
  auto first = RawConnection::tcp(s.port());
  ASSERT_TRUE(paddock_eventually([&] { return s.server().stats()->open_tcp.load() == 1; }));
  auto second = RawConnection::tcp(s.port());
  ASSERT_TRUE(paddock_eventually([&] { return s.server().stats()->open_tcp.load() == 2; }));
  auto third = RawConnection::tcp(s.port());
  EXPECT_TRUE(first.read_until_closed(5s).closed) << "the oldest idle connection stayed open";
  EXPECT_FALSE(second.read_until_closed(200ms).closed);
  EXPECT_FALSE(third.read_until_closed(200ms).closed);
  EXPECT_EQ(s.server().stats()->idle_closed.load(), 1u);
}

TEST(ApiServerStream,
     GivenStreamedResponse_WhenProducerWritesAndFinishes_ThenClientGetsChunkedBody) {
  LoopbackServer s([](const Request&) {
    return streamed([](std::shared_ptr<StreamSink> sink) {
      EXPECT_TRUE(sink->write("data: one\n\n"));
      EXPECT_TRUE(sink->write("data: two\n\n"));
      sink->finish();
      EXPECT_FALSE(sink->write("late"));
      EXPECT_FALSE(sink->open());
    });
  });
  ASSERT_NE(s.port(), 0);
  auto r = HttpClient::tcp("127.0.0.1", s.port()).get("/v1/events");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_EQ(r.body, "data: one\n\ndata: two\n\n");
}

TEST(ApiServerStream, GivenOpenStream_WhenClientDisconnects_ThenSinkReportsClosed) {
  std::promise<std::shared_ptr<StreamSink>> got;
  LoopbackServer s([&](const Request&) {
    return streamed([&](std::shared_ptr<StreamSink> sink) {
      sink->write("hello\n");
      got.set_value(sink);
    });
  });
  auto c = RawConnection::tcp(s.port());
  ASSERT_TRUE(c.send("GET /logs HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto sink = got.get_future().get();
  // The header and the chunk may arrive separately.
  const std::string received = read_until_seen(c, "hello", 50);
  EXPECT_THAT(received, HasSubstr("hello"));
  EXPECT_TRUE(sink->open());
  c.close();
  bool closed = false;
  for (int i = 0; i < 500 && !closed; ++i) {
    closed = !sink->open();
    if (!closed) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(closed) << "the producer was not told that the client went away";
  EXPECT_FALSE(sink->write("more"));
}

TEST(ApiServerStream, GivenOpenStream_WhenServerShutsDown_ThenStreamEndsCleanlyAndDoneIsCalled) {
  std::promise<std::shared_ptr<StreamSink>> got;
  LoopbackServer s([&](const Request&) {
    return streamed([&](std::shared_ptr<StreamSink> sink) {
      sink->write("event\n");
      got.set_value(sink);
    });
  });
  auto c = RawConnection::tcp(s.port());
  ASSERT_TRUE(c.send("GET /v1/events HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto sink = got.get_future().get();
  std::promise<void> done;
  boost::asio::post(s.ioc(), [&] { s.server().shutdown(5s, [&] { done.set_value(); }); });
  auto r = c.read_until_closed(5s);
  EXPECT_TRUE(r.closed);
  EXPECT_THAT(r.data, HasSubstr("event\n"));
  EXPECT_THAT(r.data, HasSubstr("\r\n0\r\n\r\n"));  // the terminating chunk
  EXPECT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(sink->open());
}

TEST(ApiServerHold, GivenAHeldStream_WhenServerShutsDown_ThenTheHeaderAndTheEndTextGoOutAtOnce) {
  std::shared_ptr<StreamSink> sink;
  std::atomic<bool> started{false};
  LoopbackServer s([&](const Request&) {
    Response r = held(60s, &sink, &started);
    r.stream_end = [](StreamEndReason reason, std::uint64_t) {
      return std::string("END ") + to_string(reason) + "\n";
    };
    return r;
  });
  auto c = RawConnection::tcp(s.port());
  ASSERT_TRUE(c.send("POST /v1/runs HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  ASSERT_TRUE(paddock_eventually([&] { return started.load(); }));
  sink->write("so far\n");
  std::promise<void> done;
  boost::asio::post(s.ioc(), [&] { s.server().shutdown(5s, [&] { done.set_value(); }); });
  // Not after the 60 s hold: the shutdown ends it.
  auto r = c.read_until_closed(10s);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(paddock::test::status_of(r.data), 200u) << r.data;
  EXPECT_EQ(dechunk(r.data), "so far\nEND shutdown\n") << r.data;
  EXPECT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(sink->open());
}

TEST(ApiServerShutdown, GivenNoConnections_WhenShutdown_ThenDoneIsCalledAndNewConnectionsFail) {
  LoopbackServer s([](const Request&) { return Response::json(200, {{"ok", true}}); });
  ASSERT_EQ(HttpClient::tcp("127.0.0.1", s.port()).get("/").status, 200u);
  std::promise<void> done;
  boost::asio::post(s.ioc(), [&] { s.server().shutdown(5s, [&] { done.set_value(); }); });
  EXPECT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(RawConnection::tcp(s.port()).connected());
}
