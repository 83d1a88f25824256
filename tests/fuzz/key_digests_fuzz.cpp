// libFuzzer target: arbitrary bytes as the key-digest annotation of a managed Secret
// (core::decode_key_digests), which the webhook and the syncer read from objects a tenant can edit.
// Besides crashes and sanitizer reports:
//  - a decoded annotation re-encodes to an annotation that decodes to the same digests (so the
//    webhook and the syncer, which re-encode, never disagree about what a Secret holds);
//  - encoding is canonical: encode(decode(encode(d))) == encode(d);
//  - a decode error never quotes the annotation beyond a bounded prefix (it names the position).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/digest.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ifo;
  const std::string_view annotation(reinterpret_cast<const char*>(data), size);
  auto decoded = core::decode_key_digests(annotation);
  if (!decoded.ok()) {
    fuzz::check(decoded.error().size() <= 512, "decode error longer than 512 bytes", decoded.error());
    return 0;
  }
  const std::string encoded = core::encode_key_digests(*decoded);
  auto again = core::decode_key_digests(encoded);
  fuzz::check(again.ok(), "a re-encoded annotation does not decode", encoded);
  fuzz::check(*again == *decoded, "re-encoding changed the digests", encoded);
  fuzz::check(core::encode_key_digests(*again) == encoded, "encoding is not canonical", encoded);
  return 0;
}
