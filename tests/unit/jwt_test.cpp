// The auth module's JWT verifier (modules/auth/) against tokens made by an independent library:
// tests/unit/jwt_tokens.py writes fresh keys and PyJWT tokens into a temporary directory once
// per test process. Every algorithm family: what passes, what is refused and why; then the
// malformed tokens, the keys refused, and the channels claim.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "../../modules/auth/base64url.h"
#include "../../modules/auth/jwt.h"
#include "../../modules/auth/jwt_json.h"

namespace {

struct KeyFree {
  void operator()(jwt_key* key) const { jwt_key_free(key); }
};
using Key = std::unique_ptr<jwt_key, KeyFree>;

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The keys and tokens of jwt_tokens.py, made on first use, their directory removed at exit.
class Fixtures {
 public:
  static const Fixtures& get() {
    static Fixtures fixtures;
    return fixtures;
  }
  std::string token(const std::string& name) const {
    auto it = tokens_.find(name);
    EXPECT_NE(it, tokens_.end()) << "jwt_tokens.py made no token " << name;
    return it == tokens_.end() ? std::string() : it->second;
  }
  std::string file(const std::string& name) const { return read_file(dir_ / name); }
  ~Fixtures() { std::filesystem::remove_all(dir_); }

 private:
  Fixtures() {
    char pattern[] = "/tmp/tether-jwt-XXXXXX";
    dir_ = mkdtemp(pattern);
    std::string command = std::string("/usr/bin/python3 ") + JWT_TOKENS_SCRIPT + " " + dir_.string();
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    std::istringstream lines(file("tokens.tsv"));
    for (std::string line; std::getline(lines, line);) {
      auto tab = line.find('\t');
      if (tab != std::string::npos) tokens_[line.substr(0, tab)] = line.substr(tab + 1);
    }
  }
  std::filesystem::path dir_;
  std::map<std::string, std::string> tokens_;
};

Key pem_key(const std::string& file) {
  std::string pem = Fixtures::get().file(file);
  char why[128] = "";
  Key key(jwt_key_pem(pem.data(), pem.size(), why, sizeof why));
  EXPECT_TRUE(key) << file << ": " << why;
  return key;
}

Key hmac_key() {
  std::string secret = Fixtures::get().file("hmac.key");
  char why[128] = "";
  Key key(jwt_key_hmac(secret.data(), secret.size(), why, sizeof why));
  EXPECT_TRUE(key) << why;
  return key;
}

// The key jwt_tokens.py signed `alg`'s tokens with.
Key key_for(const std::string& alg) {
  if (alg.rfind("HS", 0) == 0) return hmac_key();
  if (alg.rfind("RS", 0) == 0) return pem_key("rsa.pem");
  if (alg == "ES256") return pem_key("p256.pem");
  if (alg == "ES384") return pem_key("p384.pem");
  return pem_key("ed25519.pem");
}

jwt_rules rules(std::uint64_t leeway = 0) {
  return jwt_rules{"https://issuer.test", "tether", leeway, static_cast<std::uint64_t>(std::time(nullptr))};
}

// "ok", or the reason the token was refused.
std::string verdict(const jwt_key* key, const std::string& token, const jwt_rules& r = rules()) {
  jwt_claims claims;
  const char* why = nullptr;
  int status = jwt_verify(key, token.data(), token.size(), &r, &claims, &why);
  jwt_claims_free(&claims);
  if (status == JWT_OK) return "ok";
  EXPECT_EQ(status, JWT_REFUSED) << why;
  return why ? why : "(no reason)";
}

class JwtFamily : public testing::TestWithParam<const char*> {
 protected:
  std::string alg() const { return GetParam(); }
  std::string token(const std::string& variant) const { return Fixtures::get().token(alg() + "." + variant); }
  std::string verdict_on(const std::string& variant, const jwt_rules& r = rules()) const {
    Key key = key_for(alg());
    return key ? verdict(key.get(), token(variant), r) : "no key";
  }
};

TEST_P(JwtFamily, AcceptsAValidTokenAndGivesItsClaims) {
  Key key = key_for(alg());
  ASSERT_TRUE(key);
  std::string t = token("valid");
  jwt_rules r = rules();
  jwt_claims claims;
  const char* why = nullptr;
  ASSERT_EQ(jwt_verify(key.get(), t.data(), t.size(), &r, &claims, &why), JWT_OK) << why;
  EXPECT_EQ(std::string(claims.sub, claims.sub_length), "user-42");
  EXPECT_TRUE(claims.has_exp);
  EXPECT_GT(claims.exp, static_cast<std::int64_t>(r.now_s));
  EXPECT_FALSE(claims.has_nbf);
  ASSERT_TRUE(claims.has_channels);
  EXPECT_EQ(claims.channel_count, 3u);
  EXPECT_TRUE(jwt_publish_allowed(&claims, "news", 4));
  EXPECT_FALSE(jwt_publish_allowed(&claims, "user:42:inbox", 13));
  jwt_claims_free(&claims);
}

TEST_P(JwtFamily, AcceptsATokenWithoutExp) { EXPECT_EQ(verdict_on("no_exp"), "ok"); }
TEST_P(JwtFamily, RefusesAnExpiredToken) { EXPECT_EQ(verdict_on("expired"), "expired"); }
TEST_P(JwtFamily, RefusesATokenNotYetValid) { EXPECT_EQ(verdict_on("not_yet_valid"), "not yet valid"); }

TEST_P(JwtFamily, LeewayCoversAFewSecondsOfClockSkewOnBothSides) {
  EXPECT_EQ(verdict_on("expired_5s_ago"), "expired");
  EXPECT_EQ(verdict_on("valid_in_5s"), "not yet valid");
  EXPECT_EQ(verdict_on("expired_5s_ago", rules(30)), "ok");
  EXPECT_EQ(verdict_on("valid_in_5s", rules(30)), "ok");
  EXPECT_EQ(verdict_on("expired", rules(30)), "expired");
}

TEST_P(JwtFamily, RefusesTheWrongIssuer) {
  EXPECT_EQ(verdict_on("wrong_issuer"), "wrong issuer");
  jwt_rules r = rules();
  r.issuer = nullptr;  // not checked
  EXPECT_EQ(verdict_on("wrong_issuer", r), "ok");
}

TEST_P(JwtFamily, RefusesTheWrongAudienceAsAStringOrAnArray) {
  EXPECT_EQ(verdict_on("wrong_audience"), "wrong audience");
  EXPECT_EQ(verdict_on("wrong_audience_array"), "wrong audience");
  EXPECT_EQ(verdict_on("audience_in_array"), "ok");
}

TEST_P(JwtFamily, RefusesATokenWithAnAudienceWhenNoneIsConfigured) {
  jwt_rules r = rules();
  r.audience = nullptr;
  EXPECT_EQ(verdict_on("valid", r), "token has an audience, none is configured");
}

TEST_P(JwtFamily, RefusesATokenSignedWithAnotherKey) {
  std::string why = verdict_on("other_key");
  // An RSA key of the same size fails on the signature; HMACs and curves have fixed sizes.
  EXPECT_EQ(why, "bad signature");
}

TEST_P(JwtFamily, RefusesAFlippedSignatureBit) {
  Key key = key_for(alg());
  std::string t = token("valid");
  // The second-to-last character: always a full 6 bits of signature.
  char& c = t[t.size() - 2];
  c = c == 'A' ? 'B' : 'A';
  EXPECT_EQ(verdict(key.get(), t), "bad signature");
}

TEST_P(JwtFamily, RefusesADuplicateClaim) { EXPECT_EQ(verdict_on("duplicate_claim"), "duplicate member"); }

TEST_P(JwtFamily, RefusesATruncatedToken) {
  Key key = key_for(alg());
  std::string t = token("valid");
  EXPECT_NE(verdict(key.get(), t.substr(0, t.size() - 4)), "ok");
  EXPECT_EQ(verdict(key.get(), t.substr(0, t.rfind('.'))), "not three segments");
  std::string empty_signature = verdict(key.get(), t.substr(0, t.rfind('.') + 1));
  EXPECT_TRUE(empty_signature == "bad signature" || empty_signature == "bad signature length") << empty_signature;
}

TEST_P(JwtFamily, RefusesAnExtraSegment) {
  Key key = key_for(alg());
  EXPECT_EQ(verdict(key.get(), token("valid") + ".e30"), "not three segments");
}

TEST_P(JwtFamily, RefusesBadBase64url) {
  Key key = key_for(alg());
  std::string t = token("valid");
  std::string padded = t + "=", plus = t, in_header = t;
  plus[plus.size() - 2] = '+';
  in_header[3] = '/';
  EXPECT_EQ(verdict(key.get(), padded), "bad base64url in signature");
  EXPECT_EQ(verdict(key.get(), plus), "bad base64url in signature");
  EXPECT_EQ(verdict(key.get(), in_header), "bad base64url in header");
}

TEST_P(JwtFamily, RefusesAlgNone) {
  Key key = key_for(alg());
  EXPECT_EQ(verdict(key.get(), Fixtures::get().token("none.unsigned")), "unsigned token (alg none)");
  EXPECT_EQ(verdict(key.get(), Fixtures::get().token("none.signed")), "unsigned token (alg none)");
}

INSTANTIATE_TEST_SUITE_P(EveryAlgorithm, JwtFamily,
                         testing::Values("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384",
                                         "EdDSA"));

TEST(Jwt, HmacSignedWithTheRsaPublicKeyAsSecretIsRefusedByTheRsaKey) {
  Key rsa = pem_key("rsa.pem");
  EXPECT_EQ(verdict(rsa.get(), Fixtures::get().token("HS256.with_rsa_public_key")), "algorithm not allowed for this key");
  // Nor can the PEM be made an HMAC key by mistake.
  std::string pem = Fixtures::get().file("rsa.pem");
  char why[128] = "";
  EXPECT_EQ(jwt_key_hmac(pem.data(), pem.size(), why, sizeof why), nullptr);
  EXPECT_STREQ(why, "secret holds a PEM block: give a public key as a public key");
}

TEST(Jwt, TheKeyFixesTheAlgorithmFamily) {
  Key hmac = hmac_key(), rsa = pem_key("rsa.pem"), p256 = pem_key("p256.pem"), p384 = pem_key("p384.pem"),
      ed = pem_key("ed25519.pem");
  const auto& f = Fixtures::get();
  EXPECT_EQ(verdict(hmac.get(), f.token("RS256.valid")), "algorithm not allowed for this key");
  EXPECT_EQ(verdict(rsa.get(), f.token("HS256.valid")), "algorithm not allowed for this key");
  EXPECT_EQ(verdict(rsa.get(), f.token("ES256.valid")), "algorithm not allowed for this key");
  EXPECT_EQ(verdict(p384.get(), f.token("ES256.valid")), "algorithm not allowed for this key");
  EXPECT_EQ(verdict(p256.get(), f.token("ES384.valid")), "algorithm not allowed for this key");
  EXPECT_EQ(verdict(ed.get(), f.token("ES256.valid")), "algorithm not allowed for this key");
  EXPECT_EQ(verdict(p256.get(), f.token("EdDSA.valid")), "algorithm not allowed for this key");
}

TEST(Jwt, RefusesAnEcdsaSignatureOfTheWrongLength) {
  Key p256 = pem_key("p256.pem"), p384 = pem_key("p384.pem");
  EXPECT_EQ(verdict(p256.get(), Fixtures::get().token("ES256.der_signature")), "bad signature length");
  EXPECT_EQ(verdict(p384.get(), Fixtures::get().token("ES384.der_signature")), "bad signature length");
}

TEST(Jwt, AcceptsTheKeyOfACertificate) {
  Key from_certificate = pem_key("rsa-cert.pem");
  ASSERT_TRUE(from_certificate);
  EXPECT_STREQ(jwt_key_kind(from_certificate.get()), "RSA");
  EXPECT_EQ(verdict(from_certificate.get(), Fixtures::get().token("RS256.valid")), "ok");
}

TEST(Jwt, RefusesWeakOrUnsupportedKeys) {
  char why[128] = "";
  std::string rsa1024 = Fixtures::get().file("rsa1024.pem"), p521 = Fixtures::get().file("p521.pem");
  EXPECT_EQ(jwt_key_pem(rsa1024.data(), rsa1024.size(), why, sizeof why), nullptr);
  EXPECT_STREQ(why, "RSA key shorter than 2048 bits");
  EXPECT_EQ(jwt_key_pem(p521.data(), p521.size(), why, sizeof why), nullptr);
  EXPECT_STREQ(why, "EC curve not supported (P-256 and P-384 are)");
  EXPECT_EQ(jwt_key_pem("not a pem", 9, why, sizeof why), nullptr);
  EXPECT_STREQ(why, "no public key or certificate in the PEM");
  EXPECT_EQ(jwt_key_hmac("0123456789abcdef0123456789abcde", 31, why, sizeof why), nullptr);
  EXPECT_STREQ(why, "secret shorter than 32 bytes");
}

TEST(Jwt, RefusesClaimsOfTheWrongTypeAndCriticalHeaderExtensions) {
  Key hmac = hmac_key();
  const auto& f = Fixtures::get();
  EXPECT_EQ(verdict(hmac.get(), f.token("HS256.fractional_exp")), "exp is not an integer");
  EXPECT_EQ(verdict(hmac.get(), f.token("HS256.string_sub")), "sub is not a string");
  EXPECT_EQ(verdict(hmac.get(), f.token("HS256.channels_not_array")), "channels is not an array of strings");
  EXPECT_EQ(verdict(hmac.get(), f.token("HS256.crit_header")), "critical header extension not supported");
}

TEST(Jwt, RefusesATokenLongerThanTheLimitBeforeDecodingIt) {
  Key hmac = hmac_key();
  std::string t = Fixtures::get().token("HS256.valid");
  t.insert(t.find('.') + 1, JWT_MAX_TOKEN, 'A');
  EXPECT_EQ(verdict(hmac.get(), t), "token too long");
}

TEST(Jwt, ChannelsMatchExactlyOrByATrailingWildcard) {
  Key hmac = hmac_key();
  std::string t = Fixtures::get().token("HS256.valid");  // channels: news, user:42:*, a:*:b
  jwt_rules r = rules();
  jwt_claims claims;
  const char* why = nullptr;
  ASSERT_EQ(jwt_verify(hmac.get(), t.data(), t.size(), &r, &claims, &why), JWT_OK) << why;
  auto allowed = [&](const std::string& channel) {
    return jwt_channel_allowed(&claims, channel.data(), channel.size()) != 0;
  };
  EXPECT_TRUE(allowed("news"));
  EXPECT_FALSE(allowed("news2"));
  EXPECT_FALSE(allowed("new"));
  EXPECT_TRUE(allowed("user:42:inbox"));
  EXPECT_TRUE(allowed("user:42:"));
  EXPECT_FALSE(allowed("user:43:inbox"));
  EXPECT_FALSE(allowed("user:42"));
  // '*' is a wildcard only at the end: elsewhere it is just a character.
  EXPECT_FALSE(allowed("a:x:b"));
  EXPECT_TRUE(allowed("a:*:b"));
  EXPECT_FALSE(allowed(""));
  jwt_claims_free(&claims);
}

// The strict JSON reader on its own.
std::string json_verdict(const std::string& text) {
  jwt_json_object object;
  const char* why = nullptr;
  if (jwt_json_parse(text.data(), text.size(), &object, &why) != 0) return why;
  jwt_json_free(&object);
  return "ok";
}

TEST(JwtJson, ReadsTheValuesOfAClaimsObject) {
  std::string text = R"({"s":"a\u00e9\ud83d\ude00\n","i":-9223372036854775808,"n":1.5e3,"big":9223372036854775808,)"
                     R"("t":true,"f":false,"z":null,"l":["x","y"],"o":{"deep":[1,{"k":"v"}]},"m":[1,"x"]})";
  jwt_json_object o;
  const char* why = nullptr;
  ASSERT_EQ(jwt_json_parse(text.data(), text.size(), &o, &why), 0) << why;
  const jwt_json_member* s = jwt_json_find(&o, "s");
  ASSERT_TRUE(s);
  EXPECT_EQ(std::string(s->string.data, s->string.length), "a\xc3\xa9\xf0\x9f\x98\x80\n");
  EXPECT_EQ(jwt_json_find(&o, "i")->kind, JWT_JSON_INTEGER);
  EXPECT_EQ(jwt_json_find(&o, "i")->integer, INT64_MIN);
  EXPECT_EQ(jwt_json_find(&o, "n")->kind, JWT_JSON_NUMBER);
  EXPECT_EQ(jwt_json_find(&o, "big")->kind, JWT_JSON_NUMBER);
  EXPECT_EQ(jwt_json_find(&o, "t")->kind, JWT_JSON_TRUE);
  EXPECT_EQ(jwt_json_find(&o, "f")->kind, JWT_JSON_FALSE);
  EXPECT_EQ(jwt_json_find(&o, "z")->kind, JWT_JSON_NULL);
  ASSERT_EQ(jwt_json_find(&o, "l")->kind, JWT_JSON_STRINGS);
  EXPECT_EQ(jwt_json_find(&o, "l")->item_count, 2u);
  EXPECT_EQ(std::string(jwt_json_find(&o, "l")->items[1].data, 1), "y");
  EXPECT_EQ(jwt_json_find(&o, "o")->kind, JWT_JSON_OTHER);
  EXPECT_EQ(jwt_json_find(&o, "m")->kind, JWT_JSON_OTHER);
  jwt_json_free(&o);
}

TEST(JwtJson, RefusesWhatIsNotStrictJson) {
  EXPECT_EQ(json_verdict(R"({"a":1,"a":2})"), "duplicate member");
  EXPECT_EQ(json_verdict("{\"a\":\"\xc0\xaf\"}"), "invalid UTF-8");
  EXPECT_EQ(json_verdict("{\"a\":\"\xed\xa0\x80\"}"), "invalid UTF-8");
  EXPECT_EQ(json_verdict(R"({"a":"\ud800"})"), "unpaired surrogate");
  EXPECT_EQ(json_verdict(R"({"a":"\udc00"})"), "unpaired surrogate");
  EXPECT_EQ(json_verdict(R"({"a":"\u0000"})"), "NUL in string");
  EXPECT_EQ(json_verdict(R"({"a":"\x41"})"), "bad escape");
  EXPECT_EQ(json_verdict(R"({"a":"\u12"})"), "bad \\u escape");
  EXPECT_EQ(json_verdict("{\"a\":\"\t\"}"), "control character in string");
  EXPECT_EQ(json_verdict(R"({"a":1} x)"), "trailing bytes");
  EXPECT_EQ(json_verdict(R"({"a":1}{})"), "trailing bytes");
  EXPECT_EQ(json_verdict(R"({"a":01})"), "leading zero");
  EXPECT_EQ(json_verdict(R"({"a":-})"), "bad number");
  EXPECT_EQ(json_verdict(R"({"a":1.})"), "bad number");
  EXPECT_EQ(json_verdict(R"({"a":1,})"), "string expected");
  EXPECT_EQ(json_verdict(R"(["a"])"), "not a JSON object");
  EXPECT_EQ(json_verdict(R"({"a":tru})"), "unexpected character");
  EXPECT_EQ(json_verdict(R"({"a":"x)"), "unterminated string");
  EXPECT_EQ(json_verdict(""), "not a JSON object");
}

TEST(JwtJson, BoundsDepthMembersAndSize) {
  std::string deep = "{\"a\":" + std::string(JWT_JSON_MAX_DEPTH, '[') + std::string(JWT_JSON_MAX_DEPTH, ']') + "}";
  EXPECT_EQ(json_verdict(deep), "nested too deep");
  std::string fits = "{\"a\":" + std::string(JWT_JSON_MAX_DEPTH - 1, '[') + std::string(JWT_JSON_MAX_DEPTH - 1, ']') + "}";
  EXPECT_EQ(json_verdict(fits), "ok");
  std::string many = "{";
  for (int i = 0; i <= JWT_JSON_MAX_MEMBERS; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\":0";
  EXPECT_EQ(json_verdict(many + "}"), "too many members");
  std::string strings = "{\"a\":[";
  for (int i = 0; i <= JWT_JSON_MAX_STRINGS; ++i) strings += i ? ",\"\"" : "\"\"";
  EXPECT_EQ(json_verdict(strings + "]}"), "too many strings");
  EXPECT_EQ(json_verdict("{\"a\":\"" + std::string(JWT_JSON_MAX_INPUT, 'x') + "\"}"), "JSON too long");
}

TEST(JwtBase64url, DecodesOnlyTheCanonicalUnpaddedForm) {
  std::uint8_t out[8];
  size_t n = 0;
  ASSERT_EQ(base64url_decode("_-8", 3, out, sizeof out, &n), 0);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(out[0], 0xff);
  EXPECT_EQ(out[1], 0xef);
  EXPECT_EQ(base64url_decode("_-9", 3, out, sizeof out, &n), -1);   // unused bits set
  EXPECT_EQ(base64url_decode("QQ==", 4, out, sizeof out, &n), -1);  // padding
  EXPECT_EQ(base64url_decode("QUJDR", 5, out, sizeof out, &n), -1); // 4n+1 characters
  EXPECT_EQ(base64url_decode("QU+D", 4, out, sizeof out, &n), -1);  // the other alphabet
  EXPECT_EQ(base64url_decode("QUJDRA", 6, out, 3, &n), -1);         // no room
  char text[4];
  base64url_encode(reinterpret_cast<const std::uint8_t*>("\xff\xef"), 2, text);
  EXPECT_EQ(std::string(text, base64url_encoded_length(2)), "_-8");
}

}  // namespace
