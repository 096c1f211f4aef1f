#pragma once
/// Small string helpers shared by config, api and cli.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace paddock::util {

/// Levenshtein edit distance; used to suggest the closest known key or field.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word`, or "" when none is near enough to be a plausible typo.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

/// Split on a separator, trimming spaces around each piece; empty pieces are dropped.
std::vector<std::string> split_trimmed(std::string_view s, char sep);

bool starts_with(std::string_view s, std::string_view prefix);

/// Lower-case hex of a byte range.
std::string to_hex(const unsigned char* data, std::size_t size);
/// The bytes to_hex() wrote; nullopt for an odd length or a character that is not 0-9 or a-f.
std::optional<std::string> from_hex(std::string_view text);

}  // namespace paddock::util
