#include "bench_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "paddock/config/loader.hpp"
#include "paddock/sandbox/profile.hpp"
#include "paddock/spawn/spawn.hpp"
#include "support/proc_probe.hpp"

namespace paddock::bench {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

Summary summarize(std::vector<double> samples) {
  Summary s;
  s.n = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const auto rank = [&](double p) {
    const auto idx = static_cast<std::size_t>(std::ceil(p * static_cast<double>(s.n))) - 1;
    return samples[std::min(idx, s.n - 1)];
  };
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = rank(0.50);
  s.p90 = rank(0.90);
  s.p99 = rank(0.99);
  double sum = 0;
  for (double v : samples) sum += v;
  s.mean = sum / static_cast<double>(s.n);
  return s;
}

Args::Args(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument " + a);
    const auto eq = a.find('=');
    values_[a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)] =
        eq == std::string::npos ? "" : a.substr(eq + 1);
  }
}

long Args::integer(const std::string& name, long fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : std::stol(it->second);
}

std::string Args::text(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

void result(const std::string& key, double value, const std::string& unit,
            const std::string& target) {
  std::ostringstream line;
  line.setf(std::ios::fixed);
  line.precision(value >= 100 ? 0 : (value >= 10 ? 1 : 3));
  line << "RESULT " << key << " " << value << " " << unit;
  if (!target.empty()) {
    bool met = false;
    if (target.rfind("<=", 0) == 0) met = value <= std::stod(target.substr(2));
    if (target.rfind(">=", 0) == 0) met = value >= std::stod(target.substr(2));
    line << " " << target << " " << (met ? "ok" : "MISS");
  }
  std::cout << line.str() << std::endl;
}

// --- KeepAliveClient -------------------------------------------------------------------------

namespace {

bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

bool KeepAliveClient::exchange(const std::string& req, Reply& out) {
  if (!fd_) {
    util::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return false;
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{120, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    fd_ = std::move(fd);
    buf_.clear();
  }
  if (!write_all(fd_.get(), req)) {
    fd_.reset();
    return false;
  }
  char chunk[65536];
  std::size_t header_end = std::string::npos;
  while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fd_.reset();
      return false;
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
  }
  const std::string head = buf_.substr(0, header_end);
  out.status = static_cast<unsigned>(std::atoi(head.c_str() + head.find(' ') + 1));
  std::size_t length = 0;
  bool close = false;
  bool chunked = false;
  std::istringstream lines(head);
  std::string line;
  while (std::getline(lines, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string name = lower(line.substr(0, colon));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == ' ')) value.pop_back();
    if (name == "content-length") length = std::stoul(value);
    if (name == "connection" && lower(value) == "close") close = true;
    if (name == "transfer-encoding" && lower(value) == "chunked") chunked = true;
  }
  buf_.erase(0, header_end + 4);
  const auto fill = [&](std::size_t want) {
    while (buf_.size() < want) {
      const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
    return true;
  };
  const auto fill_line = [&](std::size_t* eol) {
    while ((*eol = buf_.find("\r\n")) == std::string::npos) {
      if (!fill(buf_.size() + 1)) return false;
    }
    return true;
  };
  out.body.clear();
  if (chunked) {
    // Streamed answers (POST /v1/runs sends its status line when the run starts).
    for (;;) {
      std::size_t eol = 0;
      if (!fill_line(&eol)) {
        fd_.reset();
        return false;
      }
      const std::size_t size = std::stoul(buf_.substr(0, eol), nullptr, 16);
      buf_.erase(0, eol + 2);
      if (!fill(size + 2)) {
        fd_.reset();
        return false;
      }
      out.body.append(buf_, 0, size);
      buf_.erase(0, size + 2);
      if (size == 0) break;  // the last chunk; no trailers are sent
    }
  } else {
    if (!fill(length)) {
      fd_.reset();
      return false;
    }
    out.body = buf_.substr(0, length);
    buf_.erase(0, length);
  }
  if (close) fd_.reset();
  return true;
}

KeepAliveClient::Reply KeepAliveClient::request(const std::string& method,
                                                const std::string& target, const std::string& body,
                                                const std::string& token) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST") {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  Reply out;
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (exchange(req, out)) return out;
  }
  throw std::runtime_error("request " + method + " " + target + " failed: " + std::strerror(errno));
}

EventStream::EventStream(const test::TestDaemon& d) : conn_(test::RawConnection::tcp(d.port())) {
  conn_.send("GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + d.read_token() +
             "\r\n\r\n");
  buf_ = conn_.read_some(std::chrono::seconds(2));
  if (test::status_of(buf_) != 200) throw std::runtime_error("GET /v1/events: " + buf_);
  buf_.erase(0, buf_.find("\r\n\r\n") + 4);
}

