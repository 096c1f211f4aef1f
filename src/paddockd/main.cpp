// paddockd: the worker-supervisor daemon. Thin: parse the command line, load the config, run.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <iostream>

#include "paddock/config/loader.hpp"
#include "paddock/daemon/daemon.hpp"
#include "paddock/log/log.hpp"
#include "paddock/preflight/preflight.hpp"
#include "paddock/privsep/spawner.hpp"

namespace {

paddock::config::LoadResult load(const std::string& path) {
  return paddock::config::load_file(path, paddock::config::current_environment(),
                                    paddock::config::HostFacts::from_system());
}

int print_errors(const paddock::config::LoadResult& r) {
  for (const auto& e : r.errors) std::cerr << e.to_string() << "\n";
  std::cerr << r.errors.size() << " error(s) in the configuration\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"paddockd: runs untrusted workers in bubblewrap sandboxes under unique UIDs"};
  app.set_version_flag("-V,--version", "paddockd " PADDOCK_VERSION);
  std::string config_path = paddock::config::kDefaultConfigPath;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();

  auto* check = app.add_subcommand("check-config", "validate the configuration and exit 0/1");
  check->add_option("-c,--config", config_path, "configuration file");

  auto* preflight = app.add_subcommand(
      "preflight", "run the preflight checks once, print a table and exit 1 on any error");
  preflight->add_option("-c,--config", config_path, "configuration file");
  bool preflight_json = false;
  preflight->add_flag("--json", preflight_json, "print the report as JSON instead of a table");

  // Internal: the privileged half, started by paddockd itself (never by hand).
  auto* spawner = app.add_subcommand("spawner", "");
  spawner->group("");  // hidden from --help
  int spawner_fd = -1;
  spawner->add_option("--fd", spawner_fd, "the socket to the daemon")->required();
  spawner->add_option("-c,--config", config_path, "configuration file");

  // Internal: this image takes over from the one before it in this process (an upgrade).
  int handoff_fd = -1;
  app.add_option("--handoff-fd", handoff_fd, "")->group("");

  CLI11_PARSE(app, argc, argv);
  // A write to a pipe or socket whose reader is gone (a run's stdin, a client that hung up) is
  // an EPIPE error to handle, not a signal that ends the daemon. Children get SIG_DFL back.
  ::signal(SIGPIPE, SIG_IGN);

  if (*spawner) {
    paddock::log::init("info", "text");
    return paddock::privsep::run_spawner(spawner_fd, config_path);
  }

  auto result = load(config_path);
  if (*check) {
    if (!result.ok()) return print_errors(result);
    std::cout << "ok\n";
    return 0;
  }
  if (*preflight) {
    if (!result.ok()) return print_errors(result);
    // Only warnings and worse go to stderr; the table on stdout is the result.
    paddock::log::init("warn", "text");
    const auto report = paddock::preflight::run_all(*result.config);
    if (preflight_json) {
      std::cout << report.to_json().dump(2) << "\n";
    } else {
      std::cout << paddock::preflight::format_table(report, ::isatty(STDOUT_FILENO) == 1);
    }
    return report.has_error ? 1 : 0;
  }
  if (!result.ok()) {
    print_errors(result);
    std::cerr << "paddockd: refusing to start; fix the configuration (paddockd check-config "
                 "--config "
              << config_path << ")\n";
    return 1;
  }
  paddock::log::init(result.config->log.level, result.config->log.format);
  std::optional<paddock::daemon::HandoffState> handoff;
  if (handoff_fd >= 0) {
    auto state = paddock::daemon::read_handoff(handoff_fd);
    if (!state) {
      paddock::log::critical("cannot read the state the previous image handed over",
                             {{"error", state.error().message}});
      return 1;
    }
    handoff = std::move(*state);
  }
  return paddock::daemon::run(*result.config, config_path, std::move(handoff));
}
