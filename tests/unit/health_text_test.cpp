// The health module's JSON strings (modules/common/text.c): whatever bytes a string holds (a
// reload's message quoting the config, a channel name from shared memory), the result is one
// valid JSON string that is also safe inside an HTML <script> element.
#include <gtest/gtest.h>

#include <string>

extern "C" {
#include "modules/common/text.h"
}

namespace {

std::string json_string(const std::string& bytes) {
  text t = {nullptr, 0, 0, 0};
  text_json_string(&t, bytes.data(), bytes.size());
  std::string out = t.failed ? "<failed>" : std::string(t.data, t.length);
  text_free(&t);
  return out;
}

}  // namespace

TEST(HealthText, QuotesBackslashesAndControlBytesAreEscaped) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string(std::string("\x01\n\t\x1f\0z", 6)), "\"\\u0001\\n\\t\\u001f\\u0000z\"");
}

TEST(HealthText, MarkupCharactersAreEscapedSoThatNoScriptElementEnds) {
  EXPECT_EQ(json_string("</script><b>&amp;"), "\"\\u003c/script\\u003e\\u003cb\\u003e\\u0026amp;\"");
}

TEST(HealthText, InvalidUtf8BecomesTheReplacementCharacterAndValidUtf8StaysAsItIs) {
  EXPECT_EQ(json_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  EXPECT_EQ(json_string("a\xff<b"), "\"a\xef\xbf\xbd\\u003cb\"");
  EXPECT_EQ(json_string("\xc3"), "\"\xef\xbf\xbd\"");  // a sequence cut short
}

TEST(HealthText, PrintfAndAppendGrowTheBufferPastItsFirstAllocation) {
  text t = {nullptr, 0, 0, 0};
  std::string expected;
  for (int i = 0; i < 2000; ++i) {
    text_printf(&t, "%d,", i);
    expected += std::to_string(i) + ",";
  }
  text_append(&t, "end", 3);
  expected += "end";
  ASSERT_FALSE(t.failed);
  EXPECT_EQ(std::string(t.data, t.length), expected);
  text_free(&t);
}