void EventStream::wait(const std::string& id, const std::string& to,
                       std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    std::size_t pos;
    while ((pos = buf_.find('\n')) != std::string::npos) {
      const std::string line = buf_.substr(0, pos);
      buf_.erase(0, pos + 1);
      // Chunk-size lines and SSE fields other than data are skipped.
      const auto data = line.find("data: ");
      if (data == std::string::npos) continue;
      const auto e = nlohmann::json::parse(line.substr(data + 6), nullptr, false);
      if (e.is_object() && e.value("worker_id", "") == id && e.value("to", "") == to) return;
    }
    if (Clock::now() >= deadline) throw std::runtime_error("no '" + to + "' event for " + id);
    buf_ += conn_.read_some(std::chrono::milliseconds(200));
  }
}

test::TestDaemonOptions daemon_options(uid_t first, uid_t count, unsigned max_workers) {
  test::TestDaemonOptions o;
  o.set["process.worker_uid_range_start"] = std::to_string(first);
  o.set["process.worker_uid_range_end"] = std::to_string(first + count - 1);
  o.set["process.max_workers"] = std::to_string(max_workers);
  o.set["log.level"] = "\"info\"";
  if (const char* c = std::getenv("PADDOCK_BENCH_CGROUP"))
    o.set["process.cgroup"] = std::string("\"") + c + "\"";
  if (const char* n = std::getenv("PADDOCK_BENCH_NETWORK")) {
    // The default network of workers and of runs alike (the raw plans follow the former; the
    // bwrap argv is the same for "private" and "none").
    o.set["process.default_network"] = std::string("\"") + n + "\"";
    o.set["runs.default_network"] = std::string("\"") + n + "\"";
  }
  o.start_timeout = std::chrono::milliseconds(30000);
  return o;
}

// --- RawBwrap --------------------------------------------------------------------------------

Result<RawBwrap> RawBwrap::plan(const std::string& config_path, const std::string& worker_id,
                                uid_t uid, const std::vector<std::string>& command) {
  auto loaded =
      config::load_file(config_path, config::Environment{}, config::HostFacts::from_system());
  if (!loaded.ok()) {
    return make_error("invalid_config", loaded.errors.empty() ? "config does not load"
                                                              : loaded.errors[0].to_string());
  }
  const config::Config& cfg = *loaded.config;
  auto profile =
      sandbox::load_profile(cfg.process.sandbox_profiles_dir, cfg.process.default_profile);
  if (!profile) return profile.error();
  sandbox::WorkerSpec spec;
  spec.command = command;
  sandbox::Allocation alloc;
  alloc.worker_id = worker_id;
  alloc.uid = uid;
  auto plan = sandbox::make_plan(spec, *profile, cfg, alloc);
  if (!plan) return plan.error();
  if (auto r = spawn::prepare_data_dir(*plan); !r) return r.error();
  RawBwrap raw;
  raw.plan_ = std::move(*plan);
  std::ifstream in(cfg.process.seccomp_profile, std::ios::binary);
  raw.bpf_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (raw.bpf_.empty()) return make_error("io", "cannot read " + cfg.process.seccomp_profile);
  return raw;
}

util::UniqueFd high(int fd) {
  if (fd < 0) return {};
  util::UniqueFd moved(::fcntl(fd, F_DUPFD_CLOEXEC, 64));
  ::close(fd);
  return moved;
}

namespace {

/// A memfd holding `data` at offset 0 (bwrap reads it from the current offset).
util::UniqueFd data_fd(const std::string& data) {
  const int fd = ::memfd_create("bench", MFD_CLOEXEC);
  std::size_t done = 0;
  while (fd >= 0 && done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      ::close(fd);
      return {};
    }
    done += static_cast<std::size_t>(n);
  }
  if (fd >= 0) ::lseek(fd, 0, SEEK_SET);
  return high(fd);
}

}  // namespace

