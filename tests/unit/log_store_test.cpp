// A worker's output in memory and in its log file: lines that leave memory are read back from
// the file in order with their seq; the daemon-wide trim level.
#include "paddock/supervisor/log_store.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

using namespace paddock::supervisor;

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/paddock-log-store-XXXXXX";
    path = ::mkdtemp(tmpl) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    if (!path.empty()) std::filesystem::remove_all(path);
  }
  std::string path;
};

WallTime at(int ms) { return WallTime{} + std::chrono::milliseconds(1764500000000LL + ms); }

/// Lines "line 1" .. "line n", stdout for odd numbers and stderr for even ones.
void print(LogStore& s, int from, int to) {
  for (int i = from; i <= to; ++i) {
    s.append(i % 2 != 0 ? Stream::Stdout : Stream::Stderr, at(i),
             "line " + std::to_string(i) + "\n");
  }
}

void expect_lines(const std::vector<LogLine>& lines, std::uint64_t first, std::uint64_t last) {
  ASSERT_EQ(lines.size(), last - first + 1);
  for (std::uint64_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].seq, first + i);
    EXPECT_EQ(lines[i].text, "line " + std::to_string(first + i));
    EXPECT_EQ(lines[i].at, at(static_cast<int>(first + i)));
    EXPECT_EQ(lines[i].stream, (first + i) % 2 != 0 ? Stream::Stdout : Stream::Stderr);
  }
}

/// The log file an earlier daemon left at `path`: lines 1 to `last`, as print() writes them.
bool write_earlier_log(const std::string& path, int last) {
  LogStore before(1 << 20, nullptr);
  if (!before.open_file(path, 1 << 30)) return false;
  print(before, 1, last);
  return true;
}

}  // namespace

TEST(LogTime, GivenFormattedTime_ThenParsedBackExactly) {
  const auto t = at(123456789);
  EXPECT_EQ(parse_time(format_time(t)), t);
  EXPECT_FALSE(parse_time("2026-11-23T01:02:03Z"));
  EXPECT_FALSE(parse_time("2026-11-23T01:02:03.45xZ"));
}

TEST(LogStore, GivenRingTooSmall_ThenEvictedLinesAreServedFromTheFileInOrder) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  LogBudget budget;
  LogStore s(4096, &budget);
  ASSERT_TRUE(s.open_file(dir.path + "/w.log", 1 << 30));
  print(s, 1, 3000);
  EXPECT_LE(s.bytes(), 4096u);
  EXPECT_EQ(budget.bytes, s.bytes());
  EXPECT_EQ(s.dropped_bytes(), 0u) << "every line is in the file";
  EXPECT_EQ(s.first_after(0), 1u);
  expect_lines(s.since(0), 1, 3000);
  expect_lines(s.since(1234), 1235, 3000);
  expect_lines(s.tail(2500), 501, 3000);
  // Paging with a byte bound: every line once, in order.
  std::vector<LogLine> paged;
  for (std::uint64_t after = 0;;) {
    auto page = s.since(after, std::nullopt, 1000);
    if (page.empty()) break;
    after = page.back().seq;
    paged.insert(paged.end(), page.begin(), page.end());
  }
  expect_lines(paged, 1, 3000);
  // One stream, from the file and the ring.
  const auto err = s.tail(1500, Stream::Stderr);
  ASSERT_EQ(err.size(), 1500u);
  EXPECT_EQ(err.front().seq, 2u);
  EXPECT_EQ(err.back().seq, 3000u);
  // Trimmed to nothing: still all there.
  EXPECT_GT(s.evict_to(0), 0u);
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_EQ(budget.bytes, 0u);
  expect_lines(s.since(2990), 2991, 3000);
  expect_lines(s.tail(3), 2998, 3000);
}

TEST(LogStore, GivenNoFile_ThenEvictedLinesAreDroppedAndCounted) {
  LogBudget budget;
  {
    LogStore s(4096, &budget);
    print(s, 1, 1000);
    EXPECT_GT(budget.bytes, 0u);
    const auto evicted = s.since(0);
    ASSERT_FALSE(evicted.empty());
    const auto first = evicted.front().seq;
    EXPECT_GT(first, 1u);
    EXPECT_EQ(s.first_after(0), first);
    EXPECT_GT(s.dropped_bytes(), 0u);
    expect_lines(evicted, first, 1000);
  }
  EXPECT_EQ(budget.bytes, 0u) << "a destroyed store gives its bytes back";
}

TEST(LogStore, GivenFullFile_ThenLinesPastItThatLeftMemoryAreAGap) {
  TempDir dir;
  LogStore s(4096, nullptr);
  ASSERT_TRUE(s.open_file(dir.path + "/w.log", 40 * 100));  // ~100 lines of ~38 bytes
  print(s, 1, 1000);
  const auto from_file = s.since(0);
  ASSERT_FALSE(from_file.empty());
  const auto file_last = from_file.back().seq;
  expect_lines(from_file, 1, file_last);
  EXPECT_LT(file_last, 200u);
  // After the file's last line: the next line held is the ring's first, the rest is lost.
  const auto next = s.first_after(file_last);
  EXPECT_GT(next, file_last + 1);
  expect_lines(s.since(file_last), next, 1000);
  EXPECT_GT(s.dropped_bytes(), 0u);
  // tail does not bridge the gap.
  expect_lines(s.tail(5000), next, 1000);
}

