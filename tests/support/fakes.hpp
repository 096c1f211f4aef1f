#pragma once
// Fakes for unit tests of the supervisor: a hand-advanced clock, a recording ProcessOps, an
// empty process table, a port binder that always succeeds, profiles from a map.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "paddock/pool/port_pool.hpp"
#include "paddock/pool/process_table.hpp"
#include "paddock/sandbox/paths.hpp"
#include "paddock/supervisor/process_ops.hpp"
#include "paddock/supervisor/scheduler.hpp"
#include "paddock/supervisor/supervisor.hpp"

namespace paddock::fakes {

class FakeScheduler final : public supervisor::Scheduler {
 public:
  TimerId after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    const TimerId id = next_++;
    timers_.emplace(id, Timer{now_ + delay, std::move(fn)});
    return id;
  }
  void cancel(TimerId id) override { timers_.erase(id); }
  Mono now() const override { return now_; }
  supervisor::WallTime wall_now() const override {
    return supervisor::WallTime{} + std::chrono::hours(24 * 365 * 56) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(now_.time_since_epoch());
  }
  double random_unit() override { return 0.0; }

  /// Moves time forward, firing due timers in order (timers they add fire too when due).
  void advance(std::chrono::milliseconds by) {
    const Mono target = now_ + by;
    for (;;) {
      auto due = timers_.end();
      for (auto it = timers_.begin(); it != timers_.end(); ++it) {
        if (it->second.at <= target && (due == timers_.end() || it->second.at < due->second.at))
          due = it;
      }
      if (due == timers_.end()) break;
      now_ = std::max(now_, due->second.at);
      auto fn = std::move(due->second.fn);
      timers_.erase(due);
      fn();
    }
    now_ = target;
  }
  std::size_t pending() const { return timers_.size(); }

 private:
  struct Timer {
    Mono at;
    std::function<void()> fn;
  };
  Mono now_{std::chrono::hours(1000)};
  TimerId next_ = 1;
  std::map<TimerId, Timer> timers_;
};

class FakeProcessOps final : public supervisor::ProcessOps {
 public:
  struct Launch {
    supervisor::ProcId proc;
    pid_t pid;
    sandbox::SandboxPlan plan;
    std::optional<std::string> stdin_data;
    bool had_port_listener;
    bool run_workdir = false;
    std::vector<runfiles::InputFile> files;
    bool remove_data_at_end = false;
  };
  Result<std::pair<supervisor::ProcId, pid_t>> launch(supervisor::LaunchRequest request,
                                                      supervisor::ProcessSink& sink) override {
    if (fail_next_launch) {
      fail_next_launch = false;
      return make_error("spawn_failed", "execve(/usr/bin/bwrap): ENOENT");
    }
    sink_ = &sink;
    const auto proc = next_proc_++;
    const pid_t pid = next_pid_++;
    launches.push_back({proc, pid, request.plan, request.stdin_data, request.port_listener.valid(),
                        request.run_workdir, request.files, request.remove_data_at_end});
    live.insert(proc);
    return std::make_pair(proc, pid);
  }
  void signal_workload(supervisor::ProcId proc, int sig) override {
    signals.emplace_back(proc, sig);
  }
  void kill_tree(supervisor::ProcId proc) override { kills.push_back(proc); }
  void probe_port(std::uint16_t port, std::function<void(bool)> done) override {
    probes.push_back(port);
    done(port_open);
  }
  bool port_has_connections(std::uint16_t) override { return connections; }
  std::optional<cgroup::Controllers> cgroup_of(supervisor::ProcId) const override { return cgroup; }
  void remove_data_dir(const std::string& path) override { removed_data_dirs.push_back(path); }
  std::vector<std::string> removed_data_dirs;  ///< every remove_data_dir() call, in order
  /// Collect requests are held until the test answers them (answer_collect).
  void collect(supervisor::CollectRequest request,
               std::function<void(std::vector<runfiles::Collected>)> done) override {
    collects.emplace_back(std::move(request), std::move(done));
  }
  void answer_collect(std::size_t index, std::vector<runfiles::Collected> files) {
    auto done = std::move(collects.at(index).second);
    done(std::move(files));
  }
  std::vector<
      std::pair<supervisor::CollectRequest, std::function<void(std::vector<runfiles::Collected>)>>>
      collects;
  std::optional<cgroup::Usage> usage(supervisor::ProcId proc) const override {
    return live.count(proc) != 0 ? usage_now : std::nullopt;
  }

  // Drive events as the real implementation would.
  void start(std::size_t launch_index, pid_t workload = 0) {
    const auto& l = launches.at(launch_index);
    sink_->on_started(l.proc, workload != 0 ? workload : l.pid + 1);
  }
  void output(std::size_t launch_index, supervisor::Stream s, std::string_view bytes) {
    sink_->on_output(launches.at(launch_index).proc, s, bytes);
  }
  /// `data_removed`: the process layer removed the data directory itself (remove_data_at_end).
  void exit(std::size_t launch_index, int code, int sig = 0, bool data_removed = false) {
    live.erase(launches.at(launch_index).proc);
    sink_->on_exited(launches.at(launch_index).proc,
                     supervisor::ExitStatus{code, sig, data_removed});
  }
  std::size_t last() const { return launches.size() - 1; }

  std::vector<Launch> launches;
  std::vector<std::pair<supervisor::ProcId, int>> signals;
  std::vector<supervisor::ProcId> kills;
  std::vector<std::uint16_t> probes;
  std::set<supervisor::ProcId> live;
  bool port_open = false;
  bool connections = false;
  bool fail_next_launch = false;
  std::optional<cgroup::Controllers> cgroup;  ///< what cgroup_of() answers for every launch
  std::optional<cgroup::Usage> usage_now;     ///< what usage() answers while a launch lives

 private:
  supervisor::ProcessSink* sink_ = nullptr;
  supervisor::ProcId next_proc_ = 1;
  pid_t next_pid_ = 1000;
};

class EmptyProcessTable final : public pool::ProcessTable {
 public:
  Result<std::set<uid_t>> live_uids(uid_t, uid_t) const override { return busy; }
  std::set<uid_t> busy;
};

class AlwaysBinder final : public pool::PortBinder {
 public:
  Result<util::UniqueFd> bind(std::uint16_t) override { return util::UniqueFd(); }
};

class MapProfiles final : public supervisor::ProfileSource {
 public:
  Result<sandbox::SandboxProfile> get(const std::string& name) const override {
    auto it = profiles.find(name);
    if (it == profiles.end())
      return make_error("unknown_profile", "unknown profile " + name, "profile");
    return it->second;
  }
  std::map<std::string, sandbox::SandboxProfile> profiles;
};

class FakeFs final : public sandbox::FileSystem {
 public:
  Result<sandbox::FileKind> kind(const std::string& path) const override {
    if (links.count(path) != 0) return sandbox::FileKind::Symlink;
    return dirs.count(path) != 0 ? sandbox::FileKind::Directory : sandbox::FileKind::Missing;
  }
  Result<std::string> read_link(const std::string& path) const override {
    auto it = links.find(path);
    if (it != links.end()) return it->second;
    return make_error("EINVAL", "not a link: " + path);
  }
  std::set<std::string> dirs{"/", "/srv", "/srv/bundles", "/srv/bundles/app1"};
  std::map<std::string, std::string> links;  ///< symlink path -> target
};

}  // namespace paddock::fakes
