// Test helper: edits a JSON document through RFC 6901 pointers (RapidJSON's own Pointer), so
// table-driven tests describe each case as a few edits of one valid document.
#pragma once

#include <rapidjson/pointer.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/json.h"

namespace ifo::test {

struct Edit {
  std::string pointer;  // e.g. "/spec/resyncInterval"
  std::string json;     // new value as JSON text; "" removes the member
};

inline std::shared_ptr<ifo::core::JsonDoc> edited(const std::string& base, const std::vector<Edit>& edits) {
  auto doc = ifo::core::parse_json(base);
  if (!doc.ok()) throw std::runtime_error("bad base document: " + doc.error());
  auto d = *doc;
  for (const auto& e : edits) {
    rapidjson::Pointer p(e.pointer.c_str());
    if (!p.IsValid()) throw std::runtime_error("bad pointer " + e.pointer);
    if (e.json.empty()) {
      p.Erase(*d);
      continue;
    }
    auto v = ifo::core::parse_json(e.json);
    if (!v.ok()) throw std::runtime_error("bad edit value " + e.json);
    ifo::core::JsonValue copy((**v), d->GetAllocator());
    p.Set(*d, copy, d->GetAllocator());
  }
  return d;
}

}  // namespace ifo::test
