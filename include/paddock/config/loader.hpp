#pragma once
/// Loading and validating the configuration.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "paddock/config/config.hpp"

namespace paddock::config {

inline constexpr const char* kDefaultConfigPath = "/etc/paddock/paddock.toml";

/// One problem in a config: where it is and what to do about it.
struct Diagnostic {
  SourcePos where;
  std::string key;  ///< "section.key" when the problem is tied to a key
  std::string message;
  /// "file:line:col: message" (or "message" when the position is unknown).
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;  ///< set when there are no errors
  std::vector<Diagnostic> errors;
  bool ok() const { return config.has_value(); }
};

/// Facts about the host that validation looks at; from_system() reads the real ones.
struct HostFacts {
  struct Account {
    std::string name;
    std::uint32_t uid = 0;
  };
  std::vector<Account> accounts;  ///< /etc/passwd
  /// Paths that exist and are executable (only the ones validation asks about matter).
  std::vector<std::string> executables;
  bool check_executables = true;

  static HostFacts from_system();
};

/// Parses /etc/passwd-format text into accounts (malformed lines are skipped).
std::vector<HostFacts::Account> parse_passwd(const std::string& text);

/// Environment variables, e.g. from environ; only PADDOCK_<SECTION>_<KEY> entries are used.
using Environment = std::map<std::string, std::string>;
Environment current_environment();

/// Parses TOML text (named `file_name` in messages), applies environment overrides on top
/// (env wins over the file, the file over defaults) and validates the result.
LoadResult load_from_string(const std::string& toml_text, const std::string& file_name,
                            const Environment& env, const HostFacts& host);

/// Reads `path` and does the same; a missing file is an error that says how to create one.
LoadResult load_file(const std::string& path, const Environment& env, const HostFacts& host);

/// Semantic checks on a complete config (ranges, accounts, paths). Exposed for tests.
std::vector<Diagnostic> validate(const Config& cfg, const HostFacts& host);

/// Every "section.key" the schema knows, in file order.
std::vector<std::string> known_keys();

}  // namespace paddock::config
