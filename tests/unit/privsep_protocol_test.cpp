// The spawner protocol's framing: what decodes, what is refused and why, and descriptors passed
// over a real SOCK_SEQPACKET socketpair.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "paddock/privsep/protocol.hpp"

using namespace paddock;
using namespace paddock::privsep;

namespace {

struct Pair {
  util::UniqueFd a, b;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
};

std::string header(std::uint32_t magic, std::uint16_t version, std::uint16_t type,
                   std::uint32_t id) {
  std::string out;
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((magic >> (8 * i)) & 0xff));
  out.push_back(static_cast<char>(version & 0xff));
  out.push_back(static_cast<char>(version >> 8));
  out.push_back(static_cast<char>(type & 0xff));
  out.push_back(static_cast<char>(type >> 8));
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((id >> (8 * i)) & 0xff));
  return out;
}

int open_fds() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) n += ::fcntl(fd, F_GETFD) >= 0 ? 1 : 0;
  return n;
}

}  // namespace

TEST(PrivsepProtocol, GivenAMessageThenItDecodesToTheSameTypeIdAndBody) {
  const nlohmann::json body{{"worker_id", "w-AAAAAAAAAAAAAAAAAAAAAA"}, {"stdin", true}};
  const std::string bytes = encode(Type::Launch, 42, body);
  EXPECT_EQ(bytes.substr(0, 4), "PDKS");
  auto m = decode(bytes);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->type, Type::Launch);
  EXPECT_EQ(m->id, 42u);
  EXPECT_EQ(m->body, body);
}

TEST(PrivsepProtocol, GivenBrokenFramesThenEachIsRefusedSayingWhy) {
  const std::string body = R"({"worker_id":"w-AAAAAAAAAAAAAAAAAAAAAA"})";
  const std::map<std::string, std::pair<std::string, std::string>> cases{
      {"short", {"PDKS\x01", "shorter than its header"}},
      {"magic", {header(0x12345678, kVersion, 2, 1) + body, "magic"}},
      {"version", {header(kMagic, 2, 2, 1) + body, "protocol version 2"}},
      {"type", {header(kMagic, kVersion, 999, 1) + body, "unknown message type 999"}},
      {"truncated", {header(kMagic, kVersion, 2, 1) + body.substr(0, 10), "not valid JSON"}},
      {"array", {header(kMagic, kVersion, 2, 1) + "[1,2]", "not an object"}},
      {"empty", {header(kMagic, kVersion, 2, 1), "not valid JSON"}},
  };
  for (const auto& [name, c] : cases) {
    auto m = decode(c.first);
    ASSERT_FALSE(m) << name;
    EXPECT_EQ(m.error().code, "bad_message") << name;
    EXPECT_NE(m.error().message.find(c.second), std::string::npos)
        << name << ": " << m.error().message;
  }
}

