// Status failures with the real kube-apiserver's wording (k8s.io/apimachinery/pkg/api/errors).
#include "sim/kube/sim_status.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ifo::kubesim {

namespace {

std::string qualified(const std::string& group, const std::string& resource) {
  return group.empty() ? resource : resource + "." + group;
}

}  // namespace

std::string SimStatus::to_json() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("kind");
  w.String("Status");
  w.Key("apiVersion");
  w.String("v1");
  w.Key("metadata");
  w.StartObject();
  w.EndObject();
  w.Key("status");
  w.String("Failure");
  w.Key("message");
  w.String(message);
  if (!reason.empty()) {
    w.Key("reason");
    w.String(reason);
  }
  if (!details_name.empty() || !details_group.empty() || !details_kind.empty() || !cause_messages.empty()) {
    w.Key("details");
    w.StartObject();
    if (!details_name.empty()) {
      w.Key("name");
      w.String(details_name);
    }
    if (!details_group.empty()) {
      w.Key("group");
      w.String(details_group);
    }
    if (!details_kind.empty()) {
      w.Key("kind");
      w.String(details_kind);
    }
    if (!cause_messages.empty()) {
      w.Key("causes");
      w.StartArray();
      for (const auto& m : cause_messages) {
        w.StartObject();
        w.Key("message");
        w.String(m);
        w.EndObject();
      }
      w.EndArray();
    }
    w.EndObject();
  }
  w.Key("code");
  w.Int(code);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

SimStatus SimStatus::not_found(const std::string& group, const std::string& resource, const std::string& name) {
  SimStatus s;
  s.code = 404;
  s.reason = "NotFound";
  s.message = qualified(group, resource) + " \"" + name + "\" not found";
  s.details_name = name;
  s.details_group = group;
  s.details_kind = resource;
  return s;
}

SimStatus SimStatus::internal_error(const std::string& err) {
  SimStatus s;
  s.code = 500;
  s.reason = "InternalError";
  s.message = "Internal error occurred: " + err;
  s.cause_messages.push_back(err);
  return s;
}

SimStatus SimStatus::bad_request(const std::string& message) {
  SimStatus s;
  s.code = 400;
  s.reason = "BadRequest";
  s.message = message;
  return s;
}

SimStatus SimStatus::forbidden(const std::string& group, const std::string& resource, const std::string& name,
                               const std::string& err) {
  SimStatus s;
  s.code = 403;
  s.reason = "Forbidden";
  s.message = qualified(group, resource) + " \"" + name + "\" is forbidden: " + err;
  s.details_name = name;
  s.details_group = group;
  s.details_kind = resource;
  return s;
}

SimStatus SimStatus::invalid(const std::string& group, const std::string& kind, const std::string& name,
                             const std::string& message) {
  SimStatus s;
  s.code = 422;
  s.reason = "Invalid";
  s.message = message;
  s.details_name = name;
  s.details_group = group;
  s.details_kind = kind;
  return s;
}

}  // namespace ifo::kubesim
