// Digests: golden vectors (computed independently with Python's hmac/hashlib), order independence,
// length-prefix boundaries, NUL bytes, and the distinct inputs for missing Secrets and keys.
#include <doctest/doctest.h>

#include <string>

#include "core/digest.h"

using namespace ifo::core;
using namespace std::string_literals;

namespace {
const std::string kKey = "operator-digest-key-0123456789abcdef";
const SecretData kData = {{"API_KEY", "sk-live-123"}, {"DB_URL", "postgres://u:p@db/app"}, {"BIN", "a\0b\0"s}};
// kData is the Secret apps/app-secrets.
const std::string kNs = "apps";
const std::string kName = "app-secrets";
}  // namespace

TEST_CASE("SHA-256 and HMAC-SHA256 match published vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac_sha256_hex("", "").size() == 64);
}

TEST_CASE("per-key digests: golden vectors, NUL bytes included") {
  auto d = key_digests(kKey, kNs, kName, kData);
  REQUIRE(d.size() == 3);
  CHECK(d["API_KEY"] == "c9ad8eca3eb3182f13a24d853f4302ea825d7bee688a40fa7bc9778160807416");
  CHECK(d["DB_URL"] == "53885f43b82667ef54b4fa9db16cb6b4f7de48a9ee69ee7c51ab8d2822e1921e");
  CHECK(d["BIN"] == "e824163ad074c7e8fc0487113e81d703e51bb018453b388fdce283fae6f393d5");
  // The value after a NUL still counts.
  CHECK(key_digest(kKey, kNs, kName, "BIN", "a\0b\0"s) != key_digest(kKey, kNs, kName, "BIN", "a\0b\1"s));
  CHECK(key_digest(kKey, kNs, kName, "BIN", "a\0b\0"s) != key_digest(kKey, kNs, kName, "BIN", "a"));
  // Equal values under different keys do not reveal their equality.
  CHECK(key_digest(kKey, kNs, kName, "A", "same") != key_digest(kKey, kNs, kName, "B", "same"));
  // Another digest key gives unrelated digests: the annotation cannot be brute-forced without it.
  CHECK(key_digest("other-key", kNs, kName, "API_KEY", "sk-live-123") != d["API_KEY"]);
}

TEST_CASE("per-key digests are bound to their Secret: equal data elsewhere gives unrelated digests") {
  // The digests are published in InfisicalSecret status, which more people may read than the Secret:
  // nobody may learn from them that two Secrets hold the same value.
  const auto here = key_digests(kKey, kNs, kName, kData);
  const auto other_name = key_digests(kKey, kNs, "app-secrets-2", kData);
  const auto other_ns = key_digests(kKey, "apps-2", kName, kData);
  for (const auto& [k, d] : here) {
    CAPTURE(k);
    CHECK(other_name.at(k) != d);
    CHECK(other_ns.at(k) != d);
  }
  // Namespace and name are length-prefixed: moving a byte across the boundary is another Secret.
  CHECK(key_digest(kKey, "ab", "c", "K", "v") != key_digest(kKey, "a", "bc", "K", "v"));
  CHECK(key_digest(kKey, "a", "b", "cK", "v") != key_digest(kKey, "a", "bc", "K", "v"));
}

TEST_CASE("the key-digests annotation is compact, sorted JSON and reads back strictly") {
  auto d = key_digests(kKey, kNs, kName, kData);
  std::string a = encode_key_digests(d);
  CHECK(a ==
        R"({"API_KEY":"c9ad8eca3eb3182f13a24d853f4302ea825d7bee688a40fa7bc9778160807416",)"
        R"("BIN":"e824163ad074c7e8fc0487113e81d703e51bb018453b388fdce283fae6f393d5",)"
        R"("DB_URL":"53885f43b82667ef54b4fa9db16cb6b4f7de48a9ee69ee7c51ab8d2822e1921e"})");
  auto back = decode_key_digests(a);
  REQUIRE(back.ok());
  CHECK(*back == d);
  CHECK(encode_key_digests({}) == "{}");
  CHECK(decode_key_digests("{}")->empty());
  for (const char* bad : {"", "[]", R"({"A":1})", R"({"A":"abc"})",
                          R"({"A":"278524D9264BEC91F5C54A3A03FD844E9D971E2A13221A1A956D32BF6BD2ADF2"})",
                          R"({"A":"278524d9264bec91f5c54a3a03fd844e9d971e2a13221a1a956d32bf6bd2adf2","A":"278524d9264bec91f5c54a3a03fd844e9d971e2a13221a1a956d32bf6bd2adf2"})"}) {
    CAPTURE(std::string(bad));
    auto r = decode_key_digests(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().find("key-digests annotation") == 0);
  }
}

