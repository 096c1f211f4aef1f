// The CLI's unix-socket HTTP client against a scripted server on a real socket: status and
// bodies, chunked bodies split at odd places delivered line by line, and connect errors.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <thread>
#include <vector>

#include "paddock/cli/client.hpp"
#include "paddock/cli/errors.hpp"

using namespace paddock::cli;

namespace {

/// Listens on a unix socket in a temporary directory; serve() accepts one connection, reads
/// the request head and writes `pieces` with short pauses between them.
class ScriptedServer {
 public:
  ScriptedServer() {
    char tmpl[] = "/tmp/paddock-cli-client-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/s.sock";
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
  }
  ~ScriptedServer() {
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
    std::filesystem::remove_all(dir_);
  }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }
  std::string request() const { return request_; }

  void serve(std::vector<std::string> pieces,
             std::chrono::milliseconds hold = std::chrono::milliseconds(0)) {
    thread_ = std::thread([this, pieces = std::move(pieces), hold] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      while (request_.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        request_.append(buf, static_cast<std::size_t>(n));
      }
      for (const auto& p : pieces) {
        (void)!::send(c, p.data(), p.size(), MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      std::this_thread::sleep_for(hold);
      ::close(c);
    });
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
  std::thread thread_;
  std::string request_;
};

}  // namespace

TEST(CliClient, GivenFlagEnvAndNothingThenSocketPathIsChosenInThatOrder) {
  EXPECT_EQ(resolve_socket_path("/a.sock", "/b.sock"), "/a.sock");
  EXPECT_EQ(resolve_socket_path("", "/b.sock"), "/b.sock");
  EXPECT_EQ(resolve_socket_path("", ""), "/run/paddock/paddock.sock");
  EXPECT_EQ(resolve_socket_path("", nullptr), "/run/paddock/paddock.sock");
}

TEST(CliClient, GivenConnectErrnoThenMessageSaysWhatToDo) {
  const std::string p = "/run/paddock/paddock.sock";
  EXPECT_EQ(connect_failure_message(p, ECONNREFUSED, std::nullopt),
            "cannot connect to /run/paddock/paddock.sock: is paddockd running? (systemctl status "
            "paddockd)");
  EXPECT_EQ(connect_failure_message(p, ENOENT, std::nullopt),
            connect_failure_message(p, ECONNREFUSED, std::nullopt));
  EXPECT_EQ(connect_failure_message(p, EACCES, std::string("paddock-admin")),
            "permission denied: join the group 'paddock-admin' (usermod -aG paddock-admin $USER, "
            "then log in again) or run as root");
  EXPECT_NE(connect_failure_message(p, EACCES, std::string("root")).find("only root may use " + p),
            std::string::npos);
  EXPECT_NE(connect_failure_message(p, EMFILE, std::nullopt).find("EMFILE"), std::string::npos);
}

TEST(CliClient, GivenNoSocketThenConnectErrorAndExit3) {
  Client c("/nonexistent-dir/paddock.sock");
  auto r = c.request("GET", "/v1/version");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "connect");
  EXPECT_NE(r.error().message.find("is paddockd running?"), std::string::npos);
  EXPECT_EQ(exit_code_for(r.error()), kExitUnavailable);
}

TEST(CliClient, GivenSocketWithoutListenerThenConnectionRefusedSaysIsPaddockdRunning) {
  std::string path;
  {
    ScriptedServer s;  // bound, then closed: the file stays but nobody listens
    path = s.dir() + "/stale.sock";
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ::close(fd);
    auto r = Client(path).request("GET", "/healthz");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "connect");
    EXPECT_NE(r.error().message.find("cannot connect to " + path + ": is paddockd running?"),
              std::string::npos);
  }
}

TEST(CliClient, GivenJsonBodyThenRequestCarriesItAndResponseIsRead) {
  ScriptedServer s;
  s.serve({"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n",
           "{\"id\":\"w-1\"}"});
  auto r = Client(s.path()).request("POST", "/v1/workers", "{\"command\":[\"true\"]}");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 201u);
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_EQ(r->body, "{\"id\":\"w-1\"}");
  const auto req = s.request();
  EXPECT_EQ(req.rfind("POST /v1/workers HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("Content-Type: application/json"), std::string::npos) << req;
}

TEST(CliClient, GivenChunkedStreamSplitMidLineThenWholeLinesArriveInOrder) {
  ScriptedServer s;
  s.serve(
      {"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: "
       "chunked\r\n\r\n",
       "4\r\none\n\r\n", "3\r\ntwo\r\n", "7\r\n\nthree\n\r\n", "4\r\nlast\r\n", "0\r\n\r\n"});
  std::vector<std::string> lines;
  auto r =
      Client(s.path()).stream("GET", "/v1/workers/w/logs?follow=1", {}, [&](std::string_view l) {
        lines.emplace_back(l);
        return true;
      });
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "three", "last"}));
}

TEST(CliClient, GivenHandlerReturnsFalseThenStreamStopsEarly) {
  ScriptedServer s;
  s.serve({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "4\r\na\nb\n\r\n",
           "2\r\nc\n\r\n", "0\r\n\r\n"});
  std::vector<std::string> lines;
  auto r = Client(s.path()).stream("GET", "/v1/events", {}, [&](std::string_view l) {
    lines.emplace_back(l);
    return false;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"a"}));
}

TEST(CliClient, GivenErrorStatusOnStreamThenBodyIsReturnedNotStreamed) {
  ScriptedServer s;
  const std::string body = R"({"error":{"code":"not_found","message":"no worker"}})";
  s.serve({"HTTP/1.1 404 Not Found\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n",
           body});
  int calls = 0;
  auto r = Client(s.path()).stream("GET", "/v1/workers/x/logs?follow=1", {}, [&](std::string_view) {
    ++calls;
    return true;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404u);
  EXPECT_EQ(r->body, body);
  EXPECT_EQ(calls, 0);
}

TEST(CliClient, GivenServerThatNeverAnswersThenTimeoutError) {
  ScriptedServer s;
  // Reads the request, answers nothing and holds the connection past the client's timeout.
  s.serve({}, std::chrono::milliseconds(1500));
  auto r = Client(s.path(), std::chrono::milliseconds(200)).request("GET", "/v1/version");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "timeout") << r.error().message;
  EXPECT_NE(r.error().message.find("did not answer in time"), std::string::npos);
}
