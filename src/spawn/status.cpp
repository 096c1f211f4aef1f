#include "paddock/spawn/status.hpp"

#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <nlohmann/json.hpp>

#include "paddock/util/fd.hpp"
#include "pid_list.hpp"

namespace paddock::spawn {

namespace {

using Clock = std::chrono::steady_clock;

/// The innermost pid of the NSpid line of /proc/<pid>/status, or -1.
long innermost_nspid(pid_t pid) {
  const std::string status = util::read_small_file("/proc/" + std::to_string(pid) + "/status");
  const auto at = status.find("NSpid:");
  if (at == std::string::npos) return -1;
  const auto eol = status.find('\n', at);
  const std::string line = status.substr(at + 6, eol == std::string::npos ? eol : eol - at - 6);
  const auto last = line.find_last_not_of(" \t");
  if (last == std::string::npos) return -1;
  const auto first = line.find_last_of(" \t", last);
  long value = -1;
  const char* b = line.data() + (first == std::string::npos ? 0 : first + 1);
  std::from_chars(b, line.data() + last + 1, value);
  return value;
}

void nap(std::chrono::microseconds us) {
  timespec ts{0, static_cast<long>(us.count()) * 1000};
  ::nanosleep(&ts, nullptr);
}

}  // namespace

Result<std::vector<StatusEvent>> StatusParser::feed(std::string_view bytes) {
  buffer_.append(bytes);
  std::vector<StatusEvent> events;
  std::size_t start = 0;
  for (;;) {
    const auto eol = buffer_.find('\n', start);
    if (eol == std::string::npos) break;
    const std::string_view line(buffer_.data() + start, eol - start);
    start = eol + 1;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const auto doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      buffer_.erase(0, start);
      return make_error("bad_status", "bwrap's status stream holds a malformed document: " +
                                          std::string(line.substr(0, 200)));
    }
    StatusEvent ev;
    if (auto it = doc.find("child-pid"); it != doc.end() && it->is_number_integer()) {
      ev.child_pid = it->get<pid_t>();
    }
    if (auto it = doc.find("exit-code"); it != doc.end() && it->is_number_integer()) {
      ev.exit_code = it->get<int>();
    }
    events.push_back(ev);
  }
  buffer_.erase(0, start);
  return events;
}

Result<pid_t> find_workload_pid(pid_t init_pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string children =
      "/proc/" + std::to_string(init_pid) + "/task/" + std::to_string(init_pid) + "/children";
  auto delay = std::chrono::microseconds(50);
  for (;;) {
    const std::string list = util::read_small_file(children);
    if (list.empty() && ::access(children.c_str(), F_OK) != 0) {
      return make_error("exited", "the sandbox (pid " + std::to_string(init_pid) +
                                      ") ended before its workload could be found");
    }
    for (pid_t candidate : detail::parse_pid_list(list)) {
      if (innermost_nspid(candidate) == 2) return candidate;
    }
    if (Clock::now() >= deadline) {
      return make_error("timeout", "the workload of sandbox pid " + std::to_string(init_pid) +
                                       " did not start within " + std::to_string(timeout.count()) +
                                       " ms");
    }
    nap(delay);
    if (delay < std::chrono::microseconds(2000)) delay *= 2;
  }
}

Result<pid_t> read_workload_pid(int status_fd, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  StatusParser parser;
  // One byte at a time: the stream must stay positioned just after the child-pid document so
  // that whoever reads it next still gets the exit code.
  char buf[1];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left < 0) {
      return make_error("timeout", "bwrap did not report its child pid within " +
                                       std::to_string(timeout.count()) + " ms");
    }
    pollfd p{status_fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return util::errno_error("poll(status fd)", errno);
    }
    if (ready == 0) continue;
    const ssize_t n = ::read(status_fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return util::errno_error("read(status fd)", errno);
    }
    if (n == 0) {
      return make_error("exited", "bwrap exited before starting the sandbox (see its stderr)");
    }
    auto events = parser.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!events) return events.error();
    for (const auto& ev : *events) {
      if (ev.child_pid) {
        const auto remaining =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        return find_workload_pid(*ev.child_pid, std::max(remaining, std::chrono::milliseconds(0)));
      }
    }
  }
}

}  // namespace paddock::spawn
