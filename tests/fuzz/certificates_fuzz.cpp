// libFuzzer target: arbitrary bytes as the PEM that certs-gen reads back from the webhook's TLS
// Secret and the webhook configurations' caBundle (objects other principals can write): certificate
// bundles, private keys, and the checks that pair them. The input is split at the first NUL into a
// certificate part and a key part. Besides crashes, leaks and sanitizer reports:
//  - every certificate parsed re-parses, alone, to one certificate with the same subject, issuer and
//    validity (what certs-gen writes back is what it read);
//  - a key that passes check_private_key and a certificate that key_matches agree both ways with
//    the same inputs (no state kept between calls);
//  - error messages never quote the key material (the marker in a key never comes back).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "certs-gen/crypto.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ifo;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view cert_pem = input.substr(0, nul);
  const std::string_view key_pem = nul == std::string_view::npos ? std::string_view{} : input.substr(nul + 1);

  if (auto certs = certsgen::parse_certificates(cert_pem); certs.ok()) {
    for (const auto& c : *certs) {
      auto alone = certsgen::parse_certificates(c.pem);
      fuzz::check(alone.ok() && alone->size() == 1, "a parsed certificate does not re-parse alone", c.pem);
      const auto& again = alone->front();
      fuzz::check(again.subject == c.subject && again.issuer == c.issuer && again.not_before == c.not_before &&
                      again.not_after == c.not_after,
                  "a certificate changed on re-parsing", c.subject);
    }
  } else {
    fuzz::check(!fuzz::contains(certs.error(), fuzz::kSecretMarker), "certificate error quotes the input",
                certs.error());
  }
  auto key = certsgen::check_private_key(key_pem);
  if (!key.ok())
    fuzz::check(!fuzz::contains(key.error(), fuzz::kSecretMarker), "key error quotes the key", key.error());
  const bool matches = certsgen::key_matches(cert_pem, key_pem);
  fuzz::check(matches == certsgen::key_matches(cert_pem, key_pem), "key_matches is not deterministic");
  (void)certsgen::issued_by(cert_pem, cert_pem);
  return 0;
}
