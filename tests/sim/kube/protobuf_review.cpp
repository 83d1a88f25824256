// A minimal protobuf reader for the few bodies kubectl's typed clients send (protobuf_review.h).
#include "sim/kube/protobuf_review.h"

#include "core/base64.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cstdint>
#include <string>
#include <map>
#include <utility>
#include <vector>

namespace ifo::kubesim {

namespace {

// The fields of one message: number -> length-delimited payloads; the varint fields' last values into
// `varints` when given (fixed fields skipped). nullopt when the bytes are not a well-formed message.
std::optional<std::map<int, std::vector<std::string_view>>> fields_of(std::string_view msg,
                                                                      std::map<int, int64_t>* varints = nullptr) {
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
        if (varints != nullptr) (*varints)[field] = static_cast<int64_t>(v);
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

// The raw object of "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw} when typeMeta is the
// one given; nullopt otherwise.
std::optional<std::string_view> unknown_raw(std::string_view body, std::string_view api_version,
                                            std::string_view kind) {
  constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) return std::nullopt;
  auto unknown = fields_of(body.substr(4));
  if (!unknown) return std::nullopt;
  auto type_meta = fields_of(first(*unknown, 1));
  if (!type_meta || first(*type_meta, 1) != api_version || first(*type_meta, 2) != kind) return std::nullopt;
  return first(*unknown, 2);
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

struct JsonOut {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  void str(const char* key, std::string_view v) {
    w.Key(key);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
  // {"kind":K,"apiVersion":V,"metadata":{}, then the caller's members, then "}" by text().
  void head(std::string_view kind, std::string_view api_version) {
    w.StartObject();
    str("kind", kind);
    str("apiVersion", api_version);
    w.Key("metadata");
    w.StartObject();
    w.EndObject();
  }
  std::string text() {
    w.EndObject();
    return std::string(buf.GetString(), buf.GetSize());
  }
};

// SelfSubjectRulesReview{metadata 1, spec 2{namespace 1}, status 3}.
std::optional<std::string> self_subject_rules_review_json(std::string_view body) {
  auto raw = unknown_raw(body, "authorization.k8s.io/v1", "SelfSubjectRulesReview");
  if (!raw) return std::nullopt;
  auto review = fields_of(*raw);
  if (!review) return std::nullopt;
  auto spec = fields_of(first(*review, 2));
  if (!spec) return std::nullopt;
  JsonOut o;
  o.head("SelfSubjectRulesReview", "authorization.k8s.io/v1");
  o.w.Key("spec");
  o.w.StartObject();
  if (spec->count(1)) o.str("namespace", first(*spec, 1));
  o.w.EndObject();
  return o.text();
}

// SelfSubjectReview{metadata 1, status 2}: nothing to read.
std::optional<std::string> self_subject_review_json(std::string_view body) {
  auto raw = unknown_raw(body, "authentication.k8s.io/v1", "SelfSubjectReview");
  if (!raw || !fields_of(*raw)) return std::nullopt;
  JsonOut o;
  o.head("SelfSubjectReview", "authentication.k8s.io/v1");
  return o.text();
}

// TokenRequest{metadata 1, spec 2{audiences 1 (repeated), boundObjectRef 3{kind 1, apiVersion 2, name 3,
// uid 4}, expirationSeconds 4 (varint)}, status 3}.
std::optional<std::string> token_request_json(std::string_view body) {
  auto raw = unknown_raw(body, "authentication.k8s.io/v1", "TokenRequest");
  if (!raw) return std::nullopt;
  auto request = fields_of(*raw);
  if (!request) return std::nullopt;
  std::map<int, int64_t> ints;
  auto spec = fields_of(first(*request, 2), &ints);
  if (!spec) return std::nullopt;
  JsonOut o;
  o.head("TokenRequest", "authentication.k8s.io/v1");
  o.w.Key("spec");
  o.w.StartObject();
  if (auto it = spec->find(1); it != spec->end()) {
    o.w.Key("audiences");
    o.w.StartArray();
    for (std::string_view a : it->second) o.w.String(a.data(), static_cast<rapidjson::SizeType>(a.size()));
    o.w.EndArray();
  }
  if (auto it = ints.find(4); it != ints.end()) {
    o.w.Key("expirationSeconds");
    o.w.Int64(it->second);
  }
  if (spec->count(3)) {
    auto ref = fields_of(first(*spec, 3));
    if (!ref) return std::nullopt;
    o.w.Key("boundObjectRef");
    o.w.StartObject();
    for (auto [name, number] : {std::pair{"kind", 1}, std::pair{"apiVersion", 2}, std::pair{"name", 3},
                                std::pair{"uid", 4}}) {
      if (ref->count(number)) o.str(name, first(*ref, number));
    }
    o.w.EndObject();
  }
  o.w.EndObject();
  return o.text();
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

namespace {

// v1.Secret{metadata 1: ObjectMeta, data 2: map<string, bytes>, type 3, stringData 4: map, immutable 5},
// ObjectMeta{name 1, generateName 2, namespace 3, uid 5, resourceVersion 6, labels 11, annotations 12,
// finalizers 14}; other ObjectMeta fields (timestamps, ownerReferences, managedFields) are left out, as
// the server sets or ignores them on a write. Helm's Secret storage driver writes releases this way.
// Also v1.Namespace{metadata 1, spec 2, status 3} (kubectl create namespace); its spec.finalizers are
// the server's to set.
std::optional<std::string> secret_json(std::string_view body, const char* kind = "Secret") {
  auto raw = unknown_raw(body, "v1", kind);
  if (!raw) return std::nullopt;
  const bool is_secret = std::string_view(kind) == "Secret";
  std::map<int, int64_t> varints;
  auto secret = fields_of(*raw, &varints);
  if (!secret) return std::nullopt;
  auto md = fields_of(first(*secret, 1));
  if (!md) return std::nullopt;
  JsonOut o;
  o.w.StartObject();
  o.str("kind", kind);
  o.str("apiVersion", "v1");
  // A map<string, X> field: its entries {key 1, value 2}; `base64` for bytes values.
  auto map_field = [&](const std::map<int, std::vector<std::string_view>>& f, int number, const char* key,
                       bool base64) {
    auto it = f.find(number);
    if (it == f.end()) return true;
    o.w.Key(key);
    o.w.StartObject();
    for (auto entry : it->second) {
      auto kv = fields_of(entry);
      if (!kv) return false;
      o.str(std::string(first(*kv, 1)).c_str(), base64 ? std::string_view(core::base64_encode(first(*kv, 2)))
                                                        : first(*kv, 2));
    }
    o.w.EndObject();
    return true;
  };
  o.w.Key("metadata");
  o.w.StartObject();
  for (auto [name, number] : std::initializer_list<std::pair<const char*, int>>{
           {"name", 1}, {"generateName", 2}, {"namespace", 3}, {"uid", 5}, {"resourceVersion", 6}}) {
    if (md->count(number)) o.str(name, first(*md, number));
  }
  if (!map_field(*md, 11, "labels", false) || !map_field(*md, 12, "annotations", false)) return std::nullopt;
  if (auto it = md->find(14); it != md->end()) {
    o.w.Key("finalizers");
    o.w.StartArray();
    for (auto f : it->second) o.w.String(f.data(), static_cast<rapidjson::SizeType>(f.size()));
    o.w.EndArray();
  }
  o.w.EndObject();
  if (!is_secret) {
    o.w.EndObject();
    return std::string(o.buf.GetString(), o.buf.GetSize());
  }
  if (!map_field(*secret, 2, "data", true) || !map_field(*secret, 4, "stringData", false)) return std::nullopt;
  if (secret->count(3)) o.str("type", first(*secret, 3));
  if (auto it = varints.find(5); it != varints.end()) {
    o.w.Key("immutable");
    o.w.Bool(it->second != 0);
  }
  o.w.EndObject();
  return std::string(o.buf.GetString(), o.buf.GetSize());
}

// DeleteOptions{gracePeriodSeconds 1, preconditions 2{uid 1, resourceVersion 2}, orphanDependents 3,
// propagationPolicy 4, dryRun 5}, the body of a typed client's DELETE (helm uninstall purging its
// release Secrets). Its typeMeta is whatever group version the client encoded it in.
std::optional<std::string> delete_options_json(std::string_view body) {
  constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) return std::nullopt;
  auto unknown = fields_of(body.substr(4));
  if (!unknown) return std::nullopt;
  auto type_meta = fields_of(first(*unknown, 1));
  if (!type_meta || first(*type_meta, 2) != "DeleteOptions") return std::nullopt;
  std::map<int, int64_t> varints;
  auto opts = fields_of(first(*unknown, 2), &varints);
  if (!opts) return std::nullopt;
  JsonOut o;
  o.head("DeleteOptions", "meta.k8s.io/v1");
  if (auto it = varints.find(1); it != varints.end()) {
    o.w.Key("gracePeriodSeconds");
    o.w.Int64(it->second);
  }
  if (opts->count(2)) {
    auto pre = fields_of(first(*opts, 2));
    if (!pre) return std::nullopt;
    o.w.Key("preconditions");
    o.w.StartObject();
    if (pre->count(1)) o.str("uid", first(*pre, 1));
    if (pre->count(2)) o.str("resourceVersion", first(*pre, 2));
    o.w.EndObject();
  }
  if (auto it = varints.find(3); it != varints.end()) {
    o.w.Key("orphanDependents");
    o.w.Bool(it->second != 0);
  }
  if (opts->count(4)) o.str("propagationPolicy", first(*opts, 4));
  if (auto it = opts->find(5); it != opts->end()) {
    o.w.Key("dryRun");
    o.w.StartArray();
    for (auto d : it->second) o.w.String(d.data(), static_cast<rapidjson::SizeType>(d.size()));
    o.w.EndArray();
  }
  return o.text();
}

}  // namespace

std::optional<std::string> protobuf_delete_json(std::string_view body) { return delete_options_json(body); }

std::optional<std::string> protobuf_request_json(std::string_view path, std::string_view body) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path == "/api/v1/namespaces") return secret_json(body, "Namespace");
  // POST .../namespaces/NS/secrets and PUT .../namespaces/NS/secrets/NAME.
  if (path.rfind("/api/v1/namespaces/", 0) == 0) {
    auto rest = path.substr(19);
    auto slash = rest.find('/');
    if (slash != std::string_view::npos) {
      auto kind_path = rest.substr(slash + 1);
      if (kind_path == "secrets" || (kind_path.rfind("secrets/", 0) == 0 && kind_path.find('/', 8) == std::string_view::npos))
        return secret_json(body);
    }
  }
  if (path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") return self_subject_access_review_json(body);
  if (path == "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews") return self_subject_rules_review_json(body);
  if (path == "/apis/authentication.k8s.io/v1/selfsubjectreviews") return self_subject_review_json(body);
  if (path.rfind("/api/v1/namespaces/", 0) == 0 && ends_with(path, "/token")) return token_request_json(body);
  return std::nullopt;
}

}  // namespace ifo::kubesim
