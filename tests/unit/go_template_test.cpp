// Unit tests for the Go text/template engine (core::GoTemplate): language, Sprig and upstream functions,
// Go's error texts with positions, and the limits that keep a tenant's template from hurting the operator.
#include <doctest/doctest.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

#include "core/go_template.h"

using namespace ifo::core;

namespace {

constexpr int64_t kNow = 1700000000;  // 2023-11-14T22:13:20Z

const TemplateData& data() {
  static const TemplateData d = {
      {"DB_URL", {"postgres://x", "/app"}},
      {"USER", {"admin", "/"}},
      {"PASS", {"s3cr3t<&>", "/db"}},
      {"EMPTY", {"", "/"}},
      {"JSON", {R"({"a":1,"b":[true,"x"]})", "/"}},
  };
  return d;
}

std::string run(std::string_view text, const TemplateData& d = data()) {
  auto t = GoTemplate::parse(text);
  if (!t) return "PARSE ERROR: " + t.error();
  auto r = render(*t, d, kNow);
  if (!r) return "EXEC ERROR: " + r.error();
  return *r;
}

std::string error_of(std::string_view text, const TemplateLimits& limits = {}) {
  auto t = GoTemplate::parse(text, "secret-templates", limits);
  if (!t) return t.error();
  auto r = render(*t, data(), kNow);
  if (!r) return r.error();
  return "NO ERROR: " + *r;
}

struct Case {
  const char* tmpl;
  const char* want;
};

void check_table(std::initializer_list<Case> cases) {
  for (const auto& c : cases) {
    CAPTURE(c.tmpl);
    CHECK(run(c.tmpl) == c.want);
  }
}

}  // namespace

TEST_CASE("secret data: .KEY.Value, .KEY.SecretPath, the struct, a missing key") {
  check_table({
      {"{{ .DB_URL.Value }}", "postgres://x"},
      {"{{ .DB_URL.SecretPath }}", "/app"},
      {"{{ .DB_URL }}", "{postgres://x /app}"},
      {"{{ .MISSING }}", "<no value>"},
      {"{{ .MISSING.Value }}", "<no value>"},
      {"{{ index . \"MISSING\" }}", "{ }"},
      {"{{ (index . \"USER\").Value }}", "admin"},
      {"{{ printf \"%+v\" .USER }}", "{Value:admin SecretPath:/}"},
      {"postgres://{{ .USER.Value }}:{{ .PASS.Value }}@db", "postgres://admin:s3cr3t<&>@db"},
      {"{{ len . }}", "5"},
      {"{{ range $k, $v := . }}{{ $k }}={{ $v.Value }};{{ end }}",
       "DB_URL=postgres://x;EMPTY=;JSON={\"a\":1,\"b\":[true,\"x\"]};PASS=s3cr3t<&>;USER=admin;"},
  });
}

TEST_CASE("text, trim markers and comments") {
  check_table({
      {"a  {{- \"b\" -}}  c", "abc"},
      {"a {{- /* gone */ -}} b", "ab"},
      {"a{{/* gone */}}b", "ab"},
      {"{{ \"x\" }}\n{{- \"y\" }}", "xy"},
      {"line1\n  {{- \"\" }}", "line1"},
      {"{{-3}}", "-3"},
  });
}

TEST_CASE("literals, variables, pipelines and parentheses") {
  check_table({
      {"{{ 3 }} {{ 1.5 }} {{ 0x1F }} {{ 1e3 }} {{ 'a' }} {{ true }} {{ \"q\\t\" | quote }}", "3 1.5 31 1000 97 true \"q\\t\""},
      {"{{ `raw\\n` }}", "raw\\n"},
      {"{{ $x := \"hi\" }}{{ $x }}{{ $x = \"ho\" }}{{ $x }}", "hiho"},
      {"{{ $.USER.Value }}", "admin"},
      {"{{ $u := .USER }}{{ $u.Value }}", "admin"},
      {"{{ \"hello\" | upper }}", "HELLO"},
      {"{{ \"hello\" | upper | printf \"%s!\" }}", "HELLO!"},
      {"{{ (printf \"%s-%s\" \"a\" \"b\") | upper }}", "A-B"},
      {"{{ (dict \"k\" \"v\").k }}", "v"},
      {"{{ printf \"%s:%d\" \"a\" 3 }}", "a:3"},
  });
}

