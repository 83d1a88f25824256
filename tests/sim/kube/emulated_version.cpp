// kube-sim as an older kube-apiserver: /version and the fields that version's decoder knows.
#include "sim/kube/emulated_version.h"

#include <fmt/format.h>

#include <charconv>

namespace ifo::kubesim {

int EmulatedVersion::parse_minor(const std::string& text) {
  std::string_view s = text;
  if (!s.empty() && s.front() == 'v') s.remove_prefix(1);
  if (s.substr(0, 2) != "1.") return -1;
  s.remove_prefix(2);
  int minor = -1;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), minor);
  if (ec != std::errc() || end == s.data()) return -1;
  std::string_view rest(end, static_cast<size_t>(s.data() + s.size() - end));
  if (!rest.empty()) {  // a patch number, nothing else
    if (rest.front() != '.' || rest.size() == 1) return -1;
    for (char c : rest.substr(1))
      if (c < '0' || c > '9') return -1;
  }
  if (minor < kOldestMinor || minor > kNewestMinor) return -1;
  return minor;
}

std::string EmulatedVersion::version_json() const {
  return fmt::format(
      R"({{"major":"1","minor":"{0}","gitVersion":"v1.{0}.0-kube-sim","gitCommit":"0000000000000000000000000000000000000000",)"
      R"("gitTreeState":"clean","buildDate":"2025-01-01T00:00:00Z","goVersion":"go1.23.0","compiler":"gc","platform":"linux/amd64"}})",
      minor);
}

void drop_fields_unknown_to(const EmulatedVersion& v, const ResourceType& t, core::JsonValue& obj,
                            std::vector<std::string>& unknown) {
  constexpr int kMatchConditionsAdded = 27;    // alpha, gate off by default: known, dropped
  constexpr int kMatchConditionsDefault = 28;  // beta, gate on by default
  if (v.minor >= kMatchConditionsDefault) return;
  if (t.group != "admissionregistration.k8s.io" ||
      (t.resource != "validatingwebhookconfigurations" && t.resource != "mutatingwebhookconfigurations"))
    return;
  auto webhooks = obj.FindMember("webhooks");
  if (webhooks == obj.MemberEnd() || !webhooks->value.IsArray()) return;
  size_t i = 0;
  for (auto& hook : webhooks->value.GetArray()) {
    if (hook.IsObject() && hook.RemoveMember("matchConditions") && v.minor < kMatchConditionsAdded)
      unknown.push_back(fmt::format("webhooks[{}].matchConditions", i));
    ++i;
  }
}

}  // namespace ifo::kubesim
