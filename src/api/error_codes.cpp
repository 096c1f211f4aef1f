#include "paddock/api/error_codes.hpp"

#include <array>

namespace paddock::api {

namespace {

constexpr std::array kCodes{
    ErrorCode{"bad_request", 400, "malformed HTTP request (e.g. two Authorization headers)"},
    ErrorCode{"bad_target", 400, "the request target cannot be decoded"},
    ErrorCode{"duplicate_field", 400, "a JSON key appears twice in one object"},
    ErrorCode{"env_not_allowed", 400, "an environment variable the daemon does not pass"},
    ErrorCode{"invalid_base64", 400, "stdin_base64 is not valid base64"},
    ErrorCode{"invalid_bundle", 400, "the bundle is not a directory under [process] bundle_roots"},
    ErrorCode{"files_limit", 400,
              "a run's files pass a [runs] limit (max_files or max_files_bytes)"},
    ErrorCode{"invalid_archive", 400, "the body is not a tar.gz, tar.zst or zip archive"},
    ErrorCode{"invalid_entry", 400,
              "an archive entry is refused (path, link or type; error.field names it)"},
    ErrorCode{"invalid_field", 400, "a field has the wrong type or is out of range"},
    ErrorCode{"invalid_header", 400, "a header value is malformed (e.g. Last-Event-ID)"},
    ErrorCode{"invalid_json", 400, "the body is not valid JSON"},
    ErrorCode{"invalid_number", 400, "a JSON number does not fit a double"},
    ErrorCode{"invalid_path", 400, "a path in the request cannot be used (e.g. outside its root)"},
    ErrorCode{"invalid_query", 400, "a query parameter is malformed or out of range"},
    ErrorCode{"invalid_utf8", 400, "the body is not valid UTF-8"},
    ErrorCode{"invalid_request", 400, "the command, environment or worker spec cannot be run"},
    ErrorCode{"limit_exceeded", 400,
              "an archive passes a [bundles] limit (entries, size, path length or depth)"},
    ErrorCode{"limit_too_high", 400, "a requested limit is above the daemon's [limits] ceiling"},
    ErrorCode{"missing_field", 400, "a required field is absent"},
    ErrorCode{"not_an_object", 400, "the body (or a field that must be) is not a JSON object"},
    ErrorCode{"too_deep", 400, "the body nests deeper than 32 levels"},
    ErrorCode{"unknown_field", 400, "a field the route does not know (the message suggests one)"},
    ErrorCode{"unknown_profile", 400, "no sandbox profile of that name"},
    ErrorCode{"unsupported", 400, "the daemon cannot provide what was asked on this host"},
    ErrorCode{"unauthorized", 401, "no bearer token, or an unknown one"},
    ErrorCode{"forbidden", 403, "the unix-socket peer is not allowed"},
    ErrorCode{"insufficient_scope", 403, "a read token on a route that needs write"},
    ErrorCode{"worker_uid_refused", 403, "the unix-socket peer runs as a worker UID"},
    ErrorCode{"admin_socket_only", 403, "the route is served on the admin socket only"},
    ErrorCode{"not_found", 404, "no such route, worker or run"},
    ErrorCode{"method_not_allowed", 405, "the route exists, the method does not (see Allow)"},
    ErrorCode{"ambiguous_id", 409,
              "the id prefix or name matches several workers or runs (listed in matches)"},
    ErrorCode{"bundle_in_use", 409, "a live worker or run uses the bundle (listed in the message)"},
    ErrorCode{"name_taken", 409, "a live worker already has this name"},
    ErrorCode{"not_running", 409, "the worker has no running process"},
    ErrorCode{"preflight_running", 409, "preflight checks are already running"},
    ErrorCode{"upgrade_in_progress", 409, "an upgrade in place is already under way"},
    ErrorCode{"body_too_large", 413, "the body is above [server] max_body_bytes"},
    ErrorCode{"too_large", 413, "the archive is above [bundles] max_archive_bytes"},
    ErrorCode{"upgrade_failed", 422,
              "the installed binary does not start with the config (its check-config output is "
              "in the message); nothing changed"},
    ErrorCode{"headers_too_large", 431, "request line and headers above [server] max_header_bytes"},
    ErrorCode{"internal", 500, "a bug or an unexpected host failure (see the daemon's log)"},
    ErrorCode{"invalid_config", 500, "the daemon's configuration does not allow this request"},
    ErrorCode{"invalid_profile", 500, "a sandbox profile file is invalid (see the daemon's log)"},
    ErrorCode{"spawn_failed", 500, "the sandbox could not be started (see the daemon's log)"},
    ErrorCode{"not_implemented", 501, "the route is not available in this daemon"},
    ErrorCode{"capacity", 503, "the daemon runs its maximum number of workers"},
    ErrorCode{"not_ready", 503, "a readiness condition does not hold (see reasons)"},
    ErrorCode{"port_exhausted", 503, "no free port in [ports]"},
    ErrorCode{"shutting_down", 503, "the daemon is shutting down"},
    ErrorCode{"too_many_connections", 503,
              "the connection cap [server] max_connections is reached"},
    ErrorCode{"stream_ended", 503,
              "inside a streamed run answer: the stream ended before the run did (the run goes "
              "on; read it with GET /v1/runs/ and its id)"},
    ErrorCode{"uid_exhausted", 503, "no free worker UID"},
    ErrorCode{"upgrading", 503,
              "the daemon is handing over to its new binary; retry after Retry-After seconds"},
    ErrorCode{"no_space", 507, "the bundle store would pass [bundles] max_total_bytes"},
};

}  // namespace

std::span<const ErrorCode> error_codes() { return kCodes; }

std::optional<unsigned> error_status(std::string_view code) {
  for (const auto& c : kCodes) {
    if (c.code == code) return c.status;
  }
  return std::nullopt;
}

}  // namespace paddock::api
