#pragma once
/// A worker's output: its in-memory LogRing and, when [log] worker_log_dir is set, its log file,
/// which has every line (up to worker_log_max_bytes) in seq order. Lines the ring no longer holds
/// are read back from the file, so a ring trimmed to keep the daemon's memory bounded loses
/// nothing a client can ask for while the file has it.
///
/// File format, one line per output line: `<RFC 3339 time> <out|err> <text>\n`.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "paddock/supervisor/log_ring.hpp"
#include "paddock/util/result.hpp"

namespace paddock::supervisor {

/// Memory held by the rings of every LogStore that shares it (the daemon-wide total).
struct LogBudget {
  std::size_t bytes = 0;
};

class LogStore {
 public:
  /// `budget` (may be null) is kept up to date with bytes() and must outlive the store.
  LogStore(std::size_t ring_bytes, LogBudget* budget);
  ~LogStore();
  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  /// Creates `path` (it must not exist) and writes every line from now on to it, until it
  /// would pass `max_bytes`. Error: the reason the file could not be created.
  Result<void> open_file(const std::string& path, std::uint64_t max_bytes);
  /// Takes over the file an earlier daemon wrote for this worker (an upgrade): counts its lines
  /// (they keep their seq numbers, 1 to N, and are read back from the file), goes on at seq
  /// `last_seq` + 1 (lines after N that the file did not take are lost), appends to the file,
  /// and puts `partial_out`/`partial_err` back as the lines waiting for their newline. Returns N.
  /// Only on a store that holds nothing yet. A missing file starts at 0.
  Result<std::uint64_t> resume_file(const std::string& path, std::uint64_t max_bytes,
                                    std::uint64_t last_seq, std::string partial_out,
                                    std::string partial_err);
  /// Without a file: goes on at seq `last_seq` + 1 with the partial lines.
  void resume_memory(std::uint64_t last_seq, std::string partial_out, std::string partial_err);
  /// After resume_file() or resume_memory(): the lines the earlier daemon's ring held.
  void restore_ring(std::vector<LogLine> lines);
  /// The lines held in memory, oldest first.
  std::vector<LogLine> ring_lines() const;
  /// The partial line of `stream` waiting for its newline.
  const std::string& partial(Stream stream) const { return ring_.partial(stream); }
  /// Stops writing the file (at exit); what it holds is still read back.
  void close_file();

  /// As LogRing::append / flush; complete lines also go to the file.
  std::vector<LogLine> append(Stream stream, WallTime at, std::string_view bytes);
  std::vector<LogLine> flush(WallTime at);

  /// The last `n` lines (of one stream, when given), oldest first, from memory and the file.
  std::vector<LogLine> tail(std::size_t n, std::optional<Stream> stream = std::nullopt) const;
  /// Lines with seq > `after`, oldest first, with consecutive seqs from the first one that is
  /// still held (in memory or the file), stopping at a gap or before the text taken would pass
  /// `max_bytes` (at least one line is taken when there is one).
  std::vector<LogLine> since(std::uint64_t after, std::optional<Stream> stream = std::nullopt,
                             std::size_t max_bytes = static_cast<std::size_t>(-1)) const;
  /// The seq of the first line after `after` still held in memory or the file (last_seq() + 1
  /// when none is): lines between are lost.
  std::uint64_t first_after(std::uint64_t after) const;
  std::uint64_t last_seq() const { return ring_.last_seq(); }
  /// Text bytes of lines that are neither in memory nor in the file.
  std::uint64_t dropped_bytes() const { return ring_.dropped_bytes(); }
  /// Memory the ring holds (see LogRing::line_cost).
  std::size_t bytes() const { return ring_.bytes(); }
  /// Trims the ring to at most `keep` bytes (its oldest lines); returns the bytes freed.
  std::size_t evict_to(std::size_t keep);
  /// Bytes written to the file.
  std::uint64_t file_bytes() const { return file_bytes_; }

 private:
  bool write(const LogLine& l);
  /// Reads lines from the file, from checkpoint `cp` on, while seq < `end`; `take` returns
  /// false to stop.
  template <class F>
  void read_file(std::size_t cp, std::uint64_t end, F&& take) const;
  void account(std::size_t before);

  LogBudget* budget_;
  LogRing ring_;
  std::string path_;
  std::FILE* file_ = nullptr;
  std::uint64_t file_max_ = 0;
  std::uint64_t file_bytes_ = 0;
  /// (seq, offset) of a line every kCheckpointBytes of file, so a read starts near its lines.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> checkpoints_;
};

/// The level T that trimming every ring to at most T bytes must reach to free `need` bytes from
/// rings of the given sizes, largest first (the highest such T; 0 when even that is not enough).
std::size_t trim_level(std::vector<std::size_t> sizes, std::size_t need);

}  // namespace paddock::supervisor
