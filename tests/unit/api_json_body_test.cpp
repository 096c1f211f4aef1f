// Unit tests of request-body parsing and the typed field reader: depth limit, UTF-8, NUL,
// non-finite numbers, wrong types and unknown fields, each reported with the JSON path.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "paddock/api/json_body.hpp"

using namespace paddock::api;
using ::testing::HasSubstr;
using R = FieldReader::Required;

namespace {

std::string nested(std::size_t depth) {
  // {"a":[[[...]]]} with `depth` containers in total.
  std::string s = "{\"a\":";
  for (std::size_t i = 1; i < depth; ++i) s += "[";
  for (std::size_t i = 1; i < depth; ++i) s += "]";
  return s + "}";
}

}  // namespace

TEST(ApiJsonBody, GivenValidObject_WhenParsed_ThenValuesAreAvailable) {
  auto r =
      parse_json_object(R"({"name":"w","command":["sh","-c","echo é"],"limits":{"cpus":0.5}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["command"][2], "echo é");
}

TEST(ApiJsonBody, GivenNestingAtAndAboveTheLimit_WhenParsed_ThenOnlyAboveIsTooDeep) {
  EXPECT_TRUE(parse_json_object(nested(32)).ok());
  auto r = parse_json_object(nested(33));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "too_deep");
  EXPECT_THAT(r.error().message, HasSubstr("32"));
  EXPECT_EQ(parse_json_object(nested(5), 4).error().code, "too_deep");
}

TEST(ApiJsonBody, GivenHugeNesting_WhenParsed_ThenRejectedWithoutExhaustingTheStack) {
  // A million open brackets would overflow a recursive parser or destructor.
  std::string s = "{\"a\":" + std::string(1000000, '[');
  auto r = parse_json_object(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "too_deep");
}

TEST(ApiJsonBody, GivenInvalidUtf8_WhenParsed_ThenRejected) {
  for (const std::string& bad :
       {std::string("{\"a\":\"\xff\"}"), std::string("{\"a\":\"\xc0\xaf\"}"),
        std::string("{\"a\":\"\xed\xa0\x80\"}"),      // UTF-16 surrogate
        std::string("{\"a\":\"\xf4\x90\x80\x80\"}"),  // > U+10FFFF
        std::string("{\"a\":\"\xe2\x82\"}")}) {       // truncated
    auto r = parse_json_object(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "invalid_utf8");
  }
  EXPECT_TRUE(is_valid_utf8("h\xc3\xa9llo \xf0\x9f\x90\x8e"));
  // An escaped lone surrogate is caught by the JSON parser.
  EXPECT_EQ(parse_json_object(R"({"a":"\ud800"})").error().code, "invalid_json");
}

TEST(ApiJsonBody, GivenNonObjectRoots_WhenParsed_ThenNotAnObject) {
  for (const char* body : {"[]", "\"x\"", "1", "null", "true"}) {
    auto r = parse_json_object(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, "not_an_object") << body;
  }
  EXPECT_EQ(parse_json_object("").error().code, "invalid_json");
  EXPECT_EQ(parse_json_object("{\"a\":1} x").error().code, "invalid_json");
  EXPECT_EQ(parse_json_object("{\"a\":1,}").error().code, "invalid_json");
  EXPECT_EQ(parse_json_object("{/*c*/\"a\":1}").error().code, "invalid_json");
}

TEST(ApiJsonBody, GivenNumbersBeyondDouble_WhenParsed_ThenInvalidNumberWithPath) {
  auto r = parse_json_object(R"({"limits":{"cpus":1e999}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_number");
  EXPECT_EQ(r.error().field, "limits.cpus");
  auto r2 = parse_json_object(R"({"a":[1,-1e999]})");
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, "invalid_number");
  EXPECT_EQ(r2.error().field, "a[1]");
  EXPECT_EQ(parse_json_object(R"({"a":[[1],{"b":[2,3,1e400]}]})").error().field, "a[1].b[2]");
  EXPECT_EQ(parse_json_object(R"({"x":1e999})").error().field, "x");
}

