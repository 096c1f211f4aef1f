#pragma once
/// Packing a directory into a .tar.gz (what `paddock bundle push DIR` uploads).

#include <string>

#include "paddock/util/result.hpp"

namespace paddock::bundles {

/// The .tar.gz of everything under `dir` (paths relative to it, sorted): regular files,
/// directories and symlinks (stored as links, never followed). Other file types are an error
/// naming the path. Owners are not recorded; modes keep only the permission bits.
Result<std::string> pack_directory(const std::string& dir);

}  // namespace paddock::bundles
