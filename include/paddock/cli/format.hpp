#pragma once
/// Human output of the `paddock` CLI: aligned tables, relative times, colour, and the text forms
/// of workers, preflight reports and events. Pure functions of their inputs (the clock is passed
/// in), so they are unit-tested.

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace paddock::cli {

using Clock = std::chrono::system_clock;

/// Parses an RFC 3339 UTC time as the API writes it ("2024-05-01T12:00:00.123Z"; fraction
/// optional; "+hh:mm"/"-hh:mm" offsets accepted). nullopt when it is not one.
std::optional<Clock::time_point> parse_time(std::string_view text);

/// "just now" (under a second), "42s ago", "3m ago", "5h ago", "2d ago"; a time in the future
/// gives "in 3m".
std::string relative_time(Clock::time_point then, Clock::time_point now);

/// A duration in its two largest units: "42s", "3m 5s", "2h 10m", "4d 3h".
std::string format_duration(std::int64_t seconds);

/// Whether to colour output on `fd`: it is a terminal and `no_color` (NO_COLOR) is null or
/// empty.
bool use_colour(int fd, const char* no_color);

/// ANSI SGR codes used by the tables.
namespace sgr {
inline constexpr const char* kBold = "1";
inline constexpr const char* kDim = "2";
inline constexpr const char* kRed = "31";
inline constexpr const char* kGreen = "32";
inline constexpr const char* kYellow = "33";
}  // namespace sgr

/// `text` wrapped in "\x1b[<code>m" ... "\x1b[0m" when `colour` and `code` is non-empty.
std::string paint(const std::string& text, std::string_view code, bool colour);

/// The colour of a worker state (ready/running green, starting/stopping yellow, failed red,
/// exited dim) or of a preflight severity (ok green, warning yellow, error red).
std::string_view state_colour(std::string_view state);

/// Number of terminal columns `text` takes (UTF-8 code points; no escape sequences expected).
std::size_t display_width(std::string_view text);

/// `text` cut to `width` columns, ending in "…" when cut.
std::string truncate_text(std::string_view text, std::size_t width);

/// Rows under a header, columns padded to the widest cell and separated by two spaces; the last
/// column is not padded. Colour is applied after padding so it does not disturb alignment. A
/// cell with '\n' continues on the following lines in its own column (the other cells of those
/// lines are empty).
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  /// Adds a row; missing cells are empty. `colours[i]` (optional) is the SGR code of cell i.
  void add_row(std::vector<std::string> cells, std::vector<std::string> colours = {});
  std::size_t rows() const { return rows_.size(); }
  /// The table, one line per row, each ending in '\n'. The header is bold when `colour`.
  std::string render(bool colour) const;

 private:
  struct Row {
    std::vector<std::string> cells;
    std::vector<std::string> colours;
  };
  std::vector<std::string> headers_;
  std::vector<Row> rows_;
};

/// argv joined for display; arguments with spaces or shell metacharacters are single-quoted.
std::string join_command(const std::vector<std::string>& argv);

/// The `ps` table (ID, NAME, STATE, UID, PID, PORT, PROFILE, AGE, COMMAND) of a JSON array of
/// worker objects; absent or null values show as "-", AGE is relative to created_at, COMMAND
/// is cut to 50 columns.
std::string workers_table(const nlohmann::json& workers, Clock::time_point now, bool colour);

/// `show`: one "key: value" line per field of a worker object, times with their relative form.
std::string worker_details(const nlohmann::json& worker, Clock::time_point now, bool colour);

/// The preflight table (CHECK, SEVERITY, MESSAGE, REMEDY) of a PreflightReport.
std::string preflight_table(const nlohmann::json& report, bool colour);

/// True unless the PreflightReport says `has_error: false` and no entry of `results` has
/// severity "error"; an answer without `results` or `has_error` counts as failed.
bool preflight_failed(const nlohmann::json& report);

/// "12 checks: 10 ok, 2 warning" style summary of a PreflightReport.
std::string preflight_summary(const nlohmann::json& report);

/// Counts of workers by state, in lifecycle order: "2 ready, 1 exited (3 total)"; "none" when
/// empty.
std::string state_summary(const nlohmann::json& workers);

/// The value of an unlabelled sample `name` in Prometheus text, or nullopt.
std::optional<double> metric_value(std::string_view metrics_text, std::string_view name);

/// One Server-Sent Event.
struct SseEvent {
  std::string id;
  std::string event;  ///< "message" when the stream gave no event: line
  std::string data;   ///< data: lines joined with '\n'
};

/// Assembles SSE events from lines (without their '\n'): comments (":") are skipped, a blank
/// line ends an event.
class SseParser {
 public:
  /// Feeds one line; returns an event when this line completed one that has data.
  std::optional<SseEvent> feed(std::string_view line);

 private:
  SseEvent current_;
  bool has_data_ = false;
};

/// One human line for an event object: "<at>  <worker_id>  <from> -> <to>  <reason>".
std::string event_line(const nlohmann::json& event, bool colour);

}  // namespace paddock::cli
