#include <gtest/gtest.h>

#include <vector>

#include <sys/stat.h>
#include <unistd.h>
#include <set>

#include <cstdlib>
#include <filesystem>

#include "paddock/util/atomic_file.hpp"
#include "paddock/util/crypto.hpp"
#include "paddock/util/fd.hpp"
#include "paddock/util/hostport.hpp"
#include "paddock/util/strings.hpp"

using namespace paddock;

TEST(Strings, ClosestMatchSuggestsATypoFixButNotAStranger) {
  const std::vector<std::string> keys{"worker_uid_range_start", "worker_uid_range_end",
                                      "worker_gid"};
  EXPECT_EQ(util::closest_match("worker_uid_rnage_start", keys), "worker_uid_range_start");
  EXPECT_EQ(util::closest_match("completely_different", keys), "");
}

TEST(HostPort, ParsesV4V6AndNames) {
  auto a = util::parse_host_port("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto b = util::parse_host_port("[::1]:9");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(util::to_string(*b), "[::1]:9");
  EXPECT_TRUE(util::parse_host_port("localhost:80"));
}

TEST(HostPort, RejectsMissingOrBadPorts) {
  for (const char* bad :
       {"127.0.0.1", "127.0.0.1:", ":80", "h:0", "h:65536", "h:80x", "::1:80", "[::1]80", ""}) {
    EXPECT_FALSE(util::parse_host_port(bad)) << bad;
  }
}

TEST(Crypto, Sha256OfKnownInput) {
  EXPECT_EQ(util::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, RandomTokensAreLongAndDistinct) {
  const auto a = util::random_token();
  const auto b = util::random_token();
  EXPECT_EQ(a.size(), 4u + 43u);
  EXPECT_NE(a, b);
  EXPECT_TRUE(util::constant_time_equal(a, a));
  EXPECT_FALSE(util::constant_time_equal(a, b));
  EXPECT_FALSE(util::constant_time_equal(a, a.substr(1)));
}

TEST(Crypto, Base64UrlMatchesRfc4648WithoutPadding) {
  EXPECT_EQ(util::base64url(""), "");
  EXPECT_EQ(util::base64url("f"), "Zg");
  EXPECT_EQ(util::base64url("foob"), "Zm9vYg");
  EXPECT_EQ(util::base64url("foobar"), "Zm9vYmFy");
  EXPECT_EQ(util::base64url(std::string("\xfb\xff", 2)), "-_8");
}

TEST(Crypto, RandomIdsKeepThePrefixAndCarry128UniformBits) {
  // 22 url-safe characters: 21 carry 6 bits each, the last 2 (its low 4 bits are padding, 0).
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  constexpr int kIds = 4000;
  std::set<std::string> seen;
  std::vector<int> ones(128, 0);
  for (int i = 0; i < kIds; ++i) {
    const std::string id = util::random_id("w-");
    ASSERT_EQ(id.size(), 24u) << id;
    ASSERT_EQ(id.rfind("w-", 0), 0u) << id;
    EXPECT_TRUE(seen.insert(id).second) << id;
    int bit = 0;
    for (std::size_t k = 2; k < id.size(); ++k) {
      const auto v = alphabet.find(id[k]);
      ASSERT_NE(v, std::string::npos) << id;
      for (int b = 5; b >= 0; --b, ++bit) {
        if (bit < 128) {
          ones[static_cast<std::size_t>(bit)] += static_cast<int>((v >> b) & 1U);
        } else {
          EXPECT_EQ((v >> b) & 1U, 0U) << "padding bit set in " << id;
        }
      }
    }
  }
  // Every one of the 128 bits varies and is set about half the time (mean 2000, sd ~32; the
  // bounds are ~9 sd wide, so a fair source never trips them, a stuck or biased bit does).
  for (int b = 0; b < 128; ++b) {
    EXPECT_GT(ones[static_cast<std::size_t>(b)], kIds / 2 - 300) << "bit " << b;
    EXPECT_LT(ones[static_cast<std::size_t>(b)], kIds / 2 + 300) << "bit " << b;
  }
  EXPECT_EQ(util::random_id("r-").rfind("r-", 0), 0u);
}

TEST(AtomicFile, ReplacesTheFileHonouringTheUmaskUnlessExactAndLeavesNoTemporary) {
  char tmpl[] = "/tmp/paddock-atomic-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string path = dir + "/f";
  const mode_t old_umask = ::umask(077);
  auto a = paddock::util::write_file_atomically(path, "one", 0644);
  auto b = paddock::util::write_file_atomically(dir + "/g", "two", 0644, /*exact_mode=*/true);
  ::umask(old_umask);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(b) << b.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the umask narrows the mode";
  ASSERT_EQ(::stat((dir + "/g").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u) << "exact_mode ignores the umask";
  ASSERT_TRUE(paddock::util::write_file_atomically(path, "three", 0644));
  EXPECT_EQ(paddock::util::read_small_file(path), "three");
  auto bad = paddock::util::write_file_atomically(dir + "/missing/x", "x", 0644);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "io");
  EXPECT_EQ(bad.error().field, dir + "/missing/x");
  EXPECT_NE(bad.error().message.find("open("), std::string::npos) << bad.error().message;
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 2u) << "no temporary file is left behind";
  std::filesystem::remove_all(dir);
}

TEST(Util, GivenBytes_WhenHexedAndBack_ThenTheyComeBackAndBadHexIsRefused) {
  const std::string bytes("\x00\x01\x7f\x80\xfe\xff line", 11);
  const std::string hex =
      paddock::util::to_hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  EXPECT_EQ(hex, "00017f80feff206c696e65");
  EXPECT_EQ(paddock::util::from_hex(hex), bytes);
  EXPECT_EQ(paddock::util::from_hex(""), std::string());
  EXPECT_FALSE(paddock::util::from_hex("abc"));
  EXPECT_FALSE(paddock::util::from_hex("0g"));
  EXPECT_FALSE(paddock::util::from_hex("AB")) << "to_hex writes lower case only";
}
