// HMAC/SHA-256 over OpenSSL 3.
#include "core/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <fmt/format.h>

#include "core/field_error.h"
#include "core/json.h"

namespace ifo::core {

namespace {

std::string to_hex(const unsigned char* bytes, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 15];
  }
  return out;
}

void append_lp_length(std::string& out, uint64_t n) {
  char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((n >> (56 - 8 * i)) & 0xff);
  out.append(length, sizeof length);
}

void append_lp(std::string& out, std::string_view s) {
  append_lp_length(out, s.size());
  out.append(s.data(), s.size());
}

bool is_hex_digest(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  // The algorithm is fetched once (an immutable handle, never freed): OpenSSL 3's one-shot SHA256()
  // looks it up by name on every call, which cost more than hashing a short message.
  static const EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  unsigned char md[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  if (kSha256 == nullptr || EVP_Digest(bytes.data(), bytes.size(), md, &len, kSha256, nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");  // only when OpenSSL cannot allocate
  return to_hex(md, len);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // HMAC() with an empty key needs a non-null pointer.
  static const unsigned char kEmpty = 0;
  const void* k = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  if (HMAC(EVP_sha256(), k, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
           message.size(), md, &len) == nullptr) {
    throw std::runtime_error("HMAC-SHA256 failed");  // only on allocation failure inside OpenSSL
  }
  return to_hex(md, len);
}

std::string key_digest(std::string_view digest_key, std::string_view namespace_, std::string_view secret_name,
                       std::string_view data_key, std::string_view value) {
  std::string msg;
  msg.reserve(32 + namespace_.size() + secret_name.size() + data_key.size() + value.size());
  append_lp(msg, namespace_);
  append_lp(msg, secret_name);
  append_lp(msg, data_key);
  append_lp(msg, value);
  return hmac_sha256_hex(digest_key, msg);
}

KeyDigests key_digests(std::string_view digest_key, std::string_view namespace_, std::string_view secret_name,
                       const SecretData& data) {
  KeyDigests out;
  for (const auto& [k, v] : data)
    out.emplace_hint(out.end(), k, key_digest(digest_key, namespace_, secret_name, k, v));
  return out;
}

std::string encode_key_digests(const KeyDigests& digests) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [k, d] : digests) {  // std::map iterates in byte order of the keys
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(d.data(), static_cast<rapidjson::SizeType>(d.size()));
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

Result<KeyDigests> decode_key_digests(std::string_view annotation) {
  using R = Result<KeyDigests>;
  auto doc = parse_json(annotation);
  if (!doc.ok()) return R::fail(fmt::format("key-digests annotation: {}", doc.error()));
  const JsonValue& v = **doc;
  if (!v.IsObject()) return R::fail("key-digests annotation: not a JSON object");
  KeyDigests out;
  for (const auto& m : v.GetObject()) {
    std::string key(m.name.GetString(), m.name.GetStringLength());
    if (!m.value.IsString() || !is_hex_digest(std::string_view(m.value.GetString(), m.value.GetStringLength()))) {
      return R::fail(fmt::format("key-digests annotation: value of \"{}\" is not a 64-digit hex digest", abbreviate(key)));
    }
    if (!out.emplace(key, std::string(m.value.GetString(), m.value.GetStringLength())).second) {
      return R::fail(fmt::format("key-digests annotation: duplicate key \"{}\"", abbreviate(key)));
    }
  }
  return out;
}

std::string secret_version_digest(std::string_view digest_key, const SecretData& data) {
  std::string msg;
  for (const auto& [k, v] : data) {
    append_lp(msg, k);
    append_lp(msg, v);
  }
  return hmac_sha256_hex(digest_key, msg);
}

namespace {

// The triples of `consumed` (see rollout_triples), handed to `emit(secret_name, key, kind, digest)`
// as views into `consumed` and the looked-up digests.
template <typename Emit>
void expand_triples(const std::vector<ConsumedKey>& consumed, const DigestLookup& lookup, Emit emit) {
  for (const auto& c : consumed) {
    const KeyDigests* digests = lookup ? lookup(c.secret) : nullptr;
    if (digests == nullptr) {
      emit(c.secret, std::string_view(), TripleKind::kMissingSecret, std::string_view());
    } else if (!c.key) {
      for (const auto& [k, d] : *digests) emit(c.secret, k, TripleKind::kPresent, d);
    } else if (auto it = digests->find(*c.key); it != digests->end()) {
      emit(c.secret, it->first, TripleKind::kPresent, it->second);
    } else {
      emit(c.secret, *c.key, TripleKind::kMissingKey, std::string_view());
    }
  }
}

// A rollout triple as views into its inputs, so hashing copies no names or digests. The Secret is
// `ns` + "/" + `secret`, or `secret` alone when `joined` (it already holds "namespace/name"). Within
// one hash every triple has the same `ns` and `joined`, so ordering by (ns, secret) orders exactly as
// by the joined text.
struct TripleView {
  std::string_view ns;
  std::string_view secret;
  std::string_view key;
  TripleKind kind = TripleKind::kPresent;
  std::string_view digest;
  bool joined = false;
  auto tie() const { return std::tie(ns, secret, key, kind, digest); }
};

// SHA-256 over the sorted, deduplicated triples, each written as its kind byte then the
// length-prefixed "namespace/name", key and digest.
std::string hash_triples(std::vector<TripleView>& triples) {
  std::sort(triples.begin(), triples.end(), [](const TripleView& a, const TripleView& b) { return a.tie() < b.tie(); });
  triples.erase(std::unique(triples.begin(), triples.end(),
                            [](const TripleView& a, const TripleView& b) { return a.tie() == b.tie(); }),
                triples.end());
  size_t size = 0;
  for (const auto& t : triples) size += 1 + 3 * 8 + t.ns.size() + 1 + t.secret.size() + t.key.size() + t.digest.size();
  std::string msg;
  msg.reserve(size);
  for (const auto& t : triples) {
    msg += static_cast<char>(t.kind);
    if (t.joined) {
      append_lp(msg, t.secret);
    } else {
      append_lp_length(msg, t.ns.size() + 1 + t.secret.size());
      msg.append(t.ns).append(1, '/').append(t.secret);
    }
    append_lp(msg, t.key);
    append_lp(msg, t.digest);
  }
  return sha256_hex(msg);
}

}  // namespace

std::vector<RolloutTriple> rollout_triples(std::string_view namespace_, const std::vector<ConsumedKey>& consumed,
                                           const DigestLookup& lookup) {
  std::vector<RolloutTriple> out;
  expand_triples(consumed, lookup, [&](std::string_view secret, std::string_view key, TripleKind kind, std::string_view digest) {
    std::string ref;
    ref.reserve(namespace_.size() + 1 + secret.size());
    ref.append(namespace_).append(1, '/').append(secret);
    out.push_back({std::move(ref), std::string(key), kind, std::string(digest)});
  });
  return out;
}

std::string rollout_hash(std::vector<RolloutTriple> triples) {
  std::vector<TripleView> views;
  views.reserve(triples.size());
  for (const auto& t : triples) views.push_back({{}, t.secret, t.key, t.kind, t.digest, /*joined=*/true});
  return hash_triples(views);
}

// Hashes the triples as views: the lookup keeps what it returns valid for the whole call.
std::string rollout_hash(std::string_view namespace_, const std::vector<ConsumedKey>& consumed,
                         const DigestLookup& lookup) {
  std::vector<TripleView> views;
  views.reserve(consumed.size() * 2);
  expand_triples(consumed, lookup, [&](std::string_view secret, std::string_view key, TripleKind kind, std::string_view digest) {
    views.push_back({namespace_, secret, key, kind, digest});
  });
  return hash_triples(views);
}

}  // namespace ifo::core
