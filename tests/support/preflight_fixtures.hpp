#pragma once
// Fixture host roots for the preflight checks (tests/fixtures/preflight/<name>), with the two
// answers plain files cannot carry (writability as root, extended attributes) set by the test.

#include <map>
#include <optional>
#include <set>
#include <string>

#include "paddock/preflight/host_fs.hpp"

namespace paddock::testsupport {

inline std::string preflight_fixture(const std::string& name) {
  return std::string(PADDOCK_SOURCE_DIR) + "/tests/fixtures/preflight/" + name;
}

/// RootedFs over a fixture directory; writable() is true for every existing path except those in
/// `read_only` (whoever runs the tests), xattr() answers from `xattrs` ("path|name" -> value).
class FixtureFs : public preflight::RootedFs {
 public:
  explicit FixtureFs(const std::string& name) : RootedFs(preflight_fixture(name)) {}
  bool writable(const std::string& path) const override {
    return read_only.count(path) == 0 && exists(path);
  }
  std::optional<std::string> xattr(const std::string& path,
                                   const std::string& name) const override {
    auto it = xattrs.find(path + "|" + name);
    if (it == xattrs.end()) return std::nullopt;
    return it->second;
  }
  std::set<std::string> read_only;
  std::map<std::string, std::string> xattrs;
};

}  // namespace paddock::testsupport
