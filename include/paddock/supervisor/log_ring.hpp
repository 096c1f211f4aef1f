#pragma once
/// Per-worker output: a bounded ring of lines (stream, time, text). When full, the oldest lines
/// are dropped and counted, so a worker that floods its output cannot grow the daemon's memory.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/supervisor/state.hpp"

namespace paddock::supervisor {

enum class Stream { Stdout, Stderr };
std::string_view to_string(Stream s);
std::optional<Stream> parse_stream(std::string_view s);

struct LogLine {
  std::uint64_t seq = 0;  ///< increasing per worker, never reused
  Stream stream = Stream::Stdout;
  WallTime at;
  std::string text;  ///< without the trailing newline
};

class LogRing {
 public:
  /// Lines longer than this are split.
  static constexpr std::size_t kMaxLine = 16 * 1024;
  /// Bytes a line costs beyond its text (bookkeeping), counted against the budget.
  static constexpr std::size_t kLineOverhead = 64;

  explicit LogRing(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  /// Adds raw output; complete lines enter the ring, a trailing partial line waits for more.
  /// Returns the lines completed by this call (for followers and log files).
  std::vector<LogLine> append(Stream stream, WallTime at, std::string_view bytes);
  /// Turns pending partial lines into lines (at exit).
  std::vector<LogLine> flush(WallTime at);

  /// The last `n` lines (of one stream, when given), oldest first.
  std::vector<LogLine> tail(std::size_t n, std::optional<Stream> stream = std::nullopt) const;
  /// Lines with seq > `after`, oldest first, stopping before the text of the lines taken
  /// would pass `max_bytes` (at least one line is taken when there is one).
  std::vector<LogLine> since(std::uint64_t after, std::optional<Stream> stream = std::nullopt,
                             std::size_t max_bytes = static_cast<std::size_t>(-1)) const;
  /// The seq of the oldest line held (last_seq() + 1 when the ring is empty).
  std::uint64_t first_seq() const { return lines_.empty() ? next_seq_ : lines_.front().seq; }

  std::uint64_t dropped_bytes() const { return dropped_bytes_; }
  std::uint64_t dropped_lines() const { return dropped_lines_; }
  std::size_t bytes() const { return bytes_; }
  std::uint64_t last_seq() const { return next_seq_ - 1; }

 private:
  void push(Stream stream, WallTime at, std::string text, std::vector<LogLine>& out);
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::deque<LogLine> lines_;
  std::string partial_[2];
  std::uint64_t next_seq_ = 1;
  std::uint64_t dropped_bytes_ = 0;
  std::uint64_t dropped_lines_ = 0;
};

}  // namespace paddock::supervisor
