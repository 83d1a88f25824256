// Label and field selectors as kube-apiserver parses them (labels.Parse, fields.ParseSelector).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace ifo::kubesim {

struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kEquals;
  std::vector<std::string> values;
};

struct ResourceType;
// The field labels a type supports beyond metadata.name/metadata.namespace (secrets: type, events: ...).
std::vector<std::string> field_labels_for(const ResourceType& t);

class LabelSelector {
 public:
  // Throws StatusError (400) with the apiserver's wording on a malformed selector.
  static LabelSelector parse(std::string_view text);
  // From a metav1.LabelSelector object ({matchLabels, matchExpressions}).
  static LabelSelector from_json(const core::JsonValue& selector);
  bool empty() const { return reqs_.empty(); }
  // labels: the metadata.labels object (may be null).
  bool matches(const core::JsonValue* labels) const;

 private:
  std::vector<Requirement> reqs_;
};

class FieldSelector {
 public:
  // allowed: the field labels this type supports (metadata.name and metadata.namespace are always).
  static FieldSelector parse(std::string_view text, const std::vector<std::string>& allowed, bool custom_resource);
  bool empty() const { return reqs_.empty(); }
  bool matches(const core::JsonValue& object) const;
  // The value a "metadata.name=x" requirement pins, if any (lets list skip the scan).
  std::string exact_name() const;

 private:
  std::vector<Requirement> reqs_;
};

}  // namespace ifo::kubesim
