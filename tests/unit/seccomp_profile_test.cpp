// Parsing Docker/OCI seccomp profiles: well-formed ones become the model, malformed ones give an
// error that names the JSON path of the wrong value and never crash.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "paddock/seccomp/profile.hpp"

using namespace paddock;
using seccomp::parse_profile;

namespace {

struct Malformed {
  const char* name;
  const char* json;
  const char* field;     ///< expected Error::field
  const char* contains;  ///< expected part of the message
};

const Malformed kMalformed[] = {
    {"NotJson", "{\"defaultAction\": ", "", "invalid JSON at line 1"},
    {"TrailingGarbage", "{\"defaultAction\": \"SCMP_ACT_ALLOW\"} x", "", "invalid JSON"},
    {"BadJsonLaterLine", "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": [,]\n}", "",
     "line 3"},
    {"TopLevelArray", "[]", "(top level)", "expected an object, got an array"},
    {"EmptyObject", "{}", "defaultAction", "missing"},
    {"DefaultActionNotString", R"({"defaultAction": 1})", "defaultAction",
     "expected a string, got an integer"},
    {"UnknownDefaultAction", R"({"defaultAction": "SCMP_ACT_DENY"})", "defaultAction",
     "unknown action 'SCMP_ACT_DENY'"},
    {"NotifyUnsupported", R"({"defaultAction": "SCMP_ACT_NOTIFY"})", "defaultAction",
     "SCMP_ACT_NOTIFY is not supported"},
    {"NegativeDefaultErrno", R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1})",
     "defaultErrnoRet", "non-negative"},
    {"HugeDefaultErrno", R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000})",
     "defaultErrnoRet", "out of range"},
    {"FloatErrno", R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1.5})",
     "defaultErrnoRet", "got a number with a fraction"},
    {"UnknownTopLevelKeyTypo", R"({"defaultAction": "SCMP_ACT_ALLOW", "syscals": []})", "syscals",
     "did you mean 'syscalls'"},
    {"SyscallsNotArray", R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {}})", "syscalls",
     "expected an array"},
    {"RuleNotObject", R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": ["read"]})", "syscalls[0]",
     "expected an object, got a string"},
    {"RuleWithoutNames",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]})",
     "syscalls[0]", "missing 'names'"},
    {"NamesNotStrings",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read", 3], "action": "SCMP_ACT_ERRNO"}]})",
     "syscalls[0].names[1]", "expected a string"},
    {"EmptyNames",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]})",
     "syscalls[0].names", "empty list"},
    {"RuleWithoutAction",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"]}]})", "syscalls[0]",
     "missing 'action'"},
    {"UnknownRuleAction",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "ALLOW"}]})",
     "syscalls[0].action", "unknown action 'ALLOW'"},
    {"UnknownRuleKey",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoret": 1}]})",
     "syscalls[0].errnoret", "did you mean 'errnoRet'"},
    {"ErrnoRetString",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": "EPERM"}]})",
     "syscalls[0].errnoRet", "expected a non-negative integer, got a string"},
    {"EmptyRuleObjectFirst",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{}, {}, {}, {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]})",
     "syscalls[0]", "missing 'names'"},
    {"UnknownOpInFourthRule",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["a"], "action": "SCMP_ACT_ERRNO"}, {"names": ["b"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["c"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]})",
     "syscalls[3].args[0].op", "syscalls[3].args[0].op: unknown op 'SCMP_CMP_FOO'"},
    {"ArgIndexTooLarge",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]})",
     "syscalls[0].args[0].index", "out of range"},
    {"ArgMissingValue",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]})",
     "syscalls[0].args[0]", "missing 'value'"},
    {"ArgNegativeValue",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": -5, "op": "SCMP_CMP_EQ"}]}]})",
     "syscalls[0].args[0].value", "non-negative"},
    {"ArgsNotArray",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": {"index": 0}}]})",
     "syscalls[0].args", "expected an array"},
    {"MaskedEqNeverMatches",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}]})",
     "syscalls[0].args[0]", "never match"},
    {"UnknownArchitecture",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]})",
     "architectures[0]", "unknown architecture 'SCMP_ARCH_Z80'"},
    {"ArchitectureWithoutPrefix",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]})", "architectures[0]",
     "SCMP_ARCH_X86_64"},
    {"ArchMapMissingArchitecture",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"subArchitectures": []}]})", "archMap[0]",
     "missing 'architecture'"},
    {"ArchMapBadSub",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", 7]}]})",
     "archMap[0].subArchitectures[1]", "expected a string"},
    {"IncludesCapsNotCap",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["SYS_ADMIN"]}}]})",
     "syscalls[0].includes.caps[0]", "not a capability name"},
    {"IncludesUnknownArch",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["vax"]}}]})",
     "syscalls[0].includes.arches[0]", "unknown architecture 'vax'"},
    {"BadMinKernel",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "four"}}]})",
     "syscalls[0].excludes.minKernel", "not a kernel version"},
    {"UnknownIncludesKey",
     R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"capabilities": []}}]})",
     "syscalls[0].includes.capabilities", "unknown key"},
    {"ExtensionBadArchAllow",
     R"({"defaultAction": "SCMP_ACT_ERRNO", "paddock": {"badArchAction": "SCMP_ACT_ALLOW"}})",
     "paddock.badArchAction", "filterNonNativeArches"},
    {"ExtensionFilterNotBool",
     R"({"defaultAction": "SCMP_ACT_ERRNO", "paddock": {"filterNonNativeArches": "yes"}})",
     "paddock.filterNonNativeArches", "expected a boolean"},
    {"ExtensionErrnoWithoutErrnoAction",
     R"({"defaultAction": "SCMP_ACT_ERRNO", "paddock": {"badArchErrnoRet": 38}})",
     "paddock.badArchErrnoRet", "only meaningful"},
    {"ExtensionUnknownKey", R"({"defaultAction": "SCMP_ACT_ERRNO", "paddock": {"badArch": 1}})",
     "paddock.badArch", "unknown key"},
    {"FlagsNotStrings", R"({"defaultAction": "SCMP_ACT_ERRNO", "flags": [1]})", "flags[0]",
     "expected a string"},
    {"CommentNotString", R"({"defaultAction": "SCMP_ACT_ERRNO", "comment": 5})", "comment",
     "expected a string"},
};