TEST_CASE("version digest: golden vectors and the ab+c / a+bc boundary") {
  CHECK(secret_version_digest(kKey, kData) == "f3cca08a6bb6c3e386a7c194e8308d9776ebd3d031743ed1b1dea3fc7635d2c5");
  CHECK(secret_version_digest(kKey, {{"ab", "c"}}) == "db31cdfe30d344c0952e14aaf5c93babac2a7e115d2ce10b2262eb7f0ca443d1");
  CHECK(secret_version_digest(kKey, {{"a", "bc"}}) == "e0f3ea5e7e615e6e06175469396732f21729bc1bfc87a6da00ebf8f023392503");
  CHECK(secret_version_digest(kKey, {}) == "85a440096304867db599fb8a3459cdd8541c66c1b1fbd0dc4afc0c687284769d");
  // An extra empty entry is a change.
  CHECK(secret_version_digest(kKey, {{"a", "bc"}, {"z", ""}}) != secret_version_digest(kKey, {{"a", "bc"}}));
  // Moving bytes between two entries is a change.
  CHECK(secret_version_digest(kKey, {{"a", "x"}, {"b", "yz"}}) != secret_version_digest(kKey, {{"a", "xy"}, {"b", "z"}}));
}

TEST_CASE("rollout hash: golden vector with present keys, a missing key and a missing Secret") {
  KeyDigests app = key_digests(kKey, kNs, kName, kData);
  KeyDigests other = key_digests(kKey, kNs, "other", {{"PASSWORD", "x"}});
  DigestLookup lookup = [&](std::string_view name) -> const KeyDigests* {
    if (name == "app-secrets") return &app;
    if (name == "other") return &other;
    return nullptr;
  };
  std::vector<ConsumedKey> consumed = {{"app-secrets", std::nullopt}, {"other", "TOKEN"}, {"gone", "X"}};
  CHECK(rollout_hash("apps", consumed, lookup) == "55c36c3b634baabcba61d39054c5366c53c4e5b1ad42aaa2ea1b4a2682896718");

  auto triples = rollout_triples("apps", consumed, lookup);
  REQUIRE(triples.size() == 5);
  CHECK(triples[3] == RolloutTriple{"apps/other", "TOKEN", TripleKind::kMissingKey, ""});
  CHECK(triples[4] == RolloutTriple{"apps/gone", "", TripleKind::kMissingSecret, ""});
  // The lookup form hashes views of its inputs; it must give the bytes the triples give.
  CHECK(rollout_hash(triples) == rollout_hash("apps", consumed, lookup));
  CHECK(rollout_hash(rollout_triples("", consumed, lookup)) == rollout_hash("", consumed, lookup));
  // Nothing consumed hashes to SHA-256 of nothing.
  CHECK(rollout_hash("apps", {}, lookup) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("rollout hash is order-independent and changes only with consumed keys") {
  KeyDigests s = key_digests(kKey, "ns", "s", {{"A", "1"}, {"B", "2"}, {"C", "3"}});
  DigestLookup lookup = [&](std::string_view name) -> const KeyDigests* { return name == "s" ? &s : nullptr; };
  std::vector<ConsumedKey> ab = {{"s", "A"}, {"s", "B"}};
  std::vector<ConsumedKey> ba = {{"s", "B"}, {"s", "A"}};
  const std::string h = rollout_hash("ns", ab, lookup);
  CHECK(rollout_hash("ns", ba, lookup) == h);
  auto triples = rollout_triples("ns", ab, lookup);
  std::reverse(triples.begin(), triples.end());
  triples.push_back(triples.front());  // duplicates do not count twice
  CHECK(rollout_hash(triples) == h);

  s["C"] = key_digest(kKey, "ns", "s", "C", "changed");  // not consumed: no rollout
  CHECK(rollout_hash("ns", ab, lookup) == h);
  s["A"] = key_digest(kKey, "ns", "s", "A", "changed");  // consumed: rollout
  CHECK(rollout_hash("ns", ab, lookup) != h);
  // Same Secret name in another namespace is another input.
  CHECK(rollout_hash("ns2", ab, lookup) != rollout_hash("ns", ab, lookup));
}

TEST_CASE("missing Secret, missing key and present key are distinct inputs") {
  KeyDigests empty;
  KeyDigests with_x = {{"X", ""}};
  std::vector<ConsumedKey> one = {{"s", "X"}};
  auto none = [](std::string_view) -> const KeyDigests* { return nullptr; };
  auto no_key = [&](std::string_view) -> const KeyDigests* { return &empty; };
  auto present_empty_digest = [&](std::string_view) -> const KeyDigests* { return &with_x; };
  std::string h_missing_secret = rollout_hash("ns", one, none);
  std::string h_missing_key = rollout_hash("ns", one, no_key);
  std::string h_present = rollout_hash("ns", one, present_empty_digest);
  CHECK(h_missing_secret != h_missing_key);
  CHECK(h_missing_key != h_present);
  CHECK(h_missing_secret != h_present);
  // A whole-Secret reference to a missing Secret differs from one to an existing empty Secret.
  std::vector<ConsumedKey> whole = {{"s", std::nullopt}};
  CHECK(rollout_hash("ns", whole, none) != rollout_hash("ns", whole, no_key));
}

TEST_CASE("rollout hash length-prefixes its fields (no ambiguous concatenation)") {
  // ("ns/ab", "c") vs ("ns/a", "bc") and key/digest boundaries.
  std::vector<RolloutTriple> a = {{"ns/ab", "c", TripleKind::kPresent, "d"}};
  std::vector<RolloutTriple> b = {{"ns/a", "bc", TripleKind::kPresent, "d"}};
  std::vector<RolloutTriple> c = {{"ns/ab", "cd", TripleKind::kPresent, ""}};
  CHECK(rollout_hash(a) != rollout_hash(b));
  CHECK(rollout_hash(a) != rollout_hash(c));
  CHECK(rollout_hash(std::vector<RolloutTriple>{{"ns/s", "k\0x"s, TripleKind::kPresent, "d"}}) !=
        rollout_hash(std::vector<RolloutTriple>{{"ns/s", "k", TripleKind::kPresent, "d"}}));
}

TEST_CASE("digest key rotation: the same data under two keys gives unrelated digests and hashes, each reproducible") {
  // A rotation keeps the previous key beside the new one; the syncer recognises a workload stamped under
  // the previous key by recomputing the hash over the same data with it (core::decide_rollout).
  const std::string previous = kKey;
  const std::string current = "operator-digest-key-rotated-0000000";
  const KeyDigests under_previous = key_digests(previous, kNs, kName, kData);
  const KeyDigests under_current = key_digests(current, kNs, kName, kData);
  REQUIRE(under_previous.size() == kData.size());
  for (const auto& [k, d] : under_current) {
    CAPTURE(k);
    CHECK(d != under_previous.at(k));
    CHECK(d == key_digest(current, kNs, kName, k, kData.at(k)));
  }
  const std::vector<ConsumedKey> consumed = {{"app-secrets", std::string("API_KEY")}, {"missing", std::nullopt}};
  auto lookup_in = [](const KeyDigests& d) {
    return [&d](std::string_view name) -> const KeyDigests* { return name == "app-secrets" ? &d : nullptr; };
  };
  const std::string stamped = rollout_hash(kNs, consumed, lookup_in(under_previous));
  // The stamp from before the rotation is what the previous key still gives for the same data...
  CHECK(rollout_hash(kNs, consumed, lookup_in(key_digests(previous, kNs, kName, kData))) == stamped);
  // ... not what the current key gives, so without the previous key every such workload would roll.
  CHECK(rollout_hash(kNs, consumed, lookup_in(under_current)) != stamped);
  // A changed consumed value changes the hash under either key.
  SecretData changed = kData;
  changed["API_KEY"] = "sk-live-456";
  CHECK(rollout_hash(kNs, consumed, lookup_in(key_digests(previous, kNs, kName, changed))) != stamped);
  // A changed value the workload does not consume leaves both hashes as they were.
  SecretData other = kData;
  other["DB_URL"] = "postgres://u:p@db2/app";
  CHECK(rollout_hash(kNs, consumed, lookup_in(key_digests(previous, kNs, kName, other))) == stamped);
  CHECK(rollout_hash(kNs, consumed, lookup_in(key_digests(current, kNs, kName, other))) ==
        rollout_hash(kNs, consumed, lookup_in(under_current)));
  // The version annotation is keyed as well.
  CHECK(secret_version_digest(previous, kData) != secret_version_digest(current, kData));
}
