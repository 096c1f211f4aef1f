#include "paddock/util/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "paddock/util/strings.hpp"

namespace paddock::util {

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  // Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up in its providers (under a
  // lock) on every digest, which cost more than the digest of a token itself.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (sha256 == nullptr ||
      EVP_Digest(data.data(), data.size(), md.data(), &len, sha256, nullptr) != 1) {
    throw std::runtime_error("EVP_Digest(sha256) failed");
  }
  return to_hex(md.data(), len);
}

Result<std::string> sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error("io", "cannot read " + path + ": " + std::strerror(errno), path);
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return sha256_hex(bytes);
}

namespace {

/// `n` bytes from getrandom(2); throws only when the kernel refuses (never in practice).
std::string random_bytes(std::size_t n) {
  std::string raw(n, '\0');
  std::size_t got = 0;
  while (got < raw.size()) {
    const ssize_t r = getrandom(raw.data() + got, raw.size() - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
    }
    got += static_cast<std::size_t>(r);
  }
  return raw;
}

}  // namespace

std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned int buffer = 0;
  int bits = 0;
  for (const char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

std::string random_token() {
  // 32 bytes -> 43 characters.
  return "pdk_" + base64url(random_bytes(32));
}

std::string random_id(std::string_view prefix) {
  // 16 bytes -> 22 characters.
  return std::string(prefix) + base64url(random_bytes(16));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace paddock::util
