// The identity of an access check, for the answer cache and for sharing one review between requests.
#include "webhook/async_authorizer.h"

namespace ifo::webhook {

std::string access_key(const UserInfo& user, const core::AccessCheck& check) {
  // Fields are separated by 0x1e and list items by 0x1f, neither of which a name can hold, so two
  // different checks never share a key.
  std::string key;
  key.reserve(128);
  auto field = [&key](std::string_view s) {
    key.append(s);
    key.push_back('\x1e');
  };
  field(user.username);
  field(user.uid);
  for (const auto& g : user.groups) key.append(g).push_back('\x1f');
  key.push_back('\x1e');
  for (const auto& [name, values] : user.extra) {
    key.append(name).push_back('=');
    for (const auto& v : values) key.append(v).push_back('\x1f');
    key.push_back('\x1e');
  }
  key.push_back('\x1d');
  field(check.verb);
  field(check.group);
  field(check.resource);
  field(check.subresource);
  field(check.namespace_);
  field(check.name);
  return key;
}

}  // namespace ifo::webhook
