#pragma once
/// Per-worker output: a bounded ring of lines (stream, time, text). When full, the oldest lines
/// leave memory, so a worker that floods its output cannot grow the daemon's memory. A line the
/// ring's writer kept elsewhere (the worker's log file) is only evicted; any other is dropped
/// and counted.

#include <cstdint>
#include <deque>
#include <functional>
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
  /// Called with every complete line before the ring takes it; true when the line is kept
  /// elsewhere (so evicting it later loses nothing).
  using Writer = std::function<bool(const LogLine&)>;

  explicit LogRing(std::size_t max_bytes, Writer writer = {})
      : max_bytes_(max_bytes), writer_(std::move(writer)) {}

  /// What a held line costs in memory, counted against the ring's bytes: the record in the
  /// ring plus the heap block of its text (as glibc's malloc sizes it).
  static std::size_t line_cost(const LogLine& l);

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

  /// Text bytes and lines gone from memory that the writer had not kept.
  std::uint64_t dropped_bytes() const { return dropped_bytes_; }
  std::uint64_t dropped_lines() const { return dropped_lines_; }
  /// Lines with seq up to this one are kept by the writer (all of them, in order).
  std::uint64_t kept_through() const { return kept_through_; }
  /// Memory held, by line_cost().
  std::size_t bytes() const { return bytes_; }
  std::uint64_t last_seq() const { return next_seq_ - 1; }
  /// Removes the oldest lines until at most `keep` bytes are held; returns the bytes freed.
  std::size_t evict_to(std::size_t keep);
  /// The writer sees no more lines; lines it kept stay kept.
  void stop_writer() { writer_ = {}; }
  /// The output before this ring existed: `last` lines so far (the next one gets seq last + 1),
  /// of which the writer holds 1 to `kept`, and the partial lines that were waiting for their
  /// newline. Only on an empty ring (a worker handed over by an upgrade).
  void resume(std::uint64_t last, std::uint64_t kept, std::string partial_out,
              std::string partial_err);
  /// The partial line of `stream` waiting for its newline.
  const std::string& partial(Stream stream) const { return partial_[static_cast<int>(stream)]; }
  /// Every line held, oldest first.
  const std::deque<LogLine>& held() const { return lines_; }
  /// After resume(): takes back the lines an earlier ring held (with their seqs, oldest first,
  /// none after `last`), as many of the newest as fit.
  void restore(std::vector<LogLine> lines);

 private:
  void push(Stream stream, WallTime at, std::string text, std::vector<LogLine>& out);
  void pop_oldest();
  std::size_t max_bytes_;
  Writer writer_;
  std::uint64_t kept_through_ = 0;
  std::size_t bytes_ = 0;
  std::deque<LogLine> lines_;
  std::string partial_[2];
  std::uint64_t next_seq_ = 1;
  std::uint64_t dropped_bytes_ = 0;
  std::uint64_t dropped_lines_ = 0;
};

}  // namespace paddock::supervisor
