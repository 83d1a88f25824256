// libFuzzer target: arbitrary bytes as an AdmissionReview body for both handlers. Any crash, hang,
// sanitizer report or a reply that is not 200/400 with a JSON body is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/json.h"
#include "webhook/admission.h"

namespace {

using namespace ifo;

class Authorizer : public webhook::Authorizer {
 public:
  bool allowed(const webhook::UserInfo& user, const core::AccessCheck& check) override {
    if (user.username == "throw") throw std::runtime_error("authorizer failure");
    return (user.username.size() + check.namespace_.size()) % 2 == 0;
  }
};

class Digests : public webhook::DigestSource {
 public:
  bool synced() const override { return true; }
  std::optional<std::map<std::string, std::string>> key_digests(const std::string& ns,
                                                               const std::string& name) const override {
    if (name.empty() || name[0] == 'm') return std::nullopt;
    return std::map<std::string, std::string>{{"KEY", std::string(64, 'a')}, {ns, std::string(64, 'b')}};
  }
};

void check(const webhook::Reply& r) {
  if (r.status != 200 && r.status != 400) std::abort();
  if (!core::parse_json(r.body).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Authorizer authorizer;
  static Digests digests;
  static const webhook::AdmissionHandler handler(webhook::CrossNamespacePolicy::kAuthorize, &authorizer, &digests);
  std::string_view body(reinterpret_cast<const char*>(data), size);
  check(handler.validate(body));
  check(handler.mutate(body));
  return 0;
}
