// run: a one-shot command in a sandbox; its output and exit code become the CLI's own.
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>

#include "paddock/cli/commands.hpp"
#include "paddock/cli/errors.hpp"
#include "paddock/cli/requests.hpp"
#include "paddock/runfiles/runfiles.hpp"
#include "session.hpp"

namespace paddock::cli {

namespace {

struct RunOptions {
  RunArgs args;
  std::string stdin_source;            ///< FILE or "-"
  std::vector<std::string> file_args;  ///< --file LOCAL[=REMOTE]
  bool force = false;                  ///< --force: collected files replace existing ones
};

/// Writes the answer's collected files below the current directory and says so on stderr, one
/// line each (stdout is the run's). Returns false when one could not be written.
bool write_collected(const nlohmann::json& result, bool force) {
  bool ok = true;
  const auto files = result.find("files");
  if (files == result.end() || !files->is_array() || files->empty()) return ok;
  const util::UniqueFd here(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!here) {
    std::cerr << "paddock: cannot open the current directory to write collected files\n";
    return false;
  }
  for (const auto& f : *files) {
    if (!f.is_object()) continue;
    const std::string path = f.value("path", "");
    const std::string what = path.empty() ? f.value("pattern", "") : path;
    if (f.contains("error")) {
      std::cerr << "paddock: not collected: " << what << ": " << f.value("error", "") << "\n";
      continue;
    }
    auto content = api::base64_decode(f.value("content_base64", ""));
    if (!content) {
      std::cerr << "paddock: not collected: " << what << ": the daemon sent invalid base64\n";
      ok = false;
      continue;
    }
    if (auto w = runfiles::write_below(here.get(), path, *content, force); !w) {
      std::cerr << "paddock: cannot write " << what << ": " << w.error().message
                << (w.error().message.find("EEXIST") != std::string::npos
                        ? " (it exists; --force replaces it)"
                        : "")
                << "\n";
      ok = false;
      continue;
    }
    std::cerr << "paddock: collected " << path << " (" << content->size() << " bytes"
              << (f.value("truncated", false)
                      ? ", truncated from " + std::to_string(f.value("size", std::uint64_t{0}))
                      : std::string())
              << ")\n";
  }
  return ok;
}

std::string read_all(std::istream& in) {
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Ctrl-C (SIGINT) or SIGTERM while `paddock run` waits: a thread takes the signal (it is
/// blocked everywhere else) and stops the run in the daemon (DELETE /v1/runs/{id}); the waiting
/// request then receives the run's result and the command exits 130. A second signal exits at
/// once.
class RunInterrupt {
 public:
  explicit RunInterrupt(Client client) : client_(std::move(client)) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
    waiter_ = std::thread([this] { wait(); });
  }
  ~RunInterrupt() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    pthread_kill(waiter_.native_handle(), SIGTERM);
    waiter_.join();
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  RunInterrupt(const RunInterrupt&) = delete;
  RunInterrupt& operator=(const RunInterrupt&) = delete;

  /// The run's URL path (the Location of POST /v1/runs); stops the run when a signal came first.
  void started(std::string path) {
    bool stop_now = false;
    {
      std::lock_guard lock(mu_);
      path_ = std::move(path);
      stop_now = interrupted_;
    }
    if (stop_now) stop();
  }

  bool interrupted() const {
    std::lock_guard lock(mu_);
    return interrupted_;
  }

 private:
  void wait() {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals_, &sig) != 0) continue;
      bool stop_now = false;
      {
        std::lock_guard lock(mu_);
        if (done_) return;
        if (interrupted_) ::_exit(kExitInterrupted);
        interrupted_ = true;
        stop_now = !path_.empty();
      }
      static constexpr char kNote[] = "paddock: stopping the run (again to quit at once)\n";
      [[maybe_unused]] auto n = ::write(STDERR_FILENO, kNote, sizeof kNote - 1);
      if (stop_now) stop();
    }
  }

  void stop() {
    std::string path;
    {
      std::lock_guard lock(mu_);
      path = path_;
    }
    auto r = client_.request("DELETE", path);
    if (!r) {
      std::cerr << "paddock: could not stop the run: " << r.error().message << "\n";
    } else if (r->status >= 300 && r->status != 404) {
      std::cerr << "paddock: could not stop the run: "
                << error_line(api_error(r->status, r->body, "permission denied")) << "\n";
    }
  }

  Client client_;
  sigset_t signals_{};
  sigset_t old_mask_{};
  mutable std::mutex mu_;
  std::string path_;
  bool interrupted_ = false;
  bool done_ = false;
  std::thread waiter_;
};