TEST(ApiJsonBody, GivenDuplicateKeys_WhenParsed_ThenDuplicateField) {
  auto r = parse_json_object(R"({"a":1,"b":{"x":1,"x":2}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "duplicate_field");
  EXPECT_EQ(r.error().field, "b.x");
  EXPECT_TRUE(parse_json_object(R"({"x":{"x":1},"y":{"x":2}})").ok());
  EXPECT_EQ(parse_json_object(R"({"a":[{"k":1},{"k":1,"k":2}]})").error().field, "a[1].k");
}

TEST(ApiJsonBody, GivenRawControlOrNulBytes_WhenParsed_ThenInvalidJson) {
  EXPECT_EQ(parse_json_object(std::string("{\"a\":\"x\0y\"}", 11)).error().code, "invalid_json");
  EXPECT_EQ(parse_json_object("{\"a\":\"x\ny\"}").error().code, "invalid_json");
}

TEST(ApiFieldReader, GivenEscapedNulInStrings_WhenRead_ThenInvalidFieldWithPath) {
  auto doc =
      parse_json_object(R"({"command":["sh","a\u0000b"],"name":"x\u0000","env":{"K":"v\u0000"}})");
  ASSERT_TRUE(doc.ok()) << "JSON itself allows \\u0000";
  {
    FieldReader r(*doc);
    r.accept("name");
    r.accept("env");
    EXPECT_FALSE(r.string_array("command").has_value());
    auto done = r.finish();
    ASSERT_FALSE(done.ok());
    EXPECT_EQ(done.error().code, "invalid_field");
    EXPECT_EQ(done.error().field, "command[1]");
    EXPECT_THAT(done.error().message, HasSubstr("NUL"));
  }
  {
    FieldReader r(*doc);
    EXPECT_FALSE(r.string("name").has_value());
    EXPECT_EQ(r.finish().error().field, "name");
  }
  {
    FieldReader r(*doc);
    EXPECT_FALSE(r.string_map("env").has_value());
    EXPECT_EQ(r.finish().error().field, "env.K");
  }
}

TEST(ApiFieldReader, GivenWellTypedBody_WhenRead_ThenValuesAndNoError) {
  auto doc = parse_json_object(
      R"({"name":"w1","command":["sh"],"labels":{"team":"a"},"port":true,
          "limits":{"memory_mb":256,"cpus":0.5}})");
  ASSERT_TRUE(doc.ok());
  FieldReader r(*doc);
  EXPECT_EQ(r.string("name", R::Yes).value_or(""), "w1");
  EXPECT_EQ(r.string_array("command", R::Yes)->size(), 1u);
  EXPECT_EQ(r.string_map("labels")->at("team"), "a");
  EXPECT_EQ(r.boolean("port").value_or(false), true);
  EXPECT_FALSE(r.string("profile").has_value());
  auto limits = r.object("limits");
  ASSERT_TRUE(limits.has_value());
  EXPECT_EQ(limits->integer("memory_mb", 1, 1024).value_or(0), 256);
  EXPECT_EQ(limits->number("cpus", 0.01, 64).value_or(0), 0.5);
  EXPECT_TRUE(r.finish().ok());
}

TEST(ApiFieldReader, GivenWrongTypes_WhenRead_ThenFirstErrorNamesTheNestedPath) {
  auto doc = parse_json_object(R"({"limits":{"memory_mb":"512"},"name":5})");
  ASSERT_TRUE(doc.ok());
  FieldReader r(*doc);
  auto limits = r.object("limits");
  ASSERT_TRUE(limits.has_value());
  EXPECT_FALSE(limits->integer("memory_mb", 1, 1024).has_value());
  EXPECT_FALSE(r.string("name").has_value());  // second error: not recorded
  auto done = r.finish();
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.error().code, "invalid_field");
  EXPECT_EQ(done.error().field, "limits.memory_mb");
  EXPECT_THAT(done.error().message, HasSubstr("must be an integer"));
  EXPECT_THAT(done.error().message, HasSubstr("got a string"));
  const auto resp = bad_request(done.error());
  EXPECT_EQ(resp.status, 400u);
  EXPECT_THAT(resp.body, HasSubstr("\"field\":\"limits.memory_mb\""));
}

