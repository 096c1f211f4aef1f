#pragma once
/// GET /v1/workers without rebuilding every worker's JSON on every request: each worker's
/// object is rendered once per change (Supervisor::list_versions says when a worker changed) and
/// kept as pieces, one per field; a list is those pieces joined, with the one field that moves
/// on its own (usage, read fresh) written per request. ?fields= picks pieces.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "paddock/supervisor/supervisor.hpp"
#include "paddock/util/result.hpp"

namespace paddock::api {

/// The property names of the API's Worker object (components.schemas.Worker in the OpenAPI
/// document), sorted.
const std::vector<std::string>& worker_field_names();

/// ?fields=id,state: the names, sorted and without repeats. Error invalid_query with field
/// "fields" naming the first name that is not a Worker property (or saying the list is empty).
Result<std::vector<std::string>> parse_worker_fields(std::string_view text);

/// `worker` with only the properties in `fields` (sorted, as parse_worker_fields returns them).
nlohmann::json select_fields(const nlohmann::json& worker, const std::vector<std::string>& fields);

/// Appends `"usage":` and the usage object (or null) exactly as to_json(WorkerSnapshot) dumps it.
void append_usage_field(std::string& out, const std::optional<cgroup::Usage>& usage);

/// Rendered workers, by id, for the list route. Single-threaded, like the supervisor.
class WorkerListCache {
 public:
  /// The answer body {"workers":[...],"count":N} for `listed` (in that order), each object with
  /// only `fields` when given. Workers whose version moved are rendered again from sup.get().
  std::string render(const supervisor::Supervisor& sup,
                     const std::vector<supervisor::ListedWorker>& listed,
                     const std::optional<std::vector<std::string>>& fields);
  /// Workers held (at most the supervisor's known workers after each render()).
  std::size_t size() const { return pieces_.size(); }
  /// Renderings made so far (a worker rendered again after a change counts again).
  std::uint64_t renders() const { return renders_; }

 private:
  struct Piece {
    std::uint64_t version = 0;
    std::uint64_t used = 0;  ///< the render() call that last listed it
    /// `"name":value` of each field but usage, in name order, joined by commas.
    std::string body;
    /// Per field: its name and where its `"name":value` is in body.
    struct Span {
      std::string name;
      std::uint32_t begin = 0;
      std::uint32_t size = 0;
    };
    std::vector<Span> spans;
  };
  const Piece& piece(const supervisor::Supervisor& sup, const supervisor::ListedWorker& l);

  /// By ListedWorker::serial: hashing 1000 ids per list was a seventh of its cost.
  std::unordered_map<std::uint64_t, Piece> pieces_;
  std::size_t last_size_ = 0;  ///< bytes of the last full answer, to reserve
  std::uint64_t generation_ = 0;
  std::uint64_t renders_ = 0;
};

}  // namespace paddock::api
