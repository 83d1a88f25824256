// meta.k8s.io/v1 Table rendering for custom resources (additionalPrinterColumns), as the apiserver
// serves `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/json.h"
#include "sim/kube/store.h"

namespace ifo::kubesim {

// JSONPath subset of printer columns: `.a.b`, `.a[0].b`, `.a[?(@.type=="Ready")].status`, the wildcards
// `.a.*.b` and `.a[*].b`, and a union of names `.a['b','c']`. Returns the first match, or nullptr.
const core::JsonValue* eval_jsonpath(const core::JsonValue& root, std::string_view path);

// Go's duration.HumanDuration ("5s", "3m20s", "2d5h").
std::string human_duration(std::chrono::seconds d);

// columns: the CRD version's additionalPrinterColumns array (may be null: then Name + Age).
std::string render_table(const std::vector<ObjectPtr>& items, const core::JsonValue* columns, uint64_t list_rv,
                         const std::string& continue_token, std::chrono::system_clock::time_point now);

}  // namespace ifo::kubesim
