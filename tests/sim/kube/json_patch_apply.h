// RFC 6902 JSON Patch applied to a RapidJSON document (for mutating-webhook patches in kube-sim;
// the server may use it for `application/json-patch+json` too).
#pragma once

#include <string>

#include "core/json.h"
#include "core/result.h"

namespace ifo::kubesim {

// Applies `patch` (a JSON array of operations: add, remove, replace, move, copy, test) to `target`
// in place. All-or-nothing: on error `target` is left unchanged and the error names the failing
// operation index, its op and path, e.g. `operation 2 (remove /metadata/x): path not found`.
core::Result<bool> apply_json_patch(core::JsonValue& target, const core::JsonValue& patch, core::JsonAlloc& alloc);

}  // namespace ifo::kubesim
