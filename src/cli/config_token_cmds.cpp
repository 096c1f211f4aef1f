// config check, token create.
#include <CLI/CLI.hpp>
#include <iostream>

#include "paddock/cli/commands.hpp"
#include "paddock/cli/errors.hpp"
#include "paddock/cli/token_file.hpp"
#include "paddock/config/loader.hpp"

namespace paddock::cli {

void add_config_commands(CLI::App& app) {
  auto* config = app.add_subcommand("config", "Work with paddockd's configuration file");
  config->require_subcommand(1);
  auto path = std::make_shared<std::string>(config::kDefaultConfigPath);
  auto* check = config->add_subcommand(
      "check", "Validate a configuration file as paddockd would; prints ok or every error");
  check->add_option("file", *path, "Configuration file")->capture_default_str();
  check->callback([path] {
    // The file alone is checked: the daemon's environment (PADDOCK_* overrides set in its
    // unit) is not this shell's.
    const auto result = config::load_file(*path, {}, config::HostFacts::from_system());
    if (result.ok()) {
      std::cout << *path << ": ok\n";
      return;
    }
    for (const auto& e : result.errors) std::cerr << e.to_string() << "\n";
    std::cerr << result.errors.size() << " error(s) in " << *path << "\n";
    throw CLI::RuntimeError(kExitFailure);
  });
}

void add_token_commands(CLI::App& app) {
  auto* token_cmd = app.add_subcommand("token", "Manage API tokens for the TCP listener");
  token_cmd->require_subcommand(1);
  struct Args {
    std::string name;
    std::string scope;
    std::string file = kDefaultTokenFile;
  };
  auto a = std::make_shared<Args>();
  auto* create = token_cmd->add_subcommand(
      "create", "Create a token: print it once, append its sha256 to the token file");
  create->add_option("--name", a->name, "Token name (1-64 of A-Z a-z 0-9 _ - .)")->required();
  create->add_option("--scope", a->scope, "read (GET/HEAD) or write (everything)")
      ->required()
      ->check(CLI::IsMember({"read", "write"}));
  create->add_option("--file", a->file, "Token file")->capture_default_str();
  create->callback([a] {
    auto token = create_token(a->file, a->name, a->scope);
    if (!token) {
      std::cerr << "paddock: " << error_line(token.error()) << "\n";
      throw CLI::RuntimeError(token.error().code == "usage" ? kExitUsage : kExitFailure);
    }
    std::cout << *token << "\n";
    std::cerr << "paddock: added token '" << a->name << "' (" << a->scope << ") to " << a->file
              << "; it is shown only this once. Apply it with: systemctl reload paddockd (or "
                 "send SIGHUP to paddockd)\n";
  });
}

}  // namespace paddock::cli