TEST_CASE("if / else if / else, with, range with break and continue") {
  check_table({
      {"{{ if .USER }}yes{{ else }}no{{ end }}", "yes"},
      {"{{ if .MISSING }}yes{{ else }}no{{ end }}", "no"},
      {"{{ if eq .USER.Value \"root\" }}r{{ else if eq .USER.Value \"admin\" }}a{{ else }}o{{ end }}", "a"},
      {"{{ with .USER }}{{ .Value }}{{ end }}", "admin"},
      {"{{ with .MISSING }}x{{ else }}none{{ end }}", "none"},
      {"{{ range list 1 2 3 }}{{ . }}{{ end }}", "123"},
      {"{{ range $i, $v := list \"a\" \"b\" }}{{ $i }}{{ $v }},{{ end }}", "0a,1b,"},
      {"{{ range list }}x{{ else }}empty{{ end }}", "empty"},
      {"{{ range $i, $v := until 10 }}{{ if eq $v 2 }}{{ continue }}{{ end }}{{ if gt $v 4 }}{{ break }}{{ end }}{{ $v }}{{ end }}",
       "0134"},
      {"{{ range $k, $v := dict \"b\" 2 \"a\" 1 }}{{ $k }}{{ $v }}{{ end }}", "a1b2"},
      {"{{ range 3 }}{{ . }}{{ end }}", "012"},
      {"{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" \"x\" }}", "[x]"},
      {"{{ block \"b\" .USER.Value }}<{{ . }}>{{ end }}", "<admin>"},
  });
}

TEST_CASE("builtins: and, or, not, len, index, print, comparisons, escapers") {
  check_table({
      {"{{ and 1 0 }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 \"x\" }} {{ not .MISSING }}", "0 2  x true"},
      {"{{ len \"abc\" }} {{ len (list 1 2) }}", "3 2"},
      {"{{ index (list \"a\" \"b\") 1 }} {{ index (dict \"k\" \"v\") \"k\" }}", "b v"},
      {"{{ print \"a\" 1 2 \"b\" }}|{{ println \"a\" 1 }}", "a1 2b|a 1\n"},
      {"{{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}",
       "true true true true true false"},
      {"{{ html \"<a href='x'>&</a>\" }}", "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"},
      {"{{ js \"it's <b>\" }}", "it\\'s \\u003Cb\\u003E"},
      {"{{ urlquery \"a b&c=d/é\" }}", "a+b%26c%3Dd%2F%C3%A9"},
  });
}

TEST_CASE("printf verbs follow Go's fmt") {
  check_table({
      {"{{ printf \"%v %v %v\" (list \"a\" \"b\") (dict \"b\" 2 \"a\" 1) nil }}", "[a b] map[a:1 b:2] <nil>"},
      {"{{ printf \"%05d|%-4d|%4d|%x|%X|%o|%b|%c|%q\" 42 7 7 255 255 8 5 65 \"hi\" }}", "00042|7   |   7|ff|FF|10|101|A|\"hi\""},
      {"{{ printf \"%.2f|%f|%e|%g|%v\" 3.14159 2.5 1234.5 0.000012 1000000.0 }}",
       "3.14|2.500000|1.234500e+03|1.2e-05|1e+06"},
      {"{{ printf \"%t %s %T %T\" true \"x\" 1 .USER }}", "true x int model.SecretTemplateOptions"},
      {"{{ printf \"%d\" \"x\" }}", "%!d(string=x)"},
      {"{{ printf \"%s %s\" \"a\" }}", "a %!s(MISSING)"},
      {"{{ printf \"%s\" \"a\" 1 }}", "a%!(EXTRA int=1)"},
      {"{{ printf \"%x\" \"hi\" }} {{ printf \"%6.2s|\" \"abc\" }} {{ printf \"100%%\" }}", "6869     ab| 100%"},
  });
}