TEST(ApiFieldReader, GivenIntegerEdgeCases_WhenRead_ThenRangeAndFloatsAreRejected) {
  auto doc = parse_json_object(R"({"a":5.0,"b":2000,"c":-1,"d":18446744073709551615,"e":7})");
  ASSERT_TRUE(doc.ok());
  auto check = [&](const char* key, const char* want_in_message) {
    FieldReader r(*doc);
    for (const char* k : {"a", "b", "c", "d", "e"}) r.accept(k);
    EXPECT_FALSE(r.integer(key, 0, 1024).has_value()) << key;
    auto done = r.finish();
    ASSERT_FALSE(done.ok()) << key;
    EXPECT_EQ(done.error().field, key);
    EXPECT_THAT(done.error().message, HasSubstr(want_in_message)) << key;
  };
  check("a", "got a number");
  check("b", "outside 0..1024");
  check("c", "outside 0..1024");
  check("d", "must be in 0..1024");
  FieldReader ok(*doc);
  for (const char* k : {"a", "b", "c", "d"}) ok.accept(k);
  EXPECT_EQ(ok.integer("e", 0, 1024).value_or(-1), 7);
  EXPECT_TRUE(ok.finish().ok());
}

TEST(ApiFieldReader, GivenUnknownFields_WhenFinished_ThenUnknownFieldWithHint) {
  auto doc = parse_json_object(R"({"command":["sh"],"limts":{}})");
  ASSERT_TRUE(doc.ok());
  FieldReader r(*doc);
  r.string_array("command");
  r.object("limits");
  auto done = r.finish();
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.error().code, "unknown_field");
  EXPECT_EQ(done.error().field, "limts");
  EXPECT_THAT(done.error().message, HasSubstr("did you mean 'limits'"));

  auto doc2 = parse_json_object(R"({"limits":{"memroy_mb":5}})");
  FieldReader r2(*doc2);
  auto limits = r2.object("limits");
  limits->integer("memory_mb", 1, 10);
  auto done2 = r2.finish();
  ASSERT_FALSE(done2.ok());
  EXPECT_EQ(done2.error().field, "limits.memroy_mb");
  EXPECT_THAT(done2.error().message, HasSubstr("did you mean 'memory_mb'"));
}

TEST(ApiFieldReader, GivenMissingRequiredField_WhenRead_ThenMissingField) {
  auto doc = parse_json_object(R"({"limits":{}})");
  FieldReader r(*doc);
  auto limits = r.object("limits", R::Yes);
  EXPECT_FALSE(r.string_array("command", R::Yes).has_value());
  auto done = r.finish();
  ASSERT_FALSE(done.ok());
  EXPECT_EQ(done.error().code, "missing_field");
  EXPECT_EQ(done.error().field, "command");
}

TEST(ApiFieldReader, GivenWrongContainerTypes_WhenRead_ThenInvalidField) {
  auto doc = parse_json_object(R"({"command":"sh","limits":[],"labels":{"a":1},"port":"yes"})");
  auto first_error = [&](auto read) {
    FieldReader r(*doc);
    for (const char* k : {"command", "limits", "labels", "port"}) r.accept(k);
    read(r);
    return r.finish().error();
  };
  EXPECT_EQ(first_error([](FieldReader& r) { r.string_array("command"); }).field, "command");
  EXPECT_EQ(first_error([](FieldReader& r) { r.object("limits"); }).field, "limits");
  EXPECT_EQ(first_error([](FieldReader& r) { r.string_map("labels"); }).field, "labels.a");
  EXPECT_EQ(first_error([](FieldReader& r) { r.boolean("port"); }).field, "port");
  EXPECT_EQ(first_error([](FieldReader& r) { r.number("port", 0, 1); }).field, "port");
}
