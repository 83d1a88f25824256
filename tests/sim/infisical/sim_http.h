// Small helpers shared by infisical-sim's route handlers: JSON bodies, the real server's error shape,
// query/body access, digests and comma-separated allow-lists.
#pragma once

#include <httplib.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json.h"

namespace ifo::sim {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Builds a flat JSON object of string/integer/bool members in the given order.
class JsonObject {
 public:
  JsonObject() { w_.StartObject(); }
  JsonObject& str(const char* k, std::string_view v) {
    w_.Key(k);
    w_.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    return *this;
  }
  JsonObject& num(const char* k, int64_t v) {
    w_.Key(k);
    w_.Int64(v);
    return *this;
  }
  JsonObject& boolean(const char* k, bool v) {
    w_.Key(k);
    w_.Bool(v);
    return *this;
  }
  JsonObject& null(const char* k) {
    w_.Key(k);
    w_.Null();
    return *this;
  }
  JsonObject& raw(const char* k, std::string_view json) {
    w_.Key(k);
    w_.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    return *this;
  }
  std::string done() {
    w_.EndObject();
    return std::string(buf_.GetString(), buf_.GetSize());
  }

 private:
  rapidjson::StringBuffer buf_;
  JsonWriter w_{buf_};
};

inline void send_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json; charset=utf-8");
}

// {"statusCode","message","error"}: every error the real server sends has this shape.
inline void send_error(httplib::Response& res, int status, std::string_view message, std::string_view error) {
  send_json(res, status, JsonObject().num("statusCode", status).str("message", message).str("error", error).done());
}

// The non-empty items of a comma-separated list, blanks around each trimmed ("a, b,,c" -> a, b, c).
inline std::vector<std::string> split_csv(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    auto last = item.find_last_not_of(" \t");
    item.erase(last == std::string::npos ? 0 : last + 1);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Whether value is one of the items of a comma-separated allow-list.
inline bool csv_contains(const std::string& list, const std::string& value) {
  for (const auto& item : split_csv(list)) {
    if (item == value) return true;
  }
  return false;
}

// The request body as a JSON object, or an error response (the real server validates with zod and
// answers 401 ValidationFailure for a missing field; a body that is not JSON is a 400).
inline std::shared_ptr<core::JsonDoc> json_body(const httplib::Request& req, httplib::Response& res) {
  auto doc = core::parse_json(req.body);
  if (!doc || !(*doc)->IsObject()) {
    send_error(res, 400, "Body is not valid JSON", "Bad Request");
    return nullptr;
  }
  return std::move(doc).value();
}

// A zod-style validation failure naming the missing or mistyped fields.
inline void send_validation_failure(httplib::Response& res, const std::string& field, const char* expected = "string") {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  w.Key("statusCode");
  w.Int(401);
  w.Key("message");
  w.StartArray();
  w.StartObject();
  w.Key("code");
  w.String("invalid_type");
  w.Key("expected");
  w.String(expected);
  w.Key("received");
  w.String("undefined");
  w.Key("path");
  w.StartArray();
  w.String(field.c_str());
  w.EndArray();
  w.Key("message");
  w.String("Required");
  w.EndObject();
  w.EndArray();
  w.Key("error");
  w.String("ValidationFailure");
  w.EndObject();
  send_json(res, 401, std::string(buf.GetString(), buf.GetSize()));
}

// The body of a JWT-based login ({identityId, jwt}: Kubernetes, Azure and GCP auth); on a bad body or a
// missing field the error is sent and nullopt returned.
struct JwtLogin {
  std::string identity_id;
  std::string jwt;
};
inline std::optional<JwtLogin> read_jwt_login(const httplib::Request& req, httplib::Response& res) {
  auto body = json_body(req, res);
  if (!body) return std::nullopt;
  auto identity_id = core::get_string(*body, "identityId");
  if (!identity_id) {
    send_validation_failure(res, "identityId");
    return std::nullopt;
  }
  auto jwt = core::get_string(*body, "jwt");
  if (!jwt) {
    send_validation_failure(res, "jwt");
    return std::nullopt;
  }
  return JwtLogin{std::move(*identity_id), std::move(*jwt)};
}

inline std::string query(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

std::string sha1_base64(std::string_view data);
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hex_encode(std::string_view bytes);

}  // namespace ifo::sim