TEST_CASE("Sprig string functions") {
  check_table({
      {"{{ trim \"  x  \" }}|{{ trimAll \"$\" \"$5.00$\" }}|{{ trimPrefix \"-\" \"-x\" }}|{{ trimSuffix \"-\" \"x-\" }}",
       "x|5.00|x|x"},
      {"{{ upper \"a\" }}{{ lower \"B\" }} {{ title \"hello world\" }} {{ untitle \"Hello World\" }}",
       "Ab Hello World hello world"},
      {"{{ repeat 3 \"ab\" }} {{ substr 0 5 \"hello world\" }} {{ nospace \"h e l\" }} {{ trunc 5 \"hello world\" }}",
       "ababab hello hel hello"},
      {"{{ trunc -5 \"hello world\" }} {{ abbrev 5 \"hello world\" }} {{ initials \"First Try\" }}", "world he... FT"},
      {"{{ contains \"cat\" \"catch\" }} {{ hasPrefix \"cat\" \"catch\" }} {{ hasSuffix \"ch\" \"catch\" }}",
       "true true true"},
      {"{{ quote \"a\" 1 }} {{ squote \"a\" }} {{ cat \"hello\" \"beautiful\" \"world\" }}",
       "\"a\" \"1\" 'a' hello beautiful world"},
      {"{{ indent 2 \"a\\nb\" }}|{{ nindent 2 \"a\" }}", "  a\n  b|\n  a"},
      {"{{ replace \" \" \"-\" \"I Am Henry\" }} {{ plural \"one\" \"many\" 2 }} {{ plural \"one\" \"many\" 1 }}",
       "I-Am-Henry many one"},
      {"{{ snakecase \"FirstName\" }} {{ snakecase \"HTTPServer\" }} {{ camelcase \"http_server\" }} "
       "{{ kebabcase \"FirstName\" }} {{ swapcase \"This Is\" }}",
       "first_name http_server HttpServer first-name tHIS iS"},
      {"{{ $a := split \"$\" \"foo$bar$baz\" }}{{ $a._0 }}{{ $a._2 }} {{ splitList \",\" \"a,b\" }} {{ join \"-\" (list 1 \"a\" 2) }}",
       "foobaz [a b] 1-a-2"},
      {"{{ sortAlpha (list \"c\" \"a\" \"b\") }} {{ toString 42 }} {{ toString .USER }}", "[a b c] 42 {admin /}"},
      {"{{ wrap 5 \"Hello World\" }}", "Hello\nWorld"},
  });
}

TEST_CASE("Sprig defaults, lists, dicts and maths") {
  check_table({
      {"{{ .MISSING | default \"foo\" }} {{ \"bar\" | default \"foo\" }} {{ .EMPTY.Value | default \"d\" }}",
       "foo bar d"},
      {"{{ empty \"\" }} {{ empty (list) }} {{ empty .USER }} {{ coalesce 0 \"\" \"x\" }} {{ ternary \"y\" \"n\" true }}",
       "true true false x y"},
      {"{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" 2 }}{{ $d }} {{ get $d \"a\" }}{{ get $d \"zz\" }} {{ hasKey $d \"b\" }}",
       "map[a:1 b:2] 1 true"},
      {"{{ keys (dict \"b\" 1 \"a\" 2) }} {{ values (dict \"b\" 1 \"a\" 2) }} {{ pick (dict \"a\" 1 \"b\" 2) \"a\" }}",
       "[a b] [2 1] map[a:1]"},
      {"{{ first (list 1 2 3) }} {{ last (list 1 2 3) }} {{ rest (list 1 2 3) }} {{ initial (list 1 2 3) }}",
       "1 3 [2 3] [1 2]"},
      {"{{ append (list 1 2) 3 }} {{ prepend (list 1) 0 }} {{ reverse (list 1 2) }} {{ uniq (list 1 1 2) }}",
       "[1 2 3] [0 1] [2 1] [1 2]"},
      {"{{ has 2 (list 1 2) }} {{ without (list 1 2 3) 2 }} {{ compact (list 1 \"\" 2) }} {{ slice (list 1 2 3) 1 }}",
       "true [1 3] [1 2] [2 3]"},
      {"{{ until 3 }} {{ untilStep 0 10 4 }} {{ first (list) }}", "[0 1 2] [0 4 8] <no value>"},
      {"{{ add 1 2 3 }} {{ sub 3 1 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 2 }} {{ max 1 5 3 }} {{ min 4 2 }} {{ add1 1 }}",
       "6 2 24 3 1 5 2 2"},
      {"{{ atoi \"42\" }} {{ int \"7\" }} {{ int64 3.9 }} {{ float64 \"1.5\" }} {{ add \"2\" 1 }}", "42 7 3 1.5 3"},
      {"{{ typeOf (list) }} {{ kindOf \"x\" }} {{ kindIs \"map\" (dict) }}", "[]interface {} string true"},
  });
}

