// FieldError: one problem with one field of an object, named by its path (`spec.resyncInterval`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ifo::core {

struct FieldError {
  std::string path;     // e.g. "spec.managedKubeSecretReferences[1].secretName"; "" for the whole document
  std::string message;  // e.g. "required"
  bool operator==(const FieldError&) const = default;
};

// "spec.x: msg; spec.y: msg" (a path-less error is rendered as its message alone).
std::string format_field_errors(const std::vector<FieldError>& errors);

// Path builders following Kubernetes' field.Path rendering.
std::string child_path(std::string_view parent, std::string_view name);  // parent.name
std::string index_path(std::string_view parent, size_t index);          // parent[3]
std::string key_path(std::string_view parent, std::string_view key);    // parent[key]

// User text quoted in a message, cut to `max` bytes ("abc…(+1234 bytes)"), so hostile input cannot
// blow up error messages, logs or AdmissionReview responses.
std::string abbreviate(std::string_view text, size_t max = 100);

// True when `path` is `prefix` itself or lies below it (prefix.x, prefix[0]).
bool path_within(std::string_view path, std::string_view prefix);

}  // namespace ifo::core
