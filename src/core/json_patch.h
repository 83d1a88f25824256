// JSON Pointer (RFC 6901), JSON Patch (RFC 6902: building and applying) and JSON Merge Patch (RFC 7386).
// The webhook builds patches for AdmissionReview responses; kube-sim applies patches as the API
// server does.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace ifo::core {

// One reference token escaped for a pointer: '~' -> "~0", '/' -> "~1".
std::string json_pointer_escape(std::string_view token);
// "/" + escaped tokens joined by "/"; no tokens gives "" (the whole document).
std::string json_pointer(std::initializer_list<std::string_view> tokens);
std::string json_pointer(const std::vector<std::string>& tokens);
// Splits and unescapes; fails on a non-empty pointer without a leading '/' or a '~' not followed by 0/1.
Result<std::vector<std::string>> parse_json_pointer(std::string_view pointer);

// Builds an RFC 6902 patch document (a JSON array of operations).
class JsonPatchBuilder {
 public:
  JsonPatchBuilder();
  JsonPatchBuilder& add(std::string_view path, const JsonValue& value);
  JsonPatchBuilder& add(std::string_view path, std::string_view value);
  JsonPatchBuilder& replace(std::string_view path, const JsonValue& value);
  JsonPatchBuilder& replace(std::string_view path, std::string_view value);
  JsonPatchBuilder& remove(std::string_view path);
  JsonPatchBuilder& test(std::string_view path, const JsonValue& value);
  JsonPatchBuilder& test(std::string_view path, std::string_view value);

  // Sets object_path/key = value in `current`, adding each missing (or non-object) parent object first,
  // e.g. set_member(deploy, {"spec","template","metadata","annotations"}, "a/b", "v") emits
  // [{"op":"add","path":"/spec/template/metadata/annotations","value":{}}, {"op":"add",
  // "path":"/spec/template/metadata/annotations/a~1b","value":"v"}] when annotations is missing.
  // Emits nothing when the member already has that value.
  JsonPatchBuilder& set_member(const JsonValue& current, const std::vector<std::string>& object_path,
                               std::string_view key, std::string_view value);

  bool empty() const { return doc_.Empty(); }
  size_t size() const { return doc_.Size(); }
  const JsonValue& operations() const { return doc_; }
  std::string to_json() const;

 private:
  JsonPatchBuilder& op(std::string_view name, std::string_view path, const JsonValue* value);
  JsonDoc doc_;
};

// Applies every operation of an RFC 6902 patch (add, remove, replace, move, copy, test) to a copy of
// `target`. All or nothing: on the first failing operation the error names its index, op and path
// (e.g. "operation 2 (replace /spec/x): path not found") and no result is returned.
Result<std::shared_ptr<JsonDoc>> apply_json_patch(const JsonValue& target, const JsonValue& patch);
Result<std::shared_ptr<JsonDoc>> apply_json_patch(const JsonValue& target, std::string_view patch_json);

// RFC 7386: objects merge recursively, null deletes a member, anything else replaces. Never fails.
std::shared_ptr<JsonDoc> apply_merge_patch(const JsonValue& target, const JsonValue& patch);

}  // namespace ifo::core
