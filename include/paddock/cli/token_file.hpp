#pragma once
/// `paddock token create`: new API tokens appended (hashed) to the daemon's token file.

#include <string>
#include <string_view>

#include "paddock/util/result.hpp"

namespace paddock::cli {

/// Where `token create` writes when --file is not given (the daemon's default token_file).
inline constexpr const char* kDefaultTokenFile = "/etc/paddock/tokens";

/// The line to append for a new token: "<name> <scope> sha256:<hex of sha256(token)>\n".
/// `existing` is the file's current text (named `file_name` in messages). Errors (code
/// "usage" for bad arguments, "invalid_token_file" or "token_exists" otherwise): a name that is
/// not 1-64 of [A-Za-z0-9_.-], a scope other than read/write, an existing file that does not
/// parse (fix it first), or an entry with that name already present.
Result<std::string> token_line(const std::string& name, const std::string& scope,
                               const std::string& token, std::string_view existing,
                               const std::string& file_name);

/// Creates a token, appends its line to `path` (created when missing, and an empty file, gets
/// mode 0640 group paddock so the daemon can read it after its privilege drop, or 0600 when
/// that group does not exist; an
/// exclusive flock is held while reading and appending) and returns the token itself, which
/// is nowhere else stored.
Result<std::string> create_token(const std::string& path, const std::string& name,
                                 const std::string& scope);

}  // namespace paddock::cli