Result<pid_t> RawBwrap::start(util::UniqueFd* status) const {
  // Everything the child touches is made before fork.
  std::vector<util::UniqueFd> sources;
  std::vector<int> targets;
  for (const auto& f : plan_.fds) {
    switch (f.role) {
      case sandbox::FdRole::Seccomp:
        sources.push_back(data_fd(bpf_));
        break;
      case sandbox::FdRole::Data:
        sources.push_back(data_fd(f.data));
        break;
      case sandbox::FdRole::PathSource:
        sources.push_back(high(::open(f.data.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)));
        break;
      case sandbox::FdRole::WarmControl:  // raw spawns are cold: never planned with one
        return make_error("io", "a raw bwrap has no warm control socket");
      case sandbox::FdRole::Status: {
        if (status != nullptr) {
          int p[2];
          if (::pipe2(p, O_CLOEXEC) != 0) return make_error("io", "pipe2 failed");
          *status = util::UniqueFd(p[0]);
          sources.push_back(high(p[1]));
        } else {
          sources.push_back(high(::open("/dev/null", O_WRONLY | O_CLOEXEC)));
        }
        break;
      }
    }
    if (!sources.back()) return make_error("io", "cannot prepare fd " + std::to_string(f.target));
    targets.push_back(f.target);
  }
  util::UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  std::vector<char*> argv;
  // As the spawner runs it: options through --args (fd 7), the command on the command line.
  const auto& words = plan_.exec_argv.empty() ? plan_.argv : plan_.exec_argv;
  for (const auto& a : words) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : plan_.envp) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* path = plan_.bwrap_path.c_str();
  const uid_t uid = plan_.uid;
  const gid_t gid = plan_.gid;
  const auto& rlimits = plan_.rlimits;

  const pid_t pid = ::fork();
  if (pid < 0) return make_error("fork", std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(devnull.get(), 0);
    ::dup2(devnull.get(), 1);
    ::dup2(devnull.get(), 2);
    for (std::size_t i = 0; i < sources.size(); ++i) {
      if (::dup2(sources[i].get(), targets[i]) < 0) ::_exit(126);
    }
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0) {
      ::_exit(125);
    }
    for (const auto& r : rlimits) {
      rlimit rl{static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard)};
      if (::setrlimit(r.resource, &rl) != 0) ::_exit(124);
    }
    ::execve(path, argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

BaselineServer::BaselineServer(const std::string& blob_file) {
  port_ = test::free_loopback_port();
  std::string exe = PADDOCK_BENCH_HTTPD_PATH;
  std::string port_arg = "--port=" + std::to_string(port_);
  std::string blob_arg = "--blob=" + blob_file;
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    char* argv[] = {exe.data(), port_arg.data(), blob_file.empty() ? nullptr : blob_arg.data(),
                    nullptr};
    ::execv(argv[0], argv);
    ::_exit(127);
  }
  for (int i = 0; i < 300; ++i) {
    try {
      if (KeepAliveClient(port_).request("GET", "/healthz").status == 200) return;
    } catch (const std::exception&) {
      // not listening yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("paddock-bench-httpd did not start");
}

BaselineServer::~BaselineServer() {
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

void reap_exited_children() {
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

long rss_kib(pid_t pid) { return test::proc_status_kb(pid, "VmRSS").value_or(-1); }

std::string machine_description() {
  std::string cpu = "unknown CPU";
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  ::uname(&u);
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  return cpu + ", " + std::to_string(std::thread::hardware_concurrency()) + " cores, kernel " +
         u.release + ", " + date;
}

void read_to_eof(const std::vector<int>& fds) {
  std::vector<pollfd> p;
  for (int fd : fds) p.push_back({fd, POLLIN, 0});
  std::size_t open = p.size();
  char buf[4096];
  while (open > 0) {
    if (::poll(p.data(), p.size(), 10000) <= 0) throw std::runtime_error("output never ended");
    for (auto& x : p) {
      if (x.fd < 0 || x.revents == 0) continue;
      if (::read(x.fd, buf, sizeof buf) <= 0) {
        x.fd = -1;
        --open;
      }
    }
  }
}

double spawn_module_once(const RawBwrap& raw) {
  const auto t0 = Clock::now();
  spawn::SpawnInputs in;
  in.seccomp_bpf = raw.seccomp_bpf();
  auto s = spawn::spawn(raw.sandbox_plan(), std::move(in));
  if (!s) throw std::runtime_error("spawn::spawn: " + s.error().message);
  // Read stdout, stderr and the status stream to EOF, as the daemon does, then reap.
  read_to_eof({s->stdout_fd.get(), s->stderr_fd.get(), s->status_fd.get()});
  siginfo_t info{};
  ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(s->pidfd.get()), &info, WEXITED);
  const double ms = ms_since(t0);
  if (info.si_code != CLD_EXITED || info.si_status != 0) {
    throw std::runtime_error("spawner: bwrap status " + std::to_string(info.si_status));
  }
  return ms;
}

}  // namespace paddock::bench
