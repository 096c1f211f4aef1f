#pragma once
/// Finding a worker or run from what a person typed: its id, its name or a unique prefix of its
/// id (as docker does). Pure logic; the Supervisor supplies the entries.

#include <string>
#include <string_view>
#include <vector>

namespace paddock::supervisor {

/// One worker or run as the lookup sees it.
struct IdEntry {
  std::string id;
  std::string name;   ///< empty when it has none
  bool live = false;  ///< not yet exited or failed
};

/// What a lookup found.
struct Lookup {
  enum class Outcome { Found, NotFound, Ambiguous };
  Outcome outcome = Outcome::NotFound;
  std::string id;                ///< Found: the id
  std::vector<IdEntry> matches;  ///< Ambiguous: every candidate, in entry order
};

/// Resolves `query` among `entries`, in this order: an exact id; an exact name (the live worker
/// of that name when there is one, else the only finished one); a prefix of exactly one id.
/// Several workers of one name (none live) or several ids with the prefix give Ambiguous; an
/// empty query or no match gives NotFound.
Lookup lookup_id(std::string_view query, const std::vector<IdEntry>& entries);

}  // namespace paddock::supervisor
