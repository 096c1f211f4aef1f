#pragma once
/// `paddock completion bash`: a bash completion script generated from the CLI11 app itself, so
/// it always lists the subcommands and options the binary has.

#include <string>

namespace CLI {
class App;
}

namespace paddock::cli {

/// The script for `program` (e.g. "paddock"): completes subcommands at every level, the
/// options of the current (sub)command and of its parents, and falls back to file names for
/// option values and after "--". Load with `source <(paddock completion bash)`.
std::string bash_completion(const CLI::App& app, const std::string& program);

}  // namespace paddock::cli
