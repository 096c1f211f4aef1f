#pragma once
// Internal: the table of known keys, their types and where they live in Config.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "paddock/config/config.hpp"

namespace paddock::config::detail {

enum class Type { String, Integer, Boolean, Float, StringArray, FileMode, CountMap };

/// CountMap: a table of names to integers in [min, max] (`{shell = 4}`; in the environment
/// `shell=4,python=2`).
using CountMap = std::map<std::string, std::int64_t>;
using Value =
    std::variant<std::string, std::int64_t, bool, double, std::vector<std::string>, CountMap>;

struct KeySpec {
  std::string section;
  std::string key;
  Type type;
  std::int64_t min = 0;          ///< for Integer/FileMode
  std::int64_t max = INT64_MAX;  ///< for Integer/FileMode
  std::function<void(Config&, const Value&)> set;
  /// Relative paths in a file are resolved against the file's directory.
  bool is_path = false;
  std::string full() const { return section + "." + key; }
};

const std::vector<KeySpec>& schema();
const char* type_name(Type t);

}  // namespace paddock::config::detail
