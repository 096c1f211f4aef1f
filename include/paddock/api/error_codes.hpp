#pragma once
/// The public table of the API's error codes: every `error.code` the daemon sends, the HTTP
/// status it comes with and what it means. Served in the OpenAPI document
/// (components.x-error-codes and the ErrorCode enum); a test checks that every code the source
/// can send is listed here and in docs/openapi.json.

#include <optional>
#include <span>
#include <string_view>

namespace paddock::api {

/// One row of the table.
struct ErrorCode {
  std::string_view code;
  unsigned status;
  std::string_view meaning;
};

/// Every error code of the API, ordered by status then code.
std::span<const ErrorCode> error_codes();

/// The HTTP status of `code`, or nullopt when the table does not list it.
std::optional<unsigned> error_status(std::string_view code);

}  // namespace paddock::api
