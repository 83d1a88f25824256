// The three patch formats kube-apiserver accepts on JSON: RFC 7386 merge patch, RFC 6902 JSON patch,
// and the strategic merge patch for the built-in fields users' manifests use.
// (Written in kube-sim because no shared core/json_patch.h existed when it was needed.)
#pragma once

#include <string>

#include "core/json.h"
#include "core/result.h"

namespace ifo::kubesim {

// RFC 7386: objects merge recursively, null deletes, anything else replaces.
void apply_merge_patch(core::JsonValue& target, const core::JsonValue& patch, core::JsonAlloc& a);

// RFC 6902 over `doc`; the error text is what evanphx/json-patch would say.
core::Result<bool> apply_json_patch(core::JsonDoc& doc, const core::JsonValue& patch);

// Strategic merge patch: maps merge, lists whose field has a merge key (containers, volumes, env,
// ports, volumeMounts, imagePullSecrets, conditions, ownerReferences, ...) merge element-wise by that
// key, `$patch: delete|replace|merge`, `$setElementOrder/...` and `$retainKeys` directives are
// understood (ordering directives are honoured only as far as keeping existing order), primitive
// lists with a merge strategy (finalizers) are unioned, other lists replace.
core::Result<bool> apply_strategic_merge_patch(core::JsonValue& target, const core::JsonValue& patch,
                                               core::JsonAlloc& a);

}  // namespace ifo::kubesim
