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

// A field path kept as a chain of pieces on the stack and rendered to text (Kubernetes' field.Path
// form: `spec.authentication.universalAuth`, `spec.list[2]`) only when an error needs it, so that
// reading and checking a spec without errors builds no path strings (it runs per admission request).
// A FieldPath refers to its parent and to the text of its pieces: it must not outlive them.
class FieldPath {
 public:
  explicit FieldPath(std::string_view root) : name_(root) {}
  FieldPath(const FieldPath& parent, std::string_view name) : parent_(&parent), name_(name) {}
  FieldPath(const FieldPath& parent, size_t index) : parent_(&parent), index_(index) {}
  FieldPath(const FieldPath&) = delete;
  FieldPath& operator=(const FieldPath&) = delete;

  std::string str() const;

 private:
  void append_to(std::string& out) const;
  static constexpr size_t kNoIndex = static_cast<size_t>(-1);
  const FieldPath* parent_ = nullptr;
  std::string_view name_;
  size_t index_ = kNoIndex;
};

std::string key_path(std::string_view parent, std::string_view key);  // parent[key]

// User text quoted in a message, cut to `max` bytes ("abc…(+1234 bytes)"), so hostile input cannot
// blow up error messages, logs or AdmissionReview responses.
std::string abbreviate(std::string_view text, size_t max = 100);

// True when `path` is `prefix` itself or lies below it (prefix.x, prefix[0]).
bool path_within(std::string_view path, std::string_view prefix);

}  // namespace ifo::core
