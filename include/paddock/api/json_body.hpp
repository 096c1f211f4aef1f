#pragma once
/// Request-body validation for the JSON routes: strict parsing and a typed field reader whose
/// errors name the JSON path of the bad field ("limits.memory_mb", "command[2]").
///
/// Parsing rules (each violation is an Error with code and, where it applies, field):
///  - the body must be valid UTF-8 ("invalid_utf8") and valid JSON ("invalid_json");
///  - nesting deeper than the limit is rejected as soon as the parser reaches it, before the
///    rest is parsed ("too_deep");
///  - the root must be an object ("not_an_object");
///  - duplicate keys in one object are rejected ("duplicate_field"): parsers disagree on which
///    one wins, so accepting them invites confusion;
///  - numbers that do not fit a double (1e999) are rejected ("invalid_number").
/// Reading rules:
///  - every string is rejected when it contains NUL (U+0000), although JSON allows it: every
///    string of this API ends up in a C string (argv, environment, paths, labels) where NUL
///    would silently cut it short ("invalid_field");
///  - a present field of the wrong type, or out of range, is "invalid_field";
///  - a required field that is absent is "missing_field";
///  - a field the reader never asked for is "unknown_field" (with a did-you-mean hint).

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "paddock/api/http.hpp"
#include "paddock/util/result.hpp"

namespace paddock::api {

/// Default nesting limit of request bodies (objects and arrays counted together).
inline constexpr std::size_t kDefaultJsonDepth = 32;

/// True when `text` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view text);

/// Parses a request body under the rules above. The result is always an object.
Result<nlohmann::json> parse_json_object(std::string_view body,
                                         std::size_t max_depth = kDefaultJsonDepth);

/// The 400 response for a validation error: {"error": {code, message, field}}.
Response bad_request(const Error& error);

/// Reads the fields of one JSON object with type checks. The first error wins and is kept;
/// later calls then do nothing and return nullopt. Nested readers (object()) share the error.
///
///   FieldReader r(body);
///   auto name = r.string("name", Required::Yes);
///   if (auto limits = r.object("limits")) { auto mem = limits->integer("memory_mb", 1, 65536); }
///   if (auto done = r.finish(); !done) return bad_request(done.error());
class FieldReader {
 public:
  enum class Required { No, Yes };

  /// `path` is the JSON path of `object` ("" for the root). `object` must outlive the reader.
  explicit FieldReader(const nlohmann::json& object, std::string path = {});

  std::optional<std::string> string(const std::string& key, Required required = Required::No);
  std::optional<std::int64_t> integer(const std::string& key, std::int64_t min, std::int64_t max,
                                      Required required = Required::No);
  std::optional<double> number(const std::string& key, double min, double max,
                               Required required = Required::No);
  std::optional<bool> boolean(const std::string& key, Required required = Required::No);
  std::optional<std::vector<std::string>> string_array(const std::string& key,
                                                       Required required = Required::No);
  /// An object whose values are all strings (labels, environment).
  std::optional<std::map<std::string, std::string>> string_map(const std::string& key,
                                                               Required required = Required::No);
  /// A reader for a nested object; finish() of this reader also checks the nested one's fields.
  std::optional<FieldReader> object(const std::string& key, Required required = Required::No);

  /// Marks `key` as known without reading it (for fields read by other code).
  void accept(const std::string& key);

  /// Checks for unknown fields in every reader of the tree (the root and all nested readers,
  /// copies share their state) and returns the first error, if any.
  Result<void> finish();

  bool ok() const { return !state_->error.has_value(); }
  /// JSON path of `key` under this reader ("limits.memory_mb").
  std::string path_of(const std::string& key) const;

 private:
  struct Node {
    const nlohmann::json* object;
    std::string path;
    std::set<std::string> known;
  };
  struct Shared {
    std::optional<Error> error;
    std::vector<std::shared_ptr<Node>> nodes;  // every reader of the tree, checked at finish()
  };
  FieldReader(std::shared_ptr<Node> node, std::shared_ptr<Shared> state);
  const nlohmann::json* lookup(const std::string& key, Required required);
  void fail(std::string code, std::string message, std::string field);

  std::shared_ptr<Node> node_;
  std::shared_ptr<Shared> state_;
};

}  // namespace paddock::api
