// A minimal protobuf reader for the SelfSubjectAccessReview kubectl auth can-i sends.
#include "sim/kube/protobuf_review.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace ifo::kubesim {

namespace {

// The fields of one message: number -> length-delimited payloads (varint and fixed fields skipped).
// nullopt when the bytes are not a well-formed message.
std::optional<std::map<int, std::vector<std::string_view>>> fields_of(std::string_view msg) {
  std::map<int, std::vector<std::string_view>> out;
  size_t i = 0;
  auto varint = [&](uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= msg.size()) return false;
      auto b = static_cast<uint8_t>(msg[i++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  while (i < msg.size()) {
    uint64_t key = 0;
    if (!varint(key)) return std::nullopt;
    const int field = static_cast<int>(key >> 3);
    uint64_t v = 0;
    switch (key & 7) {
      case 0:
        if (!varint(v)) return std::nullopt;
        break;
      case 1:
        if (msg.size() - i < 8) return std::nullopt;
        i += 8;
        break;
      case 2:
        if (!varint(v) || v > msg.size() - i) return std::nullopt;
        out[field].push_back(msg.substr(i, v));
        i += v;
        break;
      case 5:
        if (msg.size() - i < 4) return std::nullopt;
        i += 4;
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

std::string_view first(const std::map<int, std::vector<std::string_view>>& f, int field) {
  auto it = f.find(field);
  return it == f.end() || it->second.empty() ? std::string_view() : it->second.back();
}

}  // namespace

std::optional<std::string> self_subject_access_review_json(std::string_view body) {
  constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) return std::nullopt;
  auto unknown = fields_of(body.substr(4));
  if (!unknown) return std::nullopt;
  auto type_meta = fields_of(first(*unknown, 1));
  if (!type_meta || first(*type_meta, 1) != "authorization.k8s.io/v1" ||
      first(*type_meta, 2) != "SelfSubjectAccessReview")
    return std::nullopt;
  auto review = fields_of(first(*unknown, 2));
  if (!review) return std::nullopt;
  auto spec = fields_of(first(*review, 2));
  if (!spec) return std::nullopt;

  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&](const char* key, std::string_view v) {
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  auto attributes = [&](const char* key, int field,
                        std::initializer_list<std::pair<const char*, int>> names) {
    if (spec->count(field) == 0) return true;
    auto f = fields_of(first(*spec, field));
    if (!f) return false;
    w.Key(key);
    w.StartObject();
    for (auto [name, number] : names) {
      if (f->count(number)) str(name, first(*f, number));
    }
    w.EndObject();
    return true;
  };
  w.StartObject();
  str("kind", "SelfSubjectAccessReview");
  str("apiVersion", "authorization.k8s.io/v1");
  w.Key("metadata");
  w.StartObject();
  w.EndObject();
  w.Key("spec");
  w.StartObject();
  if (!attributes("resourceAttributes", 1,
                  {{"namespace", 1},
                   {"verb", 2},
                   {"group", 3},
                   {"version", 4},
                   {"resource", 5},
                   {"subresource", 6},
                   {"name", 7}}) ||
      !attributes("nonResourceAttributes", 2, {{"path", 1}, {"verb", 2}}))
    return std::nullopt;
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace ifo::kubesim
