// Small helpers shared by infisical-sim's route handlers: JSON bodies, the real server's error shape,
// query/body access and digests.
#pragma once

#include <httplib.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

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

inline std::string query(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

std::string sha1_base64(std::string_view data);
std::string sha256_hex(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hex_encode(std::string_view bytes);

}  // namespace ifo::sim
