// SigV4 against the published aws-sig-v4-test-suite vectors (AKIDEXAMPLE, us-east-1, service "service",
// 20150830T123600Z), and the signed STS GetCallerIdentity login request of AWS IAM auth.
#include <doctest/doctest.h>

#include "core/base64.h"
#include "core/json.h"
#include "infisical/aws.h"
#include "infisical/sigv4.h"

using namespace ifo::infisical;

namespace {

const AwsCredentials kSuiteCreds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "", {}, "test"};
constexpr const char* kDate = "20150830T123600Z";
constexpr const char* kEmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Vector {
  const char* name;
  const char* method;
  const char* path;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> extra_headers;  // besides Host and X-Amz-Date
  const char* payload_hash;
  const char* canonical_request;
  const char* string_to_sign_hash;  // last line of the string to sign
  const char* signature;
};

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> v = {
      {"get-vanilla", "GET", "/", {}, {}, kEmptyHash,
       "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"get-vanilla-query-order-key-case", "GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}}, {}, kEmptyHash,
       "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-unreserved", "GET", "/",
       {{"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
         "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}},
       {}, kEmptyHash, nullptr, "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
       "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
      {"get-vanilla-utf8-query", "GET", "/", {{"\xE1\x88\xB4", "bar"}}, {}, kEmptyHash, nullptr,
       "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-header-key-duplicate", "GET", "/", {},
       {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, kEmptyHash, nullptr,
       "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
       "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"get-header-value-order", "GET", "/", {},
       {{"My-Header1", "value4"}, {"My-Header1", "value1"}, {"My-Header1", "value3"}, {"My-Header1", "value2"}},
       kEmptyHash, nullptr, "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
       "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-value-trim", "GET", "/", {}, {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
       kEmptyHash,
       "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\n"
       "host;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
       "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", {}, {},
       kEmptyHash, nullptr, "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
       "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-utf8", "GET", "/\xE1\x88\xB4", {}, {}, kEmptyHash, nullptr,
       "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
       "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
      {"get-space-unnormalized", "GET", "/example space/", {}, {}, kEmptyHash, nullptr,
       "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
       "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
      {"get-slashes-unnormalized", "GET", "//example//", {}, {}, kEmptyHash, nullptr,
       "528ec3105ee1f34ab014bb0a1a45da0ed2742a4fea3555149e5b4d5d201eb240",
       "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5"},
      {"post-vanilla", "POST", "/", {}, {}, kEmptyHash, nullptr,
       "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"post-vanilla-query", "POST", "/", {{"Param1", "value1"}}, {}, kEmptyHash, nullptr,
       "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
       "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
      {"post-header-key-sort", "POST", "/", {}, {{"My-Header1", "value1"}}, kEmptyHash, nullptr,
       "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
       "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
      {"post-x-www-form-urlencoded", "POST", "/", {},
       {{"Content-Type", "application/x-www-form-urlencoded"},
        {"Content-Length", "13"},
        {"X-Amz-Content-Sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}},
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\n"
       "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
       "x-amz-date:20150830T123600Z\n\ncontent-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
       "b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb",
       "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"},
      {"post-x-www-form-urlencoded-parameters", "POST", "/", {},
       {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"Content-Length", "13"},
        {"X-Amz-Content-Sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}},
       "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e", nullptr,
       "a89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d",
       "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422"},
  };
  return v;
}

}  // namespace

TEST_CASE("sigv4: the aws-sig-v4-test-suite vectors (canonical request, string to sign, signature)") {
  for (const auto& v : vectors()) {
    CAPTURE(v.name);
    SigV4Request req;
    req.method = v.method;
    req.path = v.path;
    req.query = v.query;
    req.headers = {{"Host", "example.amazonaws.com"}};
    for (const auto& h : v.extra_headers) req.headers.push_back(h);
    req.headers.emplace_back("X-Amz-Date", kDate);
    req.payload_sha256_hex = v.payload_hash;
    auto sig = sigv4_sign(req, kSuiteCreds, "us-east-1", "service", kDate);
    if (v.canonical_request != nullptr) CHECK(sig.canonical_request == v.canonical_request);
    CHECK(sig.string_to_sign == std::string("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n") +
                                    v.string_to_sign_hash);
    CHECK(sig.signature == v.signature);
    CHECK(sig.authorization.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=", 0) == 0);
    CHECK(sig.authorization.find("Signature=" + std::string(v.signature)) != std::string::npos);
  }
}

TEST_CASE("sigv4: a changed secret, date or body changes the signature") {
  SigV4Request req;
  req.method = "GET";
  req.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kDate}};
  req.payload_sha256_hex = kEmptyHash;
  auto base = sigv4_sign(req, kSuiteCreds, "us-east-1", "service", kDate).signature;
  AwsCredentials other = kSuiteCreds;
  other.secret_access_key.back() = 'X';
  CHECK(sigv4_sign(req, other, "us-east-1", "service", kDate).signature != base);
  CHECK(sigv4_sign(req, kSuiteCreds, "eu-west-1", "service", kDate).signature != base);
  req.payload_sha256_hex = sha256_hex("x");
  CHECK(sigv4_sign(req, kSuiteCreds, "us-east-1", "service", kDate).signature != base);
}

TEST_CASE("sigv4: helpers") {
  CHECK(sha256_hex("") == kEmptyHash);
  CHECK(sha256_hex("Param1=value1") == "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  CHECK(amz_date(std::chrono::system_clock::from_time_t(1440938160)) == "20150830T123600Z");
  CHECK(aws_uri_encode("a b/c+d", true) == "a%20b/c%2Bd");
  CHECK(aws_uri_encode("a b/c", false) == "a%20b%2Fc");
}

TEST_CASE("aws login fields: a GetCallerIdentity request signed for sts.<region>.amazonaws.com") {
  AwsCredentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "SESSION-TOKEN-123", {}, "test"};
  auto now = std::chrono::system_clock::from_time_t(1440938160);
  auto f = build_aws_login_fields(creds, "eu-central-1", now);
  CHECK(f.iam_http_request_method == "POST");
  CHECK(*ifo::core::base64_decode(f.iam_request_body) == "Action=GetCallerIdentity&Version=2011-06-15");
  auto headers_json = ifo::core::base64_decode(f.iam_request_headers);
  REQUIRE(headers_json.ok());
  auto doc = ifo::core::parse_json(*headers_json);
  REQUIRE(doc.ok());
  const auto& h = **doc;
  CHECK(ifo::core::string_or(h, "Host", "") == "sts.eu-central-1.amazonaws.com");
  CHECK(ifo::core::string_or(h, "Content-Type", "") == "application/x-www-form-urlencoded; charset=utf-8");
  CHECK(ifo::core::string_or(h, "Content-Length", "") == "43");
  CHECK(ifo::core::string_or(h, "X-Amz-Date", "") == "20150830T123600Z");
  CHECK(ifo::core::string_or(h, "X-Amz-Security-Token", "") == "SESSION-TOKEN-123");
  std::string auth = ifo::core::string_or(h, "Authorization", "");
  CHECK(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-central-1/sts/aws4_request, "
                   "SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-security-token, Signature=", 0) == 0);

  // A verifier that knows the secret recomputes the same signature from the forwarded headers.
  SigV4Request again;
  again.method = "POST";
  for (const char* name : {"Content-Length", "Content-Type", "Host", "X-Amz-Date", "X-Amz-Security-Token"})
    again.headers.emplace_back(name, ifo::core::string_or(h, name, ""));
  again.payload_sha256_hex = sha256_hex("Action=GetCallerIdentity&Version=2011-06-15");
  auto sig = sigv4_sign(again, creds, "eu-central-1", "sts", "20150830T123600Z");
  CHECK(auth == sig.authorization);
}

TEST_CASE("xml_text and parse_iso8601 read STS answers") {
  std::string xml =
      "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
      "<AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s&amp;k</SecretAccessKey>"
      "<Expiration>2026-01-01T01:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult>"
      "</AssumeRoleWithWebIdentityResponse>";
  CHECK(xml_text(xml, "AccessKeyId") == "ASIA1");
  CHECK(xml_text(xml, "SecretAccessKey") == "s&k");
  CHECK_FALSE(xml_text(xml, "SessionToken").has_value());
  auto t = parse_iso8601(*xml_text(xml, "Expiration"));
  REQUIRE(t.has_value());
  CHECK(std::chrono::system_clock::to_time_t(*t) == 1767229200);
  CHECK(parse_iso8601("2026-01-01T01:00:00.123Z").has_value());
  CHECK_FALSE(parse_iso8601("yesterday").has_value());
}
