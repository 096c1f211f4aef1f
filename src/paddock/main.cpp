// paddock: the admin CLI. Thin: everything lives in the cli module of the core library.
#include <CLI/CLI.hpp>
#include <iostream>

#include "paddock/cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"paddock: administer a paddockd daemon over its unix socket"};
  app.set_version_flag("-V,--version", "paddock " PADDOCK_VERSION);
  app.require_subcommand(0, 1);
  paddock::cli::add_seccomp_commands(app);
  paddock::cli::add_apparmor_commands(app);
  CLI11_PARSE(app, argc, argv);
  if (app.get_subcommands().empty()) std::cout << app.help();
  return 0;
}
