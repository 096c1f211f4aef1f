// Finding a worker by id, name or unique id prefix.
#include <gtest/gtest.h>

#include "paddock/supervisor/lookup.hpp"

using namespace paddock::supervisor;

namespace {

const std::vector<IdEntry> kEntries{
    {"w-3f9a1c", "web", true},  {"w-3f2b77", "api", true},  {"w-8d0e11", "", true},
    {"w-aa1100", "old", false}, {"w-aa2200", "old", false}, {"w-bb0001", "web", false},
    {"w-cc0001", "w-8d", true},
};

std::vector<std::string> ids(const Lookup& l) {
  std::vector<std::string> out;
  for (const auto& e : l.matches) out.push_back(e.id);
  return out;
}

}  // namespace

TEST(SupervisorLookup, GivenExactIdThenFoundEvenWhenItPrefixesAnother) {
  const std::vector<IdEntry> entries{{"ab", "", true}, {"abc", "", true}};
  const auto l = lookup_id("ab", entries);
  EXPECT_EQ(l.outcome, Lookup::Outcome::Found);
  EXPECT_EQ(l.id, "ab");
}

TEST(SupervisorLookup, GivenNameThenTheLiveWorkerOfThatName) {
  const auto l = lookup_id("web", kEntries);
  ASSERT_EQ(l.outcome, Lookup::Outcome::Found);
  EXPECT_EQ(l.id, "w-3f9a1c");  // not the exited "web" w-bb0001
  EXPECT_EQ(lookup_id("api", kEntries).id, "w-3f2b77");
}

TEST(SupervisorLookup, GivenNameOfOnlyFinishedWorkersThenOneIsFoundAndTwoAreAmbiguous) {
  const std::vector<IdEntry> one{{"x1", "gone", false}, {"x2", "other", true}};
  EXPECT_EQ(lookup_id("gone", one).id, "x1");
  const auto l = lookup_id("old", kEntries);
  EXPECT_EQ(l.outcome, Lookup::Outcome::Ambiguous);
  EXPECT_EQ(ids(l), (std::vector<std::string>{"w-aa1100", "w-aa2200"}));
}

TEST(SupervisorLookup, GivenNameThatIsAlsoAnIdPrefixThenTheNameWins) {
  const auto l = lookup_id("w-8d", kEntries);
  ASSERT_EQ(l.outcome, Lookup::Outcome::Found);
  EXPECT_EQ(l.id, "w-cc0001");
}

TEST(SupervisorLookup, GivenUniquePrefixThenFound) {
  EXPECT_EQ(lookup_id("w-3f9", kEntries).id, "w-3f9a1c");
  EXPECT_EQ(lookup_id("w-8d0", kEntries).id, "w-8d0e11");
  EXPECT_EQ(lookup_id("w-aa1", kEntries).id, "w-aa1100");
}

TEST(SupervisorLookup, GivenSharedPrefixThenAmbiguousListingEveryMatch) {
  const auto l = lookup_id("w-3f", kEntries);
  EXPECT_EQ(l.outcome, Lookup::Outcome::Ambiguous);
  EXPECT_TRUE(l.id.empty());
  EXPECT_EQ(ids(l), (std::vector<std::string>{"w-3f9a1c", "w-3f2b77"}));
  EXPECT_EQ(lookup_id("w-", kEntries).matches.size(), kEntries.size());
}

TEST(SupervisorLookup, GivenNoMatchOrEmptyQueryThenNotFound) {
  for (const char* q : {"", "nope", "w-3f9a1c0", "3f9a", "WEB"}) {
    const auto l = lookup_id(q, kEntries);
    EXPECT_EQ(l.outcome, Lookup::Outcome::NotFound) << q;
    EXPECT_TRUE(l.matches.empty()) << q;
  }
  EXPECT_EQ(lookup_id("x", {}).outcome, Lookup::Outcome::NotFound);
}
