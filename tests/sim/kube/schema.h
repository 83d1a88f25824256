// CRD structural schemas (openAPIV3Schema): pruning, defaulting and validation with the wording of
// kube-apiserver (k8s.io/kube-openapi validate + apiextensions-apiserver). CEL rules
// (x-kubernetes-validations) are not evaluated.
#pragma once

#include <string>
#include <vector>

#include "core/json.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

// Drops fields the schema does not declare, as structural pruning does: every level, except under
// x-kubernetes-preserve-unknown-fields (whose declared properties are still pruned) and the keys of
// additionalProperties maps. apiVersion and kind are kept at the root (and in embedded resources);
// metadata keeps only ObjectMeta's fields (ownerReferences and managedFields entries theirs), as decoding
// into ObjectMeta does. The dropped paths ("spec.foo", "spec.items[0].bar", "metadata.foo") are
// appended to `unknown`.
void prune_unknown(core::JsonValue& obj, const core::JsonValue& schema, std::vector<std::string>& unknown);

// Fills `default`s of absent properties, top-down.
void apply_defaults(core::JsonValue& obj, const core::JsonValue& schema, core::JsonAlloc& a);

// What kube-apiserver's decoder does to a custom resource, to a request body and to every object it
// reads from storage alike: prune_unknown, then apply_defaults.
void prune_and_default(core::JsonValue& obj, const core::JsonValue& schema, core::JsonAlloc& a,
                       std::vector<std::string>& unknown);

// Type, required, enum, pattern, minimum/maximum (exclusive), minLength/maxLength, minItems/maxItems,
// nullable, x-kubernetes-int-or-string. Paths as the apiserver writes them ("spec.x", "spec.l[0]").
std::vector<StatusCause> validate_schema(const core::JsonValue& obj, const core::JsonValue& schema);

// metadata.name as a DNS-1123 subdomain; the cause the apiserver gives, or nullopt.
std::optional<StatusCause> validate_name(std::string_view name, bool dns_label = false);

}  // namespace ifo::kubesim