TEST(LogStore, GivenRingSizes_ThenTrimLevelFreesWhatIsNeededFromTheLargestFirst) {
  EXPECT_EQ(trim_level({100, 50, 10}, 30), 70u);  // only the largest: 100 -> 70
  EXPECT_EQ(trim_level({100, 50, 10}, 60), 45u);  // 100 and 50 -> 45 each frees 60
  EXPECT_EQ(trim_level({100, 100, 100}, 30), 90u);
  EXPECT_EQ(trim_level({10, 10}, 100), 0u);
  EXPECT_EQ(trim_level({}, 1), 0u);
  for (std::size_t need : {1u, 17u, 99u, 150u}) {
    const std::vector<std::size_t> sizes{100, 80, 33, 7, 0};
    const auto level = trim_level(sizes, need);
    std::size_t freed = 0;
    for (auto s : sizes) freed += s > level ? s - level : 0;
    EXPECT_GE(freed, need) << need;
  }
}

TEST(LogStore, GivenAFileAnEarlierDaemonWrote_WhenResumed_ThenSeqsGoOnAndOldLinesAreServed) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string path = dir.path + "/w.log";
  ASSERT_TRUE(write_earlier_log(path, 2500));
  LogBudget budget;
  LogStore after(4096, &budget);
  auto resumed = after.resume_file(path, 1 << 30, 2500, "half of line 2", "");
  ASSERT_TRUE(resumed) << resumed.error().message;
  EXPECT_EQ(*resumed, 2500U);
  EXPECT_EQ(after.last_seq(), 2500U);
  // The partial line is completed by the new daemon's first bytes; seq numbers go on.
  after.append(Stream::Stdout, at(2501), "501\n");
  print(after, 2502, 2600);
  auto all = after.since(0);
  ASSERT_EQ(all.size(), 2600U);
  for (std::uint64_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].seq, i + 1);
  EXPECT_EQ(all[2500].text, "half of line 2501");
  expect_lines(std::vector<LogLine>(all.begin(), all.begin() + 2500), 1, 2500);
  expect_lines(std::vector<LogLine>(all.begin() + 2501, all.end()), 2502, 2600);
  EXPECT_EQ(after.dropped_bytes(), 0U);
  // A later resume (the next upgrade) counts the new lines too.
  LogStore third(4096, nullptr);
  auto again = third.resume_file(path, 1 << 30, 2600, "", "");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 2600U);
  expect_lines(third.tail(3), 2598, 2600);
}

TEST(LogStore, GivenAFileWithATornLastLine_WhenResumed_ThenTheTornPartIsCutOff) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string path = dir.path + "/w.log";
  ASSERT_TRUE(write_earlier_log(path, 10));
  {
    std::FILE* f = std::fopen(path.c_str(), "a");
    ASSERT_NE(f, nullptr);
    std::fputs("2026-11-30T10:00:00.000Z out torn", f);
    std::fclose(f);
  }
  LogStore after(4096, nullptr);
  auto resumed = after.resume_file(path, 1 << 30, 10, "", "");
  ASSERT_TRUE(resumed);
  EXPECT_EQ(*resumed, 10U);
  print(after, 11, 12);
  expect_lines(after.since(0), 1, 12);
}

TEST(LogStore,
     GivenAFileShorterThanTheOutput_WhenResumed_ThenTheGapIsReportedAndNothingIsAppended) {
  TempDir dir;
  ASSERT_FALSE(dir.path.empty());
  const std::string path = dir.path + "/w.log";
  ASSERT_TRUE(write_earlier_log(path, 5));
  LogStore after(1 << 20, nullptr);
  ASSERT_TRUE(after.resume_file(path, 1 << 30, 8, "", ""));
  print(after, 9, 10);
  EXPECT_EQ(after.first_after(5), 9U);
  expect_lines(after.since(8), 9, 10);
  const auto size = std::filesystem::file_size(path);
  print(after, 11, 11);
  EXPECT_EQ(std::filesystem::file_size(path), size);
}

TEST(LogStore, GivenNoFile_WhenResumedWithTheLinesAnEarlierRingHeld_ThenTheyAreServedAndSeqsGoOn) {
  LogStore before(1 << 20, nullptr);
  print(before, 1, 50);
  LogBudget budget;
  LogStore after(1 << 20, &budget);
  after.resume_memory(before.last_seq(), "", "");
  after.restore_ring(before.ring_lines());
  EXPECT_GT(budget.bytes, 0U) << "restored lines count against the daemon's budget";
  print(after, 51, 60);
  expect_lines(after.since(0), 1, 60);
  // A ring too small for them keeps the newest.
  LogStore small(2048, nullptr);
  small.resume_memory(50, "", "");
  small.restore_ring(before.ring_lines());
  auto kept = small.since(0);
  ASSERT_FALSE(kept.empty());
  EXPECT_EQ(kept.back().seq, 50U);
  EXPECT_LT(kept.size(), 50U);
}