TEST(PrivsepProtocol, GivenDescriptorsThenTheyArriveAndWorkOnTheOtherSide) {
  Pair p;
  int pipefd[2];
  ASSERT_EQ(::pipe2(pipefd, O_CLOEXEC), 0);
  util::UniqueFd r(pipefd[0]), w(pipefd[1]);
  ASSERT_TRUE(send_message(p.a.get(), Type::Reply, 7, ok_body({{"proc", 3}}), {r.get()}));
  Message m;
  auto got = receive_message(p.b.get(), kMaxReplyBytes, m);
  ASSERT_TRUE(got) << got.error().message;
  ASSERT_EQ(*got, Received::Message);
  EXPECT_EQ(m.id, 7u);
  EXPECT_TRUE(reply_status(m.body));
  ASSERT_EQ(m.fds.size(), 1u);
  EXPECT_EQ(::fcntl(m.fds[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(::write(w.get(), "x", 1), 1);
  char c = 0;
  EXPECT_EQ(::read(m.fds[0].get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(PrivsepProtocol, GivenAnOversizedDatagramThenItIsRefusedAndTheNextOneStillReads) {
  Pair p;
  const std::string big = header(kMagic, kVersion, 2, 1) + std::string(kMaxRequestBytes, ' ');
  ASSERT_EQ(::send(p.a.get(), big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  ASSERT_TRUE(send_message(p.a.get(), Type::Hello, 2, nlohmann::json::object()));
  Message m;
  auto first = receive_message(p.b.get(), kMaxRequestBytes, m);
  ASSERT_FALSE(first);
  EXPECT_NE(first.error().message.find("longer than the limit"), std::string::npos);
  auto second = receive_message(p.b.get(), kMaxRequestBytes, m);
  ASSERT_TRUE(second && *second == Received::Message);
  EXPECT_EQ(m.type, Type::Hello);
  EXPECT_EQ(receive_message(p.b.get(), kMaxRequestBytes, m).value(), Received::WouldBlock);
}

TEST(PrivsepProtocol, GivenTooManyDescriptorsThenRefusedAndNoneIsLeftOpen) {
  Pair p;
  std::vector<util::UniqueFd> owned;
  std::vector<int> fds;
  for (std::size_t i = 0; i < kMaxFds + 1; ++i) {
    owned.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    fds.push_back(owned.back().get());
  }
  // send_message itself refuses; send by hand as a hostile peer would.
  EXPECT_FALSE(send_message(p.a.get(), Type::Hello, 1, nlohmann::json::object(), fds));
  const std::string bytes = encode(Type::Hello, 1, nlohmann::json::object());
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)]{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  ASSERT_GT(::sendmsg(p.a.get(), &msg, 0), 0);
  owned.clear();
  const int before = open_fds();
  Message m;
  auto got = receive_message(p.b.get(), kMaxRequestBytes, m);
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message.find("descriptors"), std::string::npos) << got.error().message;
  EXPECT_EQ(open_fds(), before);
}

TEST(PrivsepProtocol, GivenThePeerClosedThenReceiveSaysClosed) {
  Pair p;
  p.a.reset();
  Message m;
  auto got = receive_message(p.b.get(), kMaxRequestBytes, m);
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, Received::Closed);
}

TEST(PrivsepProtocol, GivenReplyBodiesThenStatusCarriesTheErrorOrNothing) {
  EXPECT_TRUE(reply_status(ok_body()));
  auto e = reply_status(error_body(make_error("uid_exhausted", "no UID left", "uid")));
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, "uid_exhausted");
  EXPECT_EQ(e.error().message, "no UID left");
  EXPECT_EQ(e.error().field, "uid");
  EXPECT_FALSE(reply_status(nlohmann::json{{"ok", "yes"}}));
  EXPECT_FALSE(reply_status(nlohmann::json{{"ok", false}}));
  // An empty or mistyped code still reads as a refusal with a code (found by fuzzing).
  auto empty = reply_status(nlohmann::json{{"ok", false}, {"error", {{"code", ""}}}});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, "spawn_failed");
  EXPECT_FALSE(empty.error().message.empty());
  auto typed = reply_status(nlohmann::json{{"ok", false}, {"error", {{"code", 7}, {"field", 1}}}});
  ASSERT_FALSE(typed);
  EXPECT_EQ(typed.error().code, "spawn_failed");
}

TEST(PrivsepProtocol, GivenIdsThenOnlyWorkerAndRunIdsAreValid) {
  EXPECT_TRUE(valid_worker_id("w-AAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_TRUE(valid_worker_id("r-abcdefghijklmnop-_0123"));
  EXPECT_FALSE(valid_worker_id("x-AAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(valid_worker_id("w-AAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_FALSE(valid_worker_id("w-AAAAAAAAAA/../AAAAAAAA"));
  EXPECT_FALSE(valid_worker_id("w-AAAAAAAAAAAAAAAAAAAAA\n"));
  EXPECT_FALSE(valid_worker_id(""));
}
