#include "paddock/supervisor/log_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

#include "paddock/log/log.hpp"

namespace paddock::supervisor {

namespace {

/// File bytes between two checkpoints: a read from the file scans at most this much before
/// its first line.
constexpr std::uint64_t kCheckpointBytes = 64 * 1024;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

LogStore::LogStore(std::size_t ring_bytes, LogBudget* budget)
    : budget_(budget), ring_(ring_bytes, [this](const LogLine& l) { return write(l); }) {}

LogStore::~LogStore() {
  close_file();
  if (budget_ != nullptr) budget_->bytes -= ring_.bytes();
}

Result<void> LogStore::open_file(const std::string& path, std::uint64_t max_bytes) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) return make_error("internal", std::strerror(errno));
  file_ = ::fdopen(fd, "a");
  if (file_ == nullptr) {
    ::close(fd);
    return make_error("internal", std::strerror(errno));
  }
  path_ = path;
  file_max_ = max_bytes;
  return {};
}

Result<std::uint64_t> LogStore::resume_file(const std::string& path, std::uint64_t max_bytes,
                                            std::uint64_t last_seq, std::string partial_out,
                                            std::string partial_err) {
  if (file_ != nullptr || ring_.last_seq() != 0) {
    return make_error("internal", "the log store already holds lines");
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (fd < 0) return make_error("internal", std::strerror(errno));
  file_ = ::fdopen(fd, "a+");
  if (file_ == nullptr) {
    ::close(fd);
    return make_error("internal", std::strerror(errno));
  }
  path_ = path;
  file_max_ = max_bytes;
  // Count the lines and place checkpoints as write() would have; a torn last line (no newline)
  // is cut off so the next line starts on its own.
  std::uint64_t lines = 0;
  std::uint64_t offset = 0;
  std::uint64_t last_good = 0;
  {
    std::unique_ptr<std::FILE, FileCloser> in(::fopen(path.c_str(), "re"));
    char* buf = nullptr;
    std::size_t cap = 0;
    ssize_t n = 0;
    while (in && (n = ::getline(&buf, &cap, in.get())) > 0) {
      if (buf[n - 1] != '\n') break;
      ++lines;
      if (checkpoints_.empty() || offset - checkpoints_.back().second >= kCheckpointBytes) {
        checkpoints_.emplace_back(lines, offset);
      }
      offset += static_cast<std::uint64_t>(n);
      last_good = offset;
    }
    std::free(buf);
  }
  if (::ftruncate(fd, static_cast<off_t>(last_good)) != 0) {
    log::warn("cannot cut a torn line off a worker log file", {{"path", path}});
  }
  file_bytes_ = last_good;
  ring_.resume(last_seq, lines, std::move(partial_out), std::move(partial_err));
  // The file's line numbers are seq numbers: once lines are missing from it (it was full, or a
  // write failed), nothing more may be appended.
  if (last_seq > lines) close_file();
  return lines;
}

void LogStore::resume_memory(std::uint64_t last_seq, std::string partial_out,
                             std::string partial_err) {
  ring_.resume(last_seq, 0, std::move(partial_out), std::move(partial_err));
}

void LogStore::restore_ring(std::vector<LogLine> lines) {
  const auto before = ring_.bytes();
  ring_.restore(std::move(lines));
  account(before);
}

std::vector<LogLine> LogStore::ring_lines() const {
  return std::vector<LogLine>(ring_.held().begin(), ring_.held().end());
}

void LogStore::close_file() {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
}

bool LogStore::write(const LogLine& l) {
  if (file_ == nullptr) return false;
  const std::string head = format_time(l.at) + (l.stream == Stream::Stdout ? " out " : " err ");
  const std::uint64_t need = head.size() + l.text.size() + 1;
  if (file_bytes_ + need > file_max_) {
    // Full: the file holds a gap-free prefix of the output, so nothing more goes in.
    close_file();
    return false;
  }
  if (std::fwrite(head.data(), 1, head.size(), file_) != head.size() ||
      std::fwrite(l.text.data(), 1, l.text.size(), file_) != l.text.size() ||
      std::fputc('\n', file_) == EOF) {
    log::warn("worker log file write failed; output stays in memory only",
              {{"path", path_}, {"error", std::strerror(errno)}});
    close_file();
    return false;
  }
  if (checkpoints_.empty() || file_bytes_ - checkpoints_.back().second >= kCheckpointBytes) {
    checkpoints_.emplace_back(l.seq, file_bytes_);
  }
  file_bytes_ += need;
  return true;
}

void LogStore::account(std::size_t before) {
  if (budget_ != nullptr) budget_->bytes = budget_->bytes - before + ring_.bytes();
}

std::vector<LogLine> LogStore::append(Stream stream, WallTime at, std::string_view bytes) {
  const auto before = ring_.bytes();
  auto lines = ring_.append(stream, at, bytes);
  if (file_ != nullptr && !lines.empty()) std::fflush(file_);
  account(before);
  return lines;
}

std::vector<LogLine> LogStore::flush(WallTime at) {
  const auto before = ring_.bytes();
  auto lines = ring_.flush(at);
  if (file_ != nullptr && !lines.empty()) std::fflush(file_);
  account(before);
  return lines;
}

std::size_t LogStore::evict_to(std::size_t keep) {
  const auto before = ring_.bytes();
  const auto freed = ring_.evict_to(keep);
  account(before);
  return freed;
}

std::uint64_t LogStore::first_after(std::uint64_t after) const {
  if (after < ring_.kept_through() && !checkpoints_.empty()) return after + 1;  // in the file
  return std::max(after + 1, ring_.first_seq());
}

template <class F>
void LogStore::read_file(std::size_t cp, std::uint64_t end, F&& take) const {
  if (cp >= checkpoints_.size()) return;
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  std::unique_ptr<std::FILE, FileCloser> f(::fdopen(fd, "r"));
  if (!f) {
    ::close(fd);
    return;
  }
  if (::fseeko(f.get(), static_cast<off_t>(checkpoints_[cp].second), SEEK_SET) != 0) return;
  std::uint64_t seq = checkpoints_[cp].first;
  char* buf = nullptr;
  std::size_t cap = 0;
  while (seq < end) {
    const ssize_t n = ::getline(&buf, &cap, f.get());
    if (n <= 0) break;
    std::string_view text(buf, static_cast<std::size_t>(n));
    if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    // "<time> <out|err> <text>"
    if (text.size() < 29 || text[24] != ' ' || text[28] != ' ') break;
    const auto at = parse_time(text.substr(0, 24));
    const auto kind = text.substr(25, 3);
    if (!at || (kind != "out" && kind != "err")) break;
    LogLine l{seq++, kind == "out" ? Stream::Stdout : Stream::Stderr, *at,
              std::string(text.substr(29))};
    if (!take(std::move(l))) break;
  }
  std::free(buf);
}

std::vector<LogLine> LogStore::since(std::uint64_t after, std::optional<Stream> stream,
                                     std::size_t max_bytes) const {
  // Lines after `after` that only the file still has: (after, ring's first seq), as far as the
  // file has them.
  const std::uint64_t in_ring = ring_.first_seq();
  const std::uint64_t file_end = std::min(in_ring, ring_.kept_through() + 1);
  std::vector<LogLine> out;
  std::size_t bytes = 0;
  bool full = false;
  if (after + 1 < file_end && !checkpoints_.empty()) {
    // The last checkpoint at or before the first line wanted.
    auto it = std::upper_bound(checkpoints_.begin(), checkpoints_.end(), after + 1,
                               [](std::uint64_t seq, const auto& cp) { return seq < cp.first; });
    const std::size_t cp =
        it == checkpoints_.begin() ? 0 : std::size_t(it - checkpoints_.begin()) - 1;
    read_file(cp, file_end, [&](LogLine&& l) {
      if (l.seq <= after || (stream && l.stream != *stream)) return true;
      if (!out.empty() && bytes + l.text.size() > max_bytes) {
        full = true;
        return false;
      }
      bytes += l.text.size();
      out.push_back(std::move(l));
      return true;
    });
    if (full) return out;
    // A gap between the file and the ring ends this answer; the next one starts after it.
    if (!out.empty() && file_end < in_ring) return out;
  }
  const std::uint64_t from = out.empty() ? after : std::max(after, file_end - 1);
  if (!out.empty() && bytes > 0 && max_bytes <= bytes) {
    // Budget spent exactly: more is asked for by the next call.
    return out;
  }
  auto rest = ring_.since(from, stream, out.empty() ? max_bytes : max_bytes - bytes);
  if (!out.empty() && !rest.empty() && bytes + rest.front().text.size() > max_bytes) return out;
  out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
  return out;
}

std::vector<LogLine> LogStore::tail(std::size_t n, std::optional<Stream> stream) const {
  auto out = ring_.tail(n, stream);
  const std::uint64_t file_end = std::min(ring_.first_seq(), ring_.kept_through() + 1);
  // Older lines from the file, checkpoint segment by segment from the newest, while the ring
  // had fewer than `n` (and the file reaches up to the ring, with no gap between them).
  if (out.size() >= n || checkpoints_.empty() || file_end != ring_.first_seq()) return out;
  std::uint64_t end = file_end;
  for (std::size_t cp = checkpoints_.size(); cp-- > 0 && out.size() < n && end > 1;) {
    if (checkpoints_[cp].first >= end) continue;
    std::vector<LogLine> segment;
    read_file(cp, end, [&](LogLine&& l) {
      if (!stream || l.stream == *stream) segment.push_back(std::move(l));
      return true;
    });
    const std::size_t want = n - out.size();
    const std::size_t skip = segment.size() > want ? segment.size() - want : 0;
    out.insert(out.begin(), std::make_move_iterator(segment.begin() + std::ptrdiff_t(skip)),
               std::make_move_iterator(segment.end()));
    end = checkpoints_[cp].first;
  }
  return out;
}

std::size_t trim_level(std::vector<std::size_t> sizes, std::size_t need) {
  std::sort(sizes.begin(), sizes.end(), std::greater<>());
  std::size_t sum = 0;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    sum += sizes[k];
    const std::size_t next = k + 1 < sizes.size() ? sizes[k + 1] : 0;
    const std::size_t count = k + 1;
    // Trimming the k+1 largest to `next` frees sum - count * next.
    if (sum - count * next >= need) return (sum - need) / count;
  }
  return 0;
}

}  // namespace paddock::supervisor
