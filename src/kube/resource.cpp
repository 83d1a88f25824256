// URL paths of resources.
#include "kube/resource.h"

#include <fmt/format.h>

#include "net/http_client.h"

namespace ifo::kube {

std::string Resource::api_version() const {
  if (group.empty()) return std::string(version);
  return fmt::format("{}/{}", group, version);
}

std::string Resource::group_version_path() const {
  if (group.empty()) return fmt::format("/api/{}", version);
  return fmt::format("/apis/{}/{}", group, version);
}

std::string Resource::collection_path(std::string_view namespace_) const {
  if (namespaced && !namespace_.empty())
    return fmt::format("{}/namespaces/{}/{}", group_version_path(), net::url_encode(namespace_), resource);
  return fmt::format("{}/{}", group_version_path(), resource);
}

std::string Resource::object_path(std::string_view namespace_, std::string_view name,
                                  std::string_view subresource) const {
  std::string p = fmt::format("{}/{}", collection_path(namespace_), net::url_encode(name));
  if (!subresource.empty()) p += fmt::format("/{}", subresource);
  return p;
}

std::string object_key(std::string_view namespace_, std::string_view name) {
  if (namespace_.empty()) return std::string(name);
  return fmt::format("{}/{}", namespace_, name);
}

std::pair<std::string, std::string> split_key(std::string_view key) {
  auto slash = key.find('/');
  if (slash == std::string_view::npos) return {std::string(), std::string(key)};
  return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

}  // namespace ifo::kube