TEST_CASE("JSON, YAML, encodings and digests") {
  check_table({
      {"{{ toJson (dict \"a\" 1 \"b\" (list \"<x>\" true nil)) }}", "{\"a\":1,\"b\":[\"\\u003cx\\u003e\",true,null]}"},
      {"{{ toJson .USER }}", "{\"value\":\"admin\",\"secretPath\":\"/\"}"},
      {"{{ toPrettyJson (dict \"a\" (list 1)) }}", "{\n  \"a\": [\n    1\n  ]\n}"},
      {"{{ toRawJson (dict \"a\" \"<&>\") }}", "{\"a\":\"<&>\"}"},
      {"{{ (.JSON.Value | fromJson).a }} {{ index (.JSON.Value | fromJson).b 1 }}", "1 x"},
      {"{{ toYaml (dict \"a\" 1 \"b\" (list \"x\" \"true\") \"c\" (dict \"d\" \"multi\\nline\")) }}",
       "a: 1\nb:\n- x\n- \"true\"\nc:\n  d: |-\n    multi\n    line"},
      {"{{ toYaml (dict \"k\" \"a: b\" \"e\" \"\") }}", "e: \"\"\nk: 'a: b'"},
      {"{{ b64enc \"hello\" }} {{ b64dec \"aGVsbG8=\" }} {{ b64dec \"!!\" }}",
       "aGVsbG8= hello illegal base64 data at input byte 0"},
      {"{{ b32enc \"hello\" }} {{ b32dec \"NBSWY3DP\" }}", "NBSWY3DP hello"},
      {"{{ encodeBase64 \"hi\" }} {{ \"aGk=\" | decodeBase64ToBytes }} {{ \"aGk=\" | decodeBase64ToBytes | toString }}",
       "aGk= [104 105] hi"},
      {"{{ sha256sum \"hello\" }}", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
      {"{{ sha1sum \"hello\" }} {{ adler32sum \"hello\" }}", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d 103547413"},
  });
}

TEST_CASE("regex functions (std::regex ECMAScript)") {
  check_table({
      {"{{ regexMatch \"^[a-z]+@example\\\\.com$\" \"bob@example.com\" }}", "true"},
      {"{{ regexFind \"[0-9]+\" \"abc123def456\" }}", "123"},
      {"{{ regexFindAll \"[0-9]\" \"a1b2c3\" -1 }}", "[1 2 3]"},
      {"{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"${1}W\" }}", "-W-xxW-"},
      {"{{ regexReplaceAllLiteral \"a(x*)b\" \"-ab-\" \"${1}\" }}", "-${1}-"},
      {"{{ regexSplit \"z+\" \"pizza\" -1 }}", "[pi a]"},
      {"{{ regexMatch \"(?i)ABC\" \"xabcx\" }}", "true"},
  });
}

TEST_CASE("dates use the time given to render") {
  check_table({
      {"{{ now | date \"2006-01-02T15:04:05Z07:00\" }}", "2023-11-14T22:13:20Z"},
      {"{{ date \"Mon Jan 2 03:04:05 PM MST 2006\" 0 }}", "Thu Jan 1 12:00:00 AM UTC 1970"},
      {"{{ dateInZone \"2006-01-02\" (now) \"UTC\" }} {{ unixEpoch now }} {{ now.Unix }}",
       "2023-11-14 1700000000 1700000000"},
      {"{{ now }}", "2023-11-14 22:13:20 +0000 UTC"},
  });
}

TEST_CASE("errors name the template, line and byte column like Go") {
  CHECK(error_of("{{ .USER.value }}") ==
        "template: secret-templates:1:3: executing \"secret-templates\" at <.USER.value>: can't evaluate field "
        "value in type model.SecretTemplateOptions");
  CHECK(error_of("line\n  {{ .USER.value }}") ==
        "template: secret-templates:2:5: executing \"secret-templates\" at <.USER.value>: can't evaluate field "
        "value in type model.SecretTemplateOptions");
  CHECK(error_of("{{ env \"HOME\" }}") == "template: secret-templates:1: function \"env\" not defined");
  CHECK(error_of("{{ expandenv \"$HOME\" }}") == "template: secret-templates:1: function \"expandenv\" not defined");
  CHECK(error_of("{{ nosuchfn }}") == "template: secret-templates:1: function \"nosuchfn\" not defined");
  CHECK(error_of("a\n{{ .USER") == "template: secret-templates:2: unclosed action");
  CHECK(error_of("{{ end }}") == "template: secret-templates:1: unexpected {{end}}");
  CHECK(error_of("{{ if .USER }}x") == "template: secret-templates:1: unexpected EOF");
  CHECK(error_of("{{ $x }}") == "template: secret-templates:1: undefined variable \"$x\"");
  CHECK(error_of("{{ break }}") == "template: secret-templates:1: {{break}} outside {{range}}");
  CHECK(error_of("{{ \"a\" | \"b\" }}") == "template: secret-templates:1: non executable command in pipeline stage 2");
  CHECK(error_of("{{ }}") == "template: secret-templates:1: missing value for command");
  CHECK(error_of("{{ upper 3 }}") ==
        "template: secret-templates:1:9: executing \"secret-templates\" at <3>: expected string; found 3");
  CHECK(error_of("{{ .MISSING | upper }}") ==
        "template: secret-templates:1:14: executing \"secret-templates\" at <upper>: invalid value; expected string");
  CHECK(error_of("{{ upper \"a\" \"b\" }}") ==
        "template: secret-templates:1:3: executing \"secret-templates\" at <upper>: wrong number of args for upper: "
        "want 1 got 2");
  CHECK(error_of("{{ div 1 0 }}") ==
        "template: secret-templates:1:3: executing \"secret-templates\" at <div>: error calling div: runtime error: "
        "integer divide by zero");
  CHECK(error_of("{{ eq 1 \"a\" }}") ==
        "template: secret-templates:1:3: executing \"secret-templates\" at <eq>: error calling eq: incompatible types "
        "for comparison");
  CHECK(error_of("{{ index (list 1) 5 }}") ==
        "template: secret-templates:1:3: executing \"secret-templates\" at <index>: error calling index: index out of "
        "range: 5");
  CHECK(error_of("{{ fail \"boom\" }}") ==
        "template: secret-templates:1:3: executing \"secret-templates\" at <fail>: error calling fail: boom");
  CHECK(error_of("{{ uuidv4 }}").find("error calling uuidv4: not supported") != std::string::npos);
  CHECK(error_of("{{ template \"nope\" }}") ==
        "template: secret-templates:1:3: executing \"secret-templates\" at <{{template \"nope\"}}>: template \"nope\" "
        "not defined");
}

TEST_CASE("hostile templates hit limits, not the operator") {
  CHECK(error_of("{{ range until 200000 }}{{ end }}").find("list longer than 100000") != std::string::npos);
  CHECK(error_of("{{ range $i := until 1000 }}{{ range until 1000 }}{{ end }}{{ end }}")
            .find("range iterations exceed 100000") != std::string::npos);
  CHECK(error_of("{{ repeat 2000000 \"x\" }}").find("result exceeds 1048576 bytes") != std::string::npos);
  CHECK(error_of("{{ range until 2000 }}{{ repeat 1000 \"x\" }}{{ end }}").find("template output exceeds") !=
        std::string::npos);
  CHECK(error_of("{{ $x := \"xx\" }}{{ range until 100 }}{{ $x = print $x $x }}{{ end }}").find("exceeds") !=
        std::string::npos);
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "{{ if true }}";
  CHECK(error_of(deep).find("nesting deeper than 100") != std::string::npos);
  std::string parens = "{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}";
  CHECK(error_of(parens).find("nesting deeper than 100") != std::string::npos);
  CHECK(error_of("{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}")
            .find("exceeded maximum template depth (100)") != std::string::npos);
}

TEST_CASE("a parsed template renders many times with different data") {
  auto t = GoTemplate::parse("{{ .K.Value | upper }}");
  REQUIRE(t);
  CHECK(*render(*t, {{"K", {"a", "/"}}}, kNow) == "A");
  CHECK(*render(*t, {{"K", {"b", "/"}}}, kNow) == "B");
  auto missing = render(*t, {}, kNow);  // a missing key is nil, which a string parameter refuses
  REQUIRE(!missing);
  CHECK(missing.error().find("invalid value; expected string") != std::string::npos);
}

namespace {

// A fresh P-256 key and self-signed certificate, as PEM.
struct KeyAndCert {
  std::string key_pem;
  std::string cert_pem;
};

KeyAndCert make_cert() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("tmpl-test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  auto to_string = [](BIO* bio) {
    char* p = nullptr;
    const long n = BIO_get_mem_data(bio, &p);
    std::string s(p, static_cast<size_t>(n));
    BIO_free(bio);
    return s;
  };
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, cert);
  KeyAndCert out{to_string(kb), to_string(cb)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace

TEST_CASE("PEM and PKCS#12 helpers (upstream's custom functions)") {
  const KeyAndCert kc = make_cert();
  REQUIRE(kc.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
  TemplateData d = {{"CERT", {kc.key_pem + kc.cert_pem, "/"}}, {"KEY", {kc.key_pem, "/"}},
                    {"CRT", {kc.cert_pem, "/"}}};

  CHECK(run("{{ .CERT.Value | filterPEM \"CERTIFICATE\" }}", d) == kc.cert_pem);
  CHECK(run("{{ .CERT.Value | filterPEM \"private key\" }}", d) == kc.key_pem);
  CHECK(run("{{ .CERT.Value | filterPEM \"RSA PRIVATE KEY\" }}", d) == "");
  CHECK(run("{{ \"junk\" | filterPEM \"CERTIFICATE\" }}", d).find("error calling filterPEM: error filtering pem: found junk") !=
        std::string::npos);
  CHECK(run("{{ .CERT.Value | filterCertChain \"leaf\" }}", d) == kc.cert_pem);
  CHECK(run("{{ .CERT.Value | filterCertChain \"intermediate\" }}", d) == "");

  // PEM -> PKCS#12 (base64) -> back, with and without a password.
  CHECK(run("{{ pemToPkcs12 .CRT.Value .KEY.Value | decodeBase64ToBytes | pkcs12cert }}", d) == kc.cert_pem);
  CHECK(run("{{ pemToPkcs12 .CRT.Value .KEY.Value | decodeBase64ToBytes | pkcs12key }}", d) == kc.key_pem);
  CHECK(run("{{ pemToPkcs12Pass .CRT.Value .KEY.Value \"pw\" | decodeBase64ToBytes | pkcs12keyPass \"pw\" }}", d) ==
        kc.key_pem);
  CHECK(run("{{ fullPemToPkcs12Pass .CRT.Value .KEY.Value \"pw\" | decodeBase64ToBytes | pkcs12certPass \"pw\" }}",
            d) == kc.cert_pem);
  CHECK(run("{{ fullPemToPkcs12 .CRT.Value .KEY.Value | decodeBase64ToBytes | pkcs12cert }}", d) == kc.cert_pem);
  const std::string wrong =
      run("{{ pemToPkcs12Pass .CRT.Value .KEY.Value \"pw\" | decodeBase64ToBytes | pkcs12keyPass \"nope\" }}", d);
  CHECK(wrong.find("error calling pkcs12keyPass: Error: pkcs12:") != std::string::npos);
  CHECK(run("{{ pemToPkcs12 \"x\" .KEY.Value }}", d).find("error calling pemToPkcs12: Error:") != std::string::npos);
  // The key never appears in an error message.
  CHECK(wrong.find("PRIVATE KEY") == std::string::npos);
}
