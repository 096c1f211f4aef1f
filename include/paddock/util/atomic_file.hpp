#pragma once
/// Replacing a file so that readers see either the old or the whole new contents.

#include <sys/types.h>

#include <string>
#include <string_view>

#include "paddock/util/result.hpp"

namespace paddock::util {

/// Writes `data` to `<path>.tmp.<pid>` (created with `mode`, which the umask may narrow), fsyncs
/// it and renames it over `path`. With `exact_mode` the file gets `mode` regardless of the umask
/// (fchmod before the rename). Errors have code "io", name the failed call and carry `path` as
/// their field; the temporary file is removed on every error.
Result<void> write_file_atomically(const std::string& path, std::string_view data, mode_t mode,
                                   bool exact_mode = false);

}  // namespace paddock::util
