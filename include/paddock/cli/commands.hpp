#pragma once
/// Subcommands of the `paddock` admin CLI. Each add_* function registers its subcommands on the
/// app; their callbacks print to stdout/stderr and end with CLI::RuntimeError(code) on failure,
/// which run_app() turns into the exit status (see errors.hpp for the codes).

#include <memory>
#include <string>

namespace CLI {
class App;
}

namespace paddock::cli {

/// Options of the root command, shared by the subcommands that talk to the daemon.
struct GlobalOptions {
  std::string socket;  ///< --socket; empty: $PADDOCK_SOCKET, else kDefaultSocketPath
  bool json = false;   ///< --json: print the API's JSON objects instead of tables
};

/// Adds --socket and --json to the root app (accepted after the subcommand too) and the exit
/// code table to its help footer. Returns the options the daemon commands read.
std::shared_ptr<GlobalOptions> add_global_options(CLI::App& app);

/// `status`, `events`, `preflight [--run]`.
void add_status_commands(CLI::App& app, std::shared_ptr<const GlobalOptions> global);

/// `ps`, `show`, `start`, `stop`, `restart`, `kill`, `logs`.
void add_worker_commands(CLI::App& app, std::shared_ptr<const GlobalOptions> global);

/// `run [--profile P] [--timeout S] [--stdin FILE|-] -- CMD ARGS...`.
void add_run_command(CLI::App& app, std::shared_ptr<const GlobalOptions> global);

/// bundle push|ls|rm: upload (a directory is packed into a .tar.gz), list and delete bundles.
void add_bundle_commands(CLI::App& app, std::shared_ptr<const GlobalOptions> global);

/// `config check [FILE]`.
void add_config_commands(CLI::App& app);

/// `token create --name N --scope read|write [--file PATH]`.
void add_token_commands(CLI::App& app);

/// `completion bash`. The script is generated when the command runs, from every subcommand and
/// option the app has then.
void add_completion_command(CLI::App& app);

/// `paddock seccomp compile IN.json -o OUT.bpf [--allow-errno-zero] [--kernel X.Y] [-v]` and
/// `paddock seccomp inspect FILE.bpf [--json]`.
void add_seccomp_commands(CLI::App& app);

/// Parses argv and runs the selected subcommand. Returns the exit status: the subcommand's
/// (CLI::RuntimeError), 0 for --help/--version, kExitUsage for any other parse error (after
/// printing it), and the help text with 0 when no subcommand was given.
int run_app(CLI::App& app, int argc, const char* const* argv);

/// `paddock install-apparmor [--target DIR] [--no-load] [--print]`: writes the AppArmor profile
/// (embedded at build time from packaging/apparmor/paddockd) to DIR/paddockd (default
/// /etc/apparmor.d) and loads it with `apparmor_parser -r` when the kernel has AppArmor enabled;
/// exits 1 when the directory is missing, the write fails, or the parser is missing or fails.
void add_apparmor_commands(CLI::App& app);

}  // namespace paddock::cli
