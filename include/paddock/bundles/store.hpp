#pragma once
/// The bundle store: uploaded archives extracted into a content-addressed, immutable directory
/// tree. Layout under the store directory (0711, root-owned; each parent must be searchable by
/// the worker UIDs because bwrap walks the bound path as the worker):
///   b-<first 24 hex digits of the archive's sha256>/meta.json  (what GET /v1/bundles shows)
///   b-<...>/root/                                               (the content, mounted read-only)
///   .tmp/                                                       (uploads and extractions in
///   progress)
/// A bundle appears under its id by one rename(2) of a finished directory, so nothing
/// half-extracted is ever visible under an id.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "paddock/bundles/archive.hpp"
#include "paddock/util/result.hpp"

namespace paddock::bundles {

/// Store settings ([bundles] in the config).
struct StoreConfig {
  /// The store directory; created 0711 when missing.
  std::string dir = "/var/lib/paddock-bundles";
  /// Sum of the extracted sizes of all bundles; a new bundle that would cross it is refused.
  std::uint64_t max_total_bytes = 8ULL << 30;
  Limits limits;
};

/// One stored bundle.
struct BundleInfo {
  std::string id;                     ///< "b-" + 24 hex digits of sha256
  std::string sha256;                 ///< of the archive as uploaded
  std::uint64_t size_bytes = 0;       ///< archive size
  std::uint64_t extracted_bytes = 0;  ///< sum of file sizes in the tree
  std::uint64_t files = 0;            ///< regular files and links
  std::string created_at;             ///< RFC 3339 UTC
};

/// The outcome of add(): the bundle and whether it was already stored.
struct AddResult {
  BundleInfo info;
  bool created = false;
};

/// True when `id` has the shape of a bundle id ("b-" + 24 lower-case hex digits).
bool valid_bundle_id(const std::string& id);

/// The bundle store. Thread-safe.
class Store {
 public:
  /// Opens (creating when missing) the store directory and checks that it and every parent are
  /// searchable by other users and not writable by them; removes leftovers in .tmp.
  static Result<std::unique_ptr<Store>> open(StoreConfig config);

  /// A new upload in the store's temporary directory, bounded by limits.max_compressed_bytes.
  Result<Upload> begin_upload() const;
  /// Extracts a finished upload and makes it a bundle (or finds the identical one already
  /// stored). Errors as extract_archive(); nothing is left behind on error.
  Result<AddResult> add(Upload& upload, const std::string& sha256);
  /// Every stored bundle, sorted by id.
  std::vector<BundleInfo> list() const;
  /// One bundle, or nullopt.
  std::optional<BundleInfo> get(const std::string& id) const;
  /// Removes a bundle (error "not_found" when absent).
  Result<void> remove(const std::string& id);
  /// The directory to mount for a bundle (its root/), or "" when there is no such bundle.
  std::string content_path(const std::string& id) const;
  /// Sum of extracted_bytes over all bundles.
  std::uint64_t total_bytes() const;
  const StoreConfig& config() const { return config_; }

 private:
  explicit Store(StoreConfig config) : config_(std::move(config)) {}
  std::vector<BundleInfo> list_unlocked_() const;
  StoreConfig config_;
  mutable std::mutex mu_;
};

/// Checks that `dir` and every parent directory are searchable (x) by other users and writable
/// only by their owner, so worker UIDs can reach a bundle bound below it; a clear error otherwise.
Result<void> check_traversable(const std::string& dir);

}  // namespace paddock::bundles
