#include "paddock/supervisor/log_ring.hpp"

#include <algorithm>

namespace paddock::supervisor {

std::string_view to_string(Stream s) { return s == Stream::Stdout ? "stdout" : "stderr"; }

std::optional<Stream> parse_stream(std::string_view s) {
  if (s == "stdout") return Stream::Stdout;
  if (s == "stderr") return Stream::Stderr;
  return std::nullopt;
}

std::size_t LogRing::line_cost(const LogLine& l) {
  // Text past the small-string buffer lives in a malloc block: size + NUL + 8 bytes of header,
  // rounded up to 16. The deque stores records in 512-byte blocks (8 bytes of map per block,
  // ignored).
  const std::size_t heap = l.text.capacity() > 15 ? (l.text.capacity() + 1 + 8 + 15) / 16 * 16 : 0;
  return sizeof(LogLine) + heap;
}

void LogRing::pop_oldest() {
  const LogLine& l = lines_.front();
  bytes_ -= line_cost(l);
  if (l.seq > kept_through_) {
    dropped_bytes_ += l.text.size();
    ++dropped_lines_;
  }
  lines_.pop_front();
}

void LogRing::push(Stream stream, WallTime at, std::string text, std::vector<LogLine>& out) {
  // The ring holds a copy sized to the text (a line built by appends has spare capacity).
  LogLine line{next_seq_++, stream, at, std::string(text)};
  if (writer_ && writer_(line) && kept_through_ + 1 == line.seq) kept_through_ = line.seq;
  out.push_back({line.seq, stream, at, std::move(text)});
  const std::size_t cost = line_cost(line);
  if (cost > max_bytes_) {  // a single line larger than the whole ring is not held
    if (line.seq > kept_through_) {
      dropped_bytes_ += line.text.size();
      ++dropped_lines_;
    }
    return;
  }
  while (bytes_ + cost > max_bytes_ && !lines_.empty()) pop_oldest();
  bytes_ += cost;
  lines_.push_back(std::move(line));
}

std::size_t LogRing::evict_to(std::size_t keep) {
  const std::size_t before = bytes_;
  while (bytes_ > keep && !lines_.empty()) pop_oldest();
  return before - bytes_;
}

std::vector<LogLine> LogRing::append(Stream stream, WallTime at, std::string_view bytes) {
  std::vector<LogLine> out;
  std::string& partial = partial_[static_cast<int>(stream)];
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, nl);
    const std::size_t room = kMaxLine - partial.size();
    if (piece.size() >= room) {
      // Too long for one line: cut at kMaxLine and keep going with the rest.
      partial.append(piece.substr(0, room));
      push(stream, at, std::move(partial), out);
      partial.clear();
      bytes.remove_prefix(room);
      if (nl == room) bytes.remove_prefix(1);  // the newline ended exactly at the cut
      continue;
    }
    partial.append(piece);
    if (nl == std::string_view::npos) break;
    push(stream, at, std::move(partial), out);
    partial.clear();
    bytes.remove_prefix(nl + 1);
  }
  return out;
}

void LogRing::resume(std::uint64_t last, std::uint64_t kept, std::string partial_out,
                     std::string partial_err) {
  if (!lines_.empty() || next_seq_ != 1) return;
  next_seq_ = std::max(last, kept) + 1;
  kept_through_ = kept;
  if (last > kept) dropped_lines_ += last - kept;
  partial_[0] = std::move(partial_out);
  partial_[1] = std::move(partial_err);
  for (auto& p : partial_) {
    if (p.size() > kMaxLine) p.resize(kMaxLine);
  }
}

void LogRing::restore(std::vector<LogLine> lines) {
  if (!lines_.empty()) return;
  std::size_t from = lines.size();
  std::size_t total = 0;
  while (from > 0) {
    const std::size_t cost = line_cost(lines[from - 1]);
    if (total + cost > max_bytes_) break;
    total += cost;
    --from;
  }
  for (std::size_t i = from; i < lines.size(); ++i) {
    if (lines[i].seq >= next_seq_ || (!lines_.empty() && lines[i].seq <= lines_.back().seq)) {
      continue;  // out of order or beyond what resume() said: not this ring's
    }
    bytes_ += line_cost(lines[i]);
    lines_.push_back(std::move(lines[i]));
  }
}

std::vector<LogLine> LogRing::flush(WallTime at) {
  std::vector<LogLine> out;
  for (Stream s : {Stream::Stdout, Stream::Stderr}) {
    std::string& partial = partial_[static_cast<int>(s)];
    if (!partial.empty()) {
      push(s, at, std::move(partial), out);
      partial.clear();
    }
  }
  return out;
}

std::vector<LogLine> LogRing::tail(std::size_t n, std::optional<Stream> stream) const {
  std::vector<LogLine> out;
  for (auto it = lines_.rbegin(); it != lines_.rend() && out.size() < n; ++it) {
    if (!stream || it->stream == *stream) out.push_back(*it);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<LogLine> LogRing::since(std::uint64_t after, std::optional<Stream> stream,
                                    std::size_t max_bytes) const {
  std::vector<LogLine> out;
  // Lines are in seq order: skip to the first one after `after` without a scan.
  auto it = lines_.begin();
  if (!lines_.empty() && after >= lines_.front().seq) {
    it += static_cast<std::ptrdiff_t>(
        std::min<std::uint64_t>(after - lines_.front().seq + 1, lines_.size()));
  }
  std::size_t bytes = 0;
  for (; it != lines_.end(); ++it) {
    if (it->seq <= after || (stream && it->stream != *stream)) continue;
    if (!out.empty() && bytes + it->text.size() > max_bytes) break;
    bytes += it->text.size();
    out.push_back(*it);
  }
  return out;
}

}  // namespace paddock::supervisor
