// UUIDs, timestamps and review envelopes for kube-sim's modules.
#include "sim/kube/sim_util.h"

#include <fmt/format.h>
#include <openssl/rand.h>

#include <ctime>
#include <random>

namespace ifo::kubesim {

std::string sim_random_uuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    std::random_device rd;
    for (auto& c : b) c = static_cast<unsigned char>(rd());
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}", b[0],
      b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

std::string sim_rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

core::JsonDoc sim_review_envelope(std::string_view kind, std::string_view api_version, std::string_view namespace_) {
  core::JsonDoc out(rapidjson::kObjectType);
  auto& a = out.GetAllocator();
  core::set_string(out, "kind", kind, a);
  core::set_string(out, "apiVersion", api_version, a);
  core::JsonValue md(rapidjson::kObjectType);
  if (!namespace_.empty()) core::set_string(md, "namespace", namespace_, a);
  md.AddMember("creationTimestamp", core::JsonValue(), a);
  out.AddMember("metadata", std::move(md), a);
  return out;
}

void sim_set_controller_owner(core::JsonValue& metadata, std::string_view api_version, std::string_view kind,
                              std::string_view name, std::string_view uid, core::JsonDoc::AllocatorType& a) {
  core::JsonValue ref(rapidjson::kObjectType);
  core::set_string(ref, "apiVersion", api_version, a);
  core::set_string(ref, "kind", kind, a);
  core::set_string(ref, "name", name, a);
  core::set_string(ref, "uid", uid, a);
  ref.AddMember("controller", true, a);
  ref.AddMember("blockOwnerDeletion", true, a);
  core::JsonValue refs(rapidjson::kArrayType);
  refs.PushBack(std::move(ref), a);
  core::set_member(metadata, "ownerReferences", std::move(refs), a);
}

}  // namespace ifo::kubesim