int run(const Session& s, RunOptions& o) {
  if (!o.stdin_source.empty()) {
    if (o.stdin_source == "-") {
      o.args.stdin_data = read_all(std::cin);
    } else {
      std::ifstream in(o.stdin_source, std::ios::binary);
      if (!in) fail(kExitFailure, "--stdin: cannot read " + o.stdin_source);
      o.args.stdin_data = read_all(in);
    }
  }
  for (const auto& arg : o.file_args) {
    auto spec = file_argument(arg);
    if (!spec) fail(kExitUsage, spec.error().message);
    std::ifstream in(spec->first, std::ios::binary);
    if (!in) fail(kExitFailure, "--file: cannot read " + spec->first);
    o.args.files.emplace_back(spec->second, read_all(in));
  }
  auto body = run_request(o.args);
  if (!body) fail(kExitUsage, body.error().message);

  // The daemon answers 200 as soon as the run started and sends the result (one JSON line)
  // when it ends, so there is no client-side time limit here.
  std::string result_text;
  RunInterrupt interrupt(s.client());
  s.stream(
      "POST", "/v1/runs", body->dump(),
      [&result_text](std::string_view line) {
        if (!line.empty()) result_text = line;
        return true;
      },
      [&interrupt](const HttpReply& head) {
        if (!head.location.empty()) interrupt.started(head.location);
      });
  const bool interrupted = interrupt.interrupted();
  const auto result = nlohmann::json::parse(result_text, nullptr, false);
  if (result.is_discarded() || !result.is_object()) {
    if (interrupted) fail(kExitInterrupted, "interrupted; the run was stopped");
    fail(kExitFailure, "paddockd ended the run without a result (was it stopped?)");
  }
  if (s.json()) {
    print_json(result);
  } else {
    const std::string out = result.value("stdout", "");
    const std::string err = result.value("stderr", "");
    std::cout.write(out.data(), static_cast<std::streamsize>(out.size()));
    std::cout.flush();
    std::cerr.write(err.data(), static_cast<std::streamsize>(err.size()));
    if (result.value("stdout_truncated", false)) {
      std::cerr << "paddock: the run's stdout was cut short by the daemon's output limit\n";
    }
    if (result.value("stderr_truncated", false)) {
      std::cerr << "paddock: the run's stderr was cut short by the daemon's output limit\n";
    }
  }
  const bool written = write_collected(result, o.force);
  if (interrupted) {
    std::cerr << "paddock: interrupted; the run was stopped\n";
    return kExitInterrupted;
  }
  const int code = run_exit_code(result);
  if (code == kExitTimeout && result.value("timed_out", false)) {
    std::cerr << "paddock: the run timed out"
              << (o.args.timeout_seconds ? " after " + std::to_string(o.args.timeout_seconds) + "s"
                                         : std::string{})
              << " and was killed\n";
  } else if (!(result.contains("exit_code") && result["exit_code"].is_number_integer()) &&
             !signal_number(result.value("signal", nlohmann::json()))) {
    const std::string reason = result.contains("reason") && result["reason"].is_string()
                                   ? result["reason"].get<std::string>()
                                   : "";
    std::cerr << "paddock: the run did not finish normally"
              << (reason.empty() ? std::string{} : ": " + reason) << "\n";
  }
  if (code == 0 && !written) return kExitFailure;
  return code;
}

}  // namespace

void add_run_command(CLI::App& app, std::shared_ptr<const GlobalOptions> g) {
  auto o = std::make_shared<RunOptions>();
  auto* run_cmd = app.add_subcommand(
      "run",
      "Run a command to completion in a sandbox: paddock run [OPTIONS] -- CMD ARGS...; exits "
      "with its exit code (128+N if signal N killed it, 124 on timeout)");
  run_cmd->add_option("--profile", o->args.profile, "Sandbox profile (default: the daemon's)");
  run_cmd->add_option(
      "--bundle", o->args.bundle,
      "Uploaded bundle id (b-..., see bundle push) or a directory under one of [process] "
      "bundle_roots, mounted read-only as the code");
  run_cmd
      ->add_option("--network", o->args.network,
                   "none (the default for runs: no egress), private (egress through "
                   "slirp4netns) or host (if the daemon allows it)")
      ->check(CLI::IsMember({"none", "private", "host"}));
  run_cmd
      ->add_option("--timeout", o->args.timeout_seconds,
                   "Kill the run after this many seconds (exit code 124)")
      ->check(CLI::Range(1, 86400));
  run_cmd->add_option("--stdin", o->stdin_source,
                      "Send this file's bytes to the command's stdin ('-': this stdin)");
  run_cmd->add_option("--env", o->args.env, "Environment KEY=VALUE (repeatable)")
      ->allow_extra_args(false);
  run_cmd
      ->add_option("--file", o->file_args,
                   "Put LOCAL into the run's working directory (/work) as its base name, or "
                   "LOCAL=PATH as PATH (repeatable)")
      ->allow_extra_args(false);
  run_cmd
      ->add_option("--collect", o->args.collect,
                   "Bring back the files matching this glob (relative to the working "
                   "directory) into the current directory (repeatable)")
      ->allow_extra_args(false);
  run_cmd->add_flag("--force", o->force, "Let collected files replace existing ones");
  run_cmd->add_option("command", o->args.command, "The command and its arguments, after --");
  run_cmd->callback([g, o] {
    Session s(*g);
    const int code = run(s, *o);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace paddock::cli
