#pragma once
/// Exit codes of the `paddock` CLI and the mapping from daemon answers to them.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "paddock/util/result.hpp"

namespace paddock::cli {

inline constexpr int kExitOk = 0;
/// The daemon refused or failed the request, or a check failed.
inline constexpr int kExitFailure = 1;
/// The command line was wrong.
inline constexpr int kExitUsage = 2;
/// The daemon could not be reached, or it refused this user.
inline constexpr int kExitUnavailable = 3;
/// `paddock run`: the run hit its --timeout (as timeout(1) does).
inline constexpr int kExitTimeout = 124;
/// `paddock run` stopped by Ctrl-C (SIGINT) or SIGTERM: 128 + SIGINT, as shells report it.
inline constexpr int kExitInterrupted = 130;

/// The exit code for an error from Client or api_error(): codes "connect", "permission",
/// "forbidden" and "worker_uid_refused" give kExitUnavailable, everything else kExitFailure.
int exit_code_for(const Error& error);

/// Turns a non-2xx answer into an Error. The daemon's {"error":{code,message,field}} keeps its
/// code, message and field; 403 "forbidden" becomes code "permission" with
/// `permission_text` as the message (which group to join); a body that is not the API's error
/// shape gives code "http_<status>" and a message naming the status.
Error api_error(unsigned status, const std::string& body, const std::string& permission_text);

/// One line for stderr: "message" or "message (field: F)".
std::string error_line(const Error& error);

/// A signal number from a name ("KILL", "SIGKILL", "kill"), a decimal string or a JSON integer;
/// nullopt for anything else (null included).
std::optional<int> signal_number(const nlohmann::json& value);

/// The signal name the API expects ("TERM") from "TERM", "SIGTERM", "term" or "15"; nullopt
/// when it is not a known signal.
std::optional<std::string> normalise_signal(const std::string& text);

/// The exit code of `paddock run` for a RunResult object: kExitTimeout when timed_out is true,
/// 128+N when a signal N ended it, its exit_code otherwise, and kExitFailure when the result
/// carries none of these (e.g. the sandbox could not be started).
int run_exit_code(const nlohmann::json& result);

/// The exit-code table printed at the end of `paddock --help`.
std::string exit_codes_help();

}  // namespace paddock::cli
