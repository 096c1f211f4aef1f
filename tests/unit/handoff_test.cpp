// The state one image of paddockd hands to the next in an upgrade: everything it carries comes
// back field for field through the sealed memfd, and a state that is missing a part is refused
// with an error that says which.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include "paddock/daemon/handoff.hpp"
#include "paddock/runfiles/runfiles.hpp"
#include "paddock/supervisor/state.hpp"

using namespace paddock;
using supervisor::State;

namespace {

supervisor::WallTime at_ms(std::int64_t ms) {
  return supervisor::WallTime(std::chrono::milliseconds(ms));
}

daemon::HandoffState sample() {
  daemon::HandoffState s;
  s.generation = 3;
  s.started_at_ms = 1'700'000'000'000;
  s.spawner_pid = 4242;
  s.spawner_fd = 7;
  s.notify_fd = 5;
  s.last_event_id = 77;
  s.binary_dir_fd = 6;
  s.binary_name = "paddockd";
  s.binary_shown = "/usr/sbin/paddockd";
  s.listeners = {{"tcp", "127.0.0.1:8080", 8}, {"unix", "/run/paddock/paddock.sock", 9}};
  s.preflight = {{"results", nlohmann::json::array()}};
  supervisor::AdoptedWorker a;
  a.id = "w-AAAAAAAAAAAAAAAAAAAAAA";
  a.spec.command = {"python3", "app.py"};
  a.spec.port = true;
  a.uid = 60003;
  a.port = 20001;
  a.started_at = at_ms(1'700'000'000'500);
  supervisor::AdoptedWorker::Carried c;
  c.state = State::Stopping;
  c.reason = "stopped by request";
  c.created_at = at_ms(1'700'000'000'400);
  c.last_exited_at = at_ms(1'700'000'000'450);
  c.exit_code = 1;
  c.restarts = 2;
  c.consecutive_failures = 1;
  c.log_seq = 1234;
  c.partial_out = "half a li";
  c.partial_err = "\xff binary";
  c.ring = {{41, supervisor::Stream::Stdout, at_ms(1'700'000'000'460), "hello"},
            {42, supervisor::Stream::Stderr, at_ms(1'700'000'000'470), "bytes \x01\xfe"}};
  c.stop_reason = "stopped by request";
  c.stop_target = State::Failed;
  c.relaunch_after_stop = true;
  c.grace_left_ms = 4500;
  a.carried = c;
  s.workers.push_back(a);
  return s;
}

}  // namespace

TEST(Handoff, GivenAState_WhenSentThroughTheSealedMemfd_ThenEveryFieldComesBack) {
  const auto s = sample();
  auto blob = runfiles::sealed_blob(
      daemon::handoff_to_json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  ASSERT_TRUE(blob) << blob.error().message;
  auto back = daemon::read_handoff(blob->release());
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->generation, 3u);
  EXPECT_EQ(back->started_at_ms, s.started_at_ms);
  EXPECT_EQ(back->spawner_pid, 4242);
  EXPECT_EQ(back->spawner_fd, 7);
  EXPECT_EQ(back->notify_fd, 5);
  EXPECT_EQ(back->last_event_id, 77u);
  EXPECT_EQ(back->binary_dir_fd, 6);
  EXPECT_EQ(back->binary_name, "paddockd");
  EXPECT_EQ(back->binary_shown, "/usr/sbin/paddockd");
  ASSERT_EQ(back->listeners.size(), 2u);
  EXPECT_EQ(back->listeners[1].kind, "unix");
  EXPECT_EQ(back->listeners[1].name, "/run/paddock/paddock.sock");
  EXPECT_EQ(back->listeners[1].fd, 9);
  ASSERT_EQ(back->workers.size(), 1u);
  const auto& w = back->workers[0];
  EXPECT_EQ(w.id, s.workers[0].id);
  EXPECT_EQ(w.uid, 60003u);
  EXPECT_EQ(w.port, 20001);
  EXPECT_EQ(w.spec.command, s.workers[0].spec.command);
  EXPECT_EQ(w.started_at, s.workers[0].started_at);
  ASSERT_TRUE(w.carried.has_value());
  const auto& c = *w.carried;
  EXPECT_EQ(c.state, State::Stopping);
  EXPECT_EQ(c.created_at, at_ms(1'700'000'000'400));
  EXPECT_EQ(c.last_exited_at, at_ms(1'700'000'000'450));
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_FALSE(c.signal.has_value());
  EXPECT_EQ(c.restarts, 2u);
  EXPECT_EQ(c.consecutive_failures, 1u);
  EXPECT_EQ(c.log_seq, 1234u);
  EXPECT_EQ(c.partial_out, "half a li");
  EXPECT_EQ(c.partial_err, "\xff binary") << "raw output bytes must survive";
  ASSERT_EQ(c.ring.size(), 2u);
  EXPECT_EQ(c.ring[1].seq, 42u);
  EXPECT_EQ(c.ring[1].stream, supervisor::Stream::Stderr);
  EXPECT_EQ(c.ring[1].at, at_ms(1'700'000'000'470));
  EXPECT_EQ(c.ring[1].text, "bytes \x01\xfe");
  EXPECT_EQ(c.stop_target, State::Failed);
  EXPECT_TRUE(c.relaunch_after_stop);
  EXPECT_EQ(c.grace_left_ms, 4500);
  EXPECT_FALSE(c.between_runs);
}

TEST(Handoff, GivenAStateMissingAPart_ThenItIsRefusedNamingIt) {
  auto j = daemon::handoff_to_json(sample());
  auto no_spawner = j;
  no_spawner.erase("spawner");
  auto r = daemon::handoff_from_json(no_spawner);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("spawner"), std::string::npos) << r.error().message;

  auto no_carried = j;
  no_carried["carried"] = nlohmann::json::object();
  r = daemon::handoff_from_json(no_carried);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("w-AAAAAAAAAAAAAAAAAAAAAA"), std::string::npos)
      << r.error().message;

  auto bad_state = j;
  bad_state["carried"]["w-AAAAAAAAAAAAAAAAAAAAAA"]["state"] = "sleeping";
  r = daemon::handoff_from_json(bad_state);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("state"), std::string::npos) << r.error().message;

  auto bad_listener = j;
  bad_listener["listeners"][0]["kind"] = "udp";
  EXPECT_FALSE(daemon::handoff_from_json(bad_listener));

  auto other_version = j;
  other_version["version"] = 2;
  EXPECT_FALSE(daemon::handoff_from_json(other_version));
}

TEST(Handoff, GivenAnUnsealedMemfd_ThenTheStateIsRefused) {
  const int fd = ::memfd_create("handoff", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::string text = daemon::handoff_to_json(sample()).dump();
  ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  EXPECT_FALSE(daemon::read_handoff(fd));
}
