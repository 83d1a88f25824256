// Request attributes as kube-apiserver's RequestInfoFactory derives them, and its Forbidden answer.
#include "sim/kube/request_info.h"

#include <fmt/format.h>

#include <cctype>
#include <vector>

namespace ifo::kubesim {

namespace {

std::vector<std::string> path_parts(std::string_view p) {
  while (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty() && p.back() == '/') p.remove_suffix(1);
  std::vector<std::string> out;
  if (p.empty()) return out;
  size_t start = 0;
  while (true) {
    size_t slash = p.find('/', start);
    out.emplace_back(
        p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// fields.Selector.RequiresExactMatch("metadata.name") over `a=b,c==d,...`.
std::string exact_name(std::string_view selector) {
  size_t start = 0;
  while (start <= selector.size()) {
    size_t comma = selector.find(',', start);
    std::string_view term =
        selector.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    for (std::string_view op : {"==", "="}) {
      std::string prefix = "metadata.name" + std::string(op);
      if (term.substr(0, prefix.size()) == prefix) return std::string(term.substr(prefix.size()));
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return {};
}

// path.IsValidPathSegmentName: no "." or "..", no '/' or '%'.
bool valid_path_segment(const std::string& name) {
  return name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('%') == std::string::npos;
}

}  // namespace

bool watch_requested(std::string_view value) {
  const std::string v = lower(value);
  return !v.empty() && v != "0" && v != "false";
}

RequestAttributes request_attributes(std::string_view method, std::string_view path, std::string_view watch,
                                     std::string_view field_selector) {
  RequestAttributes a;
  a.path = std::string(path);
  a.verb = lower(method);
  std::vector<std::string> parts = path_parts(path);
  if (parts.size() < 3 || (parts[0] != "api" && parts[0] != "apis")) return a;
  size_t i = 1;
  if (parts[0] == "apis") {
    if (parts.size() < 4) return a;
    a.api_group = parts[i++];
  }
  a.resource_request = true;
  a.api_version = parts[i++];
  if (parts[i] == "watch" || parts[i] == "proxy") {
    a.verb = parts[i++];
    if (i == parts.size()) return a;  // the real factory fails the request here
  } else if (method == "POST") {
    a.verb = "create";
  } else if (method == "GET" || method == "HEAD") {
    a.verb = "get";
  } else if (method == "PUT") {
    a.verb = "update";
  } else if (method == "PATCH") {
    a.verb = "patch";
  } else if (method == "DELETE") {
    a.verb = "delete";
  } else {
    a.verb.clear();
  }
  std::vector<std::string> rest(parts.begin() + static_cast<long>(i), parts.end());
  if (rest[0] == "namespaces" && rest.size() > 1) {
    a.ns = rest[1];
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize")
      rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.size() >= 3 && a.verb != "proxy") a.subresource = rest[2];
  if (rest.size() >= 2) a.name = rest[1];
  a.resource = rest[0];

  if (a.name.empty() && a.verb == "get") {
    a.verb = watch_requested(watch) ? "watch" : "list";
    std::string n = exact_name(field_selector);
    if (!n.empty() && valid_path_segment(n)) a.name = n;
  }
  if (a.name.empty() && a.verb == "delete") a.verb = "deletecollection";
  return a;
}

StatusError request_forbidden(const RequestAttributes& attrs, std::string_view reason) {
  std::string msg;
  const std::string& user = attrs.user.username;
  if (!attrs.resource_request) {
    msg = fmt::format("User \"{}\" cannot {} path \"{}\"", user, attrs.verb, attrs.path);
  } else {
    std::string resource =
        attrs.subresource.empty() ? attrs.resource : attrs.resource + "/" + attrs.subresource;
    if (!attrs.ns.empty()) {
      msg = fmt::format("User \"{}\" cannot {} resource \"{}\" in API group \"{}\" in the namespace \"{}\"",
                        user, attrs.verb, resource, attrs.api_group, attrs.ns);
    } else {
      msg = fmt::format("User \"{}\" cannot {} resource \"{}\" in API group \"{}\" at the cluster scope",
                        user, attrs.verb, resource, attrs.api_group);
    }
  }
  if (!reason.empty()) msg += fmt::format(": {}", reason);
  // apierrors.NewForbidden(GroupResource{group, resource}, name, err)
  const std::string qualified =
      attrs.api_group.empty() ? attrs.resource : attrs.resource + "." + attrs.api_group;
  std::string message;
  if (qualified.empty())
    message = "forbidden: " + msg;
  else if (attrs.name.empty())
    message = qualified + " is forbidden: " + msg;
  else
    message = fmt::format("{} \"{}\" is forbidden: {}", qualified, attrs.name, msg);
  StatusError e = forbidden(std::move(message));
  e.details_name = attrs.name;
  e.details_group = attrs.api_group;
  e.details_kind = attrs.resource;
  return e;
}

}  // namespace ifo::kubesim
