#include "support/proc_probe.hpp"

#include <dirent.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace paddock::test {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    out.push_back(static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10)));
  }
  ::closedir(d);
  return out;
}

}  // namespace

std::optional<long> proc_status_kb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string prefix = field + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream v(line.substr(prefix.size()));
    long kb = 0;
    if (v >> kb) return kb;
  }
  return std::nullopt;
}

int count_fds(pid_t pid) {
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

std::optional<ProcInfo> proc_info(pid_t pid) {
  const std::string base = "/proc/" + std::to_string(pid);
  const std::string stat = slurp(base + "/stat");
  const auto open = stat.find('(');
  const auto close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 4 > stat.size()) {
    return std::nullopt;
  }
  ProcInfo p;
  p.pid = pid;
  p.comm = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 2));
  long ppid = 0;
  rest >> p.state >> ppid;
  p.ppid = static_cast<pid_t>(ppid);
  std::ifstream st(base + "/status");
  std::string line;
  bool have_uid = false;
  while (std::getline(st, line)) {
    if (line.rfind("Uid:", 0) == 0) {
      std::istringstream v(line.substr(4));
      long uid = -1;
      if (v >> uid) {
        p.uid = static_cast<uid_t>(uid);
        have_uid = true;
      }
      break;
    }
  }
  if (!have_uid) return std::nullopt;
  return p;
}

std::vector<ProcInfo> children_of(pid_t pid) {
  std::vector<ProcInfo> out;
  for (pid_t p : all_pids()) {
    auto info = proc_info(p);
    if (info && info->ppid == pid) out.push_back(*info);
  }
  return out;
}

std::vector<ProcInfo> processes_with_uids(uid_t first, uid_t last) {
  std::vector<ProcInfo> out;
  for (pid_t p : all_pids()) {
    auto info = proc_info(p);
    if (info && info->uid >= first && info->uid <= last) out.push_back(*info);
  }
  return out;
}

std::vector<ProcInfo> not_zombies(const std::vector<ProcInfo>& procs) {
  std::vector<ProcInfo> out;
  for (const auto& p : procs) {
    if (p.state != 'Z' && p.state != 'X') out.push_back(p);
  }
  return out;
}

std::string describe(const std::vector<ProcInfo>& procs) {
  std::ostringstream out;
  for (const auto& p : procs) {
    out << p.pid << "(" << p.comm << ") " << p.state << " uid " << p.uid << " ppid " << p.ppid
        << "\n";
  }
  return out.str();
}

std::optional<double> metric_value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() <= series.size() || line.compare(0, series.size(), series) != 0 ||
        line[series.size()] != ' ') {
      continue;
    }
    try {
      return std::stod(line.substr(series.size() + 1));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace paddock::test
