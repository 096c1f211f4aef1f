// The root of the `paddock` command line: global options, exit codes, `completion bash`.
#include <CLI/CLI.hpp>
#include <iostream>

#include "paddock/cli/client.hpp"
#include "paddock/cli/commands.hpp"
#include "paddock/cli/completion.hpp"
#include "paddock/cli/errors.hpp"

namespace paddock::cli {

std::shared_ptr<GlobalOptions> add_global_options(CLI::App& app) {
  auto g = std::make_shared<GlobalOptions>();
  app.add_option("--socket", g->socket,
                 std::string("paddockd's unix socket (default: $PADDOCK_SOCKET, else ") +
                     kDefaultSocketPath + ")");
  app.add_flag("--json", g->json, "Print the API's JSON objects instead of tables");
  // `paddock ps --json` as well as `paddock --json ps`.
  app.fallthrough();
  app.footer(exit_codes_help());
  return g;
}

void add_completion_command(CLI::App& app) {
  auto* c = app.add_subcommand("completion", "Print a shell completion script");
  c->require_subcommand(1);
  auto* bash = c->add_subcommand(
      "bash", "Print the bash completion script (source <(paddock completion bash))");
  CLI::App* root = &app;
  bash->callback([root] { std::cout << bash_completion(*root, root->get_name()); });
}

int run_app(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (app.get_subcommands().empty()) std::cout << app.help();
  return kExitOk;
}

}  // namespace paddock::cli
