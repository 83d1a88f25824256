// Encodings and digests for templates: Sprig's b64enc/b64dec/b32enc/b32dec, sha1sum/sha256sum/adler32sum,
// and upstream's encodeBase64/decodeBase64ToBytes (Go's StdEncoding semantics and error texts).
#include <openssl/evp.h>

#include <fmt/format.h>

#include "core/base64.h"
#include "core/go_template_internal.h"

namespace ifo::core::tmpl {

namespace {

using R = Result<Value>;
using A = std::vector<Value>;

constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kB32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// Go's encoding/base64 and base32 StdEncoding decoders: '\r' and '\n' are skipped, padding is required,
// errors name the offending input byte ("illegal base64 data at input byte 4").
Result<std::string> go_decode(std::string_view in, std::string_view alphabet, size_t bits, std::string_view what) {
  const size_t group = bits == 6 ? 4 : 8;
  std::string clean;
  std::vector<size_t> offsets;
  for (size_t i = 0; i < in.size(); ++i)
    if (in[i] != '\r' && in[i] != '\n') clean += in[i], offsets.push_back(i);
  auto fail = [&](size_t at) {
    return Result<std::string>::fail(
        fmt::format("illegal {} data at input byte {}", what, at < offsets.size() ? offsets[at] : in.size()));
  };
  std::string out;
  uint64_t acc = 0;
  size_t nbits = 0;
  size_t i = 0;
  for (; i < clean.size(); ++i) {
    const char c = clean[i];
    if (c == '=') break;
    const size_t v = alphabet.find(c);
    if (v == std::string_view::npos) return fail(i);
    acc = (acc << bits) | v;
    nbits += bits;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((acc >> nbits) & 0xFF);
    }
  }
  if (i < clean.size()) {  // padding: must complete the group and end the input
    const size_t data_in_group = i % group;
    const size_t pad = clean.size() - i;
    if (data_in_group == 0 || data_in_group + pad != group) return fail(data_in_group == 0 ? i : i);
    for (size_t k = i; k < clean.size(); ++k)
      if (clean[k] != '=') return fail(k);
    if (bits == 6 && data_in_group == 1) return fail(i);
  } else if (clean.size() % group != 0) {
    return fail(clean.size() - clean.size() % group + (bits == 6 && clean.size() % group == 1 ? 0 : 0));
  }
  return out;
}

std::string go_b32_encode(std::string_view in) {
  std::string out;
  uint64_t acc = 0;
  size_t nbits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    nbits += 8;
    while (nbits >= 5) {
      nbits -= 5;
      out += kB32[(acc >> nbits) & 31];
    }
  }
  if (nbits > 0) out += kB32[(acc << (5 - nbits)) & 31];
  while (out.size() % 8 != 0) out += '=';
  return out;
}

std::string digest_hex(const EVP_MD* md, std::string_view in) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), buf, &len, md, nullptr);
  std::string out;
  for (unsigned int i = 0; i < len; ++i) out += fmt::format("{:02x}", buf[i]);
  return out;
}

R f_b64enc(A& a, const CallEnv& env) {
  std::string s = base64_encode(a[0].as_string());
  if (auto c = charge(env, s.size()); !c) return R::fail(c.error());
  return Value(std::move(s));
}
R f_b64dec(A& a, const CallEnv&) {
  auto r = go_decode(a[0].as_string(), kB64, 6, "base64");
  return Value(r ? std::move(r).value() : r.error());  // sprig returns the error text as the result
}
R f_b32enc(A& a, const CallEnv& env) {
  std::string s = go_b32_encode(a[0].as_string());
  if (auto c = charge(env, s.size()); !c) return R::fail(c.error());
  return Value(std::move(s));
}
R f_b32dec(A& a, const CallEnv&) {
  auto r = go_decode(a[0].as_string(), kB32, 5, "base32");
  return Value(r ? std::move(r).value() : r.error());
}
R f_encode_base64(A& a, const CallEnv& env) {
  const std::string in = a[0].kind() == Value::Kind::kBytes ? a[0].as_bytes().data : strval(a[0]);
  std::string s = base64_encode(in);
  if (auto c = charge(env, s.size()); !c) return R::fail(c.error());
  return Value(std::move(s));
}
R f_decode_base64_to_bytes(A& a, const CallEnv&) {
  auto r = go_decode(a[0].as_string(), kB64, 6, "base64");
  if (!r) return R::fail(r.error());
  return Value(Bytes{std::move(r).value()});
}
R f_sha1sum(A& a, const CallEnv&) { return Value(digest_hex(EVP_sha1(), a[0].as_string())); }
R f_sha256sum(A& a, const CallEnv&) { return Value(digest_hex(EVP_sha256(), a[0].as_string())); }
R f_adler32sum(A& a, const CallEnv&) {
  uint32_t s1 = 1, s2 = 0;
  for (unsigned char c : a[0].as_string()) {
    s1 = (s1 + c) % 65521;
    s2 = (s2 + s1) % 65521;
  }
  return Value(std::to_string((s2 << 16) | s1));
}

}  // namespace

void register_crypto_funcs(std::map<std::string_view, FuncDef>& t) {
  auto add = [&](std::string_view name, std::string_view sig, FuncImpl f) { t[name] = FuncDef{name, sig, f, {}}; };
  add("b64enc", "s", f_b64enc);
  add("b64dec", "s", f_b64dec);
  add("b32enc", "s", f_b32enc);
  add("b32dec", "s", f_b32dec);
  add("encodeBase64", "a", f_encode_base64);
  add("decodeBase64ToBytes", "s", f_decode_base64_to_bytes);
  add("sha1sum", "s", f_sha1sum);
  add("sha256sum", "s", f_sha256sum);
  add("adler32sum", "s", f_adler32sum);
}

}  // namespace ifo::core::tmpl