class MalformedProfile : public ::testing::TestWithParam<Malformed> {};

// Given a malformed profile, when it is parsed, then the error is invalid_profile, names the
// JSON path of the wrong value and says what is wrong.
TEST_P(MalformedProfile, GivenMalformedProfile_WhenParsed_ThenErrorNamesThePath) {
  const auto& c = GetParam();
  auto r = parse_profile(c.json);
  ASSERT_FALSE(r.ok()) << c.name;
  EXPECT_EQ(r.error().code, "invalid_profile");
  EXPECT_EQ(r.error().field, c.field) << r.error().message;
  EXPECT_NE(r.error().message.find(c.contains), std::string::npos) << r.error().message;
  if (!r.error().field.empty()) {
    EXPECT_EQ(r.error().message.rfind(r.error().field + ": ", 0), 0u) << r.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(Seccomp, MalformedProfile, ::testing::ValuesIn(kMalformed),
                         [](const auto& p) { return std::string(p.param.name); });

TEST(SeccompProfile, GivenDockerStyleProfile_WhenParsed_ThenTheModelHoldsEveryPart) {
  auto r = parse_profile(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
    "architectures": ["SCMP_ARCH_X86_64"],
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "args": null},
      {"name": "clone", "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
      {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]},
       "excludes": {"arches": ["s390x"], "minKernel": "4.8"}, "comment": "admin only"},
      {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ],
    "paddock": {"badArchAction": "SCMP_ACT_ERRNO", "badArchErrnoRet": 38, "filterNonNativeArches": true}
  })");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->default_action.kind, seccomp::ActionKind::Errno);
  EXPECT_EQ(r->default_action.ret, 1u);
  ASSERT_EQ(r->arch_map.size(), 1u);
  EXPECT_EQ(r->arch_map[0].first, "x86_64");
  EXPECT_EQ(r->arch_map[0].second, (std::vector<std::string>{"x86", "x32"}));
  EXPECT_EQ(r->architectures, (std::vector<std::string>{"x86_64"}));
  ASSERT_EQ(r->syscalls.size(), 4u);
  EXPECT_EQ(r->syscalls[0].names, (std::vector<std::string>{"read", "write"}));
  EXPECT_TRUE(r->syscalls[0].args.empty());
  EXPECT_EQ(r->syscalls[1].names, (std::vector<std::string>{"clone"}));
  ASSERT_EQ(r->syscalls[1].args.size(), 1u);
  EXPECT_EQ(r->syscalls[1].args[0].op, seccomp::Op::MaskedEqual);
  EXPECT_EQ(r->syscalls[1].args[0].value, 2114060288u);
  EXPECT_EQ(r->syscalls[2].includes.caps, (std::vector<std::string>{"CAP_SYS_ADMIN"}));
  EXPECT_EQ(r->syscalls[2].excludes.min_kernel, "4.8");
  EXPECT_EQ(r->syscalls[3].action.ret, 38u);
  EXPECT_EQ(r->syscalls[3].path, "syscalls[3]");
  EXPECT_EQ(r->arch_policy.bad_arch_action.kind, seccomp::ActionKind::Errno);
  EXPECT_EQ(r->arch_policy.bad_arch_action.ret, 38u);
  EXPECT_TRUE(r->arch_policy.filter_non_native);
}

TEST(SeccompProfile, GivenNoExtension_WhenParsed_ThenNonNativeArchesAreKilled) {
  auto r = parse_profile(R"({"defaultAction": "SCMP_ACT_ERRNO"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->arch_policy.bad_arch_action.kind, seccomp::ActionKind::KillProcess);
  EXPECT_FALSE(r->arch_policy.filter_non_native);
}

TEST(SeccompProfile, GivenFlags_WhenParsed_ThenTheyAreIgnoredWithAWarning) {
  auto r =
      parse_profile(R"({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_LOG"]})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("flags"), std::string::npos);
}

TEST(SeccompProfile, GivenAMissingFile_WhenLoaded_ThenTheErrorNamesThePath) {
  auto r = seccomp::load_profile("/nonexistent/paddock/profile.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/nonexistent/paddock/profile.json"), std::string::npos);
}

TEST(SeccompProfile, GivenTheShippedProfiles_WhenLoaded_ThenTheyParse) {
  for (const char* name : {"default", "strict"}) {
    auto r = seccomp::load_profile(std::string(PADDOCK_SOURCE_DIR) + "/profiles/seccomp/" + name +
                                   ".json");
    ASSERT_TRUE(r.ok()) << name << ": " << r.error().message;
    EXPECT_EQ(r->default_action.kind, seccomp::ActionKind::Errno);
    EXPECT_EQ(r->default_action.ret, 1u);
  }
}

}  // namespace

TEST(SeccompProfile, GivenANumberTooLargeForADouble_WhenParsed_ThenAnErrorNotAnException) {
  // Found by fuzz_seccomp_profile: nlohmann reports this as out_of_range, not parse_error.
  auto p = paddock::seccomp::parse_profile(R"({"defaultAction": "SCMP_ACT_ERRNO", "x": 7e020000})");
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, "invalid_profile");
  EXPECT_NE(p.error().message.find("number overflow"), std::string::npos) << p.error().message;
}
