// Tests of HttpServer run in-process on loopback: streamed (chunked) responses, client
// disconnects seen by the producer, and graceful shutdown ending streams.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <thread>

#include "paddock/api/server.hpp"
#include "support/http_client.hpp"

using namespace paddock::api;
using namespace std::chrono_literals;
using paddock::test::HttpClient;
using paddock::test::RawConnection;
using ::testing::HasSubstr;

namespace {

/// An HttpServer on 127.0.0.1:<ephemeral> with its io_context on a background thread.
class LoopbackServer {
 public:
  explicit LoopbackServer(RequestHandler handler)
      : server_(std::make_unique<HttpServer>(ioc_, ServerOptions{}, std::move(handler))) {
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

}  // namespace

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
  std::string received;
  for (int i = 0; i < 50 && received.find("hello") == std::string::npos; ++i) {
    received += c.read_some(100ms);  // header and chunk may arrive separately
  }
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

TEST(ApiServerShutdown, GivenNoConnections_WhenShutdown_ThenDoneIsCalledAndNewConnectionsFail) {
  LoopbackServer s([](const Request&) { return Response::json(200, {{"ok", true}}); });
  ASSERT_EQ(HttpClient::tcp("127.0.0.1", s.port()).get("/").status, 200u);
  std::promise<void> done;
  boost::asio::post(s.ioc(), [&] { s.server().shutdown(5s, [&] { done.set_value(); }); });
  EXPECT_EQ(done.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(RawConnection::tcp(s.port()).connected());
}
