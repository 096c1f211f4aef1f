#pragma once
/// Digests and random tokens (OpenSSL libcrypto and getrandom).

#include <string>
#include <string_view>

#include "paddock/util/result.hpp"

namespace paddock::util {

/// Lower-case hex sha256 of the bytes.
std::string sha256_hex(std::string_view data);

/// Lower-case hex sha256 of a file's contents.
Result<std::string> sha256_file(const std::string& path);

/// A new random token: "pdk_" followed by 43 url-safe characters (256 bits of entropy).
std::string random_token();

/// A new identifier: `prefix` followed by 22 url-safe characters ([A-Za-z0-9_-]) holding 128
/// random bits from getrandom(2), so an id is never handed out twice, across restarts too.
std::string random_id(std::string_view prefix);

/// base64url of `bytes` without padding ([A-Za-z0-9_-]).
std::string base64url(std::string_view bytes);

/// Comparison whose time depends only on the lengths, not on where the strings differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace paddock::util
