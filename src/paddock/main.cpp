// paddock: the admin CLI. Thin: everything lives in the cli module of the core library.
#include <CLI/CLI.hpp>

#include "paddock/cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"paddock: administer a paddockd daemon over its unix socket", "paddock"};
  app.set_version_flag("-V,--version", "paddock " PADDOCK_VERSION);
  app.require_subcommand(0, 1);
  auto global = paddock::cli::add_global_options(app);
  paddock::cli::add_status_commands(app, global);
  paddock::cli::add_worker_commands(app, global);
  paddock::cli::add_run_command(app, global);
  paddock::cli::add_bundle_commands(app, global);
  paddock::cli::add_config_commands(app);
  paddock::cli::add_token_commands(app);
  paddock::cli::add_seccomp_commands(app);
  paddock::cli::add_apparmor_commands(app);
  paddock::cli::add_completion_command(app);
  return paddock::cli::run_app(app, argc, argv);
}
