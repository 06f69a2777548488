// Message ids as clients send them back (?since=, Last-Event-ID, lastEventId=): arbitrary text
// into MessageId::parse, and channel names into channel_name_problem. What parses must print
// back as an id that parses to the same value; a printed id is always 8 hex digits, '-', digits.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "core/pubsub_wire.h"

namespace {

[[noreturn]] void fail(const char* why, std::string_view text) {
  std::fprintf(stderr, "message_id_fuzz: %s: \"%.*s\"\n", why, static_cast<int>(text.size()), text.data());
  std::abort();
}

bool printed_form(std::string_view text) {
  if (text.size() < 10 || text.size() > 29 || text[8] != '-') return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool ok = i < 8 ? (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') : i == 8 || (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto id = tether::MessageId::parse(text)) {
    std::string printed = id->to_string();
    if (!printed_form(printed)) fail("printed id has the wrong form", printed);
    auto again = tether::MessageId::parse(printed);
    if (!again || again->epoch != id->epoch || again->sequence != id->sequence) fail("id does not round-trip", text);
    if (text.find('\0') != std::string_view::npos) fail("an id with a NUL parsed", text);
  }
  if (!tether::channel_name_problem(text)) {
    if (text.empty() || text.size() > 128) fail("a name of bad length passed", text);
    for (char c : text)
      if (c == '\0' || c == '/' || c == '?' || c == '%' || static_cast<unsigned char>(c) >= 0x80) fail("bad byte in a valid name", text);
  }
  return 0;
}
