#pragma once
/// Subcommands of the `paddock` admin CLI. Each add_* function registers its subcommands on the
/// app; their callbacks print to stdout/stderr and end with CLI::RuntimeError(code) on failure,
/// which CLI11_PARSE in main turns into the exit status.

namespace CLI {
class App;
}

namespace paddock::cli {

/// `paddock seccomp compile IN.json -o OUT.bpf [--allow-errno-zero] [--kernel X.Y] [-v]` and
/// `paddock seccomp inspect FILE.bpf [--json]`.
void add_seccomp_commands(CLI::App& app);

/// `paddock install-apparmor [--target DIR] [--no-load] [--print]`: writes the AppArmor profile
/// (embedded at build time from packaging/apparmor/paddockd) to DIR/paddockd (default
/// /etc/apparmor.d) and loads it with `apparmor_parser -r` when the kernel has AppArmor enabled;
/// exits 1 when the directory is missing, the write fails, or the parser is missing or fails.
void add_apparmor_commands(CLI::App& app);

}  // namespace paddock::cli
