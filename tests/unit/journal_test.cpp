// The worker journal: what it keeps of each live worker survives a round trip through the file,
// a missing file is an empty journal, and a broken one is an error that names what is wrong.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "paddock/daemon/journal.hpp"
#include "support/temp_dir.hpp"

using namespace paddock;

namespace {

supervisor::AdoptedWorker worker(const std::string& id) {
  supervisor::AdoptedWorker a;
  a.id = id;
  a.spec.command = {"python3", "-m", "http.server"};
  a.spec.name = "web";
  a.spec.labels = {{"app", "shop"}};
  a.spec.port = true;
  a.uid = 60007;
  a.port = 20003;
  a.started_at = supervisor::WallTime(std::chrono::milliseconds(1'700'000'000'123));
  return a;
}

}  // namespace

TEST(WorkerJournal, GivenLiveWorkers_WhenWrittenAndReadBack_ThenIdsSpecsUidsPortsAndTimesMatch) {
  const test::TempDir tmp("paddock-journal");
  const std::string path = tmp.path() + "/workers.json";
  auto second = worker("w-BBBBBBBBBBBBBBBBBBBBBB");
  second.port.reset();
  second.spec.port = false;
  ASSERT_TRUE(daemon::write_journal(path, {worker("w-AAAAAAAAAAAAAAAAAAAAAA"), second}));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  auto back = daemon::read_journal(path);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].id, "w-AAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_EQ((*back)[0].spec.command, worker("x").spec.command);
  EXPECT_EQ((*back)[0].spec.name, "web");
  EXPECT_EQ((*back)[0].spec.labels.at("app"), "shop");
  EXPECT_EQ((*back)[0].uid, 60007u);
  EXPECT_EQ((*back)[0].port, std::optional<std::uint16_t>(20003));
  EXPECT_EQ((*back)[0].started_at, worker("x").started_at);
  EXPECT_FALSE((*back)[0].proc.has_value());
  EXPECT_FALSE((*back)[1].port.has_value());
  // Rewritten with fewer workers: the file says so.
  ASSERT_TRUE(daemon::write_journal(path, {}));
  EXPECT_TRUE(daemon::read_journal(path)->empty());
}

TEST(WorkerJournal, GivenNoFile_ThenEmpty_AndGivenBrokenContent_ThenAnErrorSaysWhat) {
  const test::TempDir tmp("paddock-journal");
  const std::string& dir = tmp.path();
  auto none = daemon::read_journal(dir + "/missing.json");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  auto bad = [&](const std::string& text) {
    std::ofstream(dir + "/j.json") << text;
    auto r = daemon::read_journal(dir + "/j.json");
    return r ? std::string("accepted") : r.error().message;
  };
  EXPECT_NE(bad("{nope").find("not JSON"), std::string::npos);
  EXPECT_NE(bad(R"({"version": 2, "workers": []})").find("version 1"), std::string::npos);
  EXPECT_NE(bad(R"({"version": 1, "workers": [{"spec": {}}]})").find("no id"), std::string::npos);
  EXPECT_NE(
      bad(R"({"version": 1, "workers": [{"id": "w-x", "spec": {"command": 7}}]})").find("w-x"),
      std::string::npos);
}
