// Builders for tests that drive kube-sim's Store and modules directly: a resource type and a JSON body.
#pragma once

#include <doctest/doctest.h>

#include <string>

#include "core/json.h"
#include "sim/kube/store.h"

namespace ifo::test {

// A "v1" resource type; `status` adds the status subresource, `generation` keeps metadata.generation.
inline kubesim::ResourceType sim_type(const std::string& group, const std::string& resource, const std::string& kind,
                                      bool namespaced, bool status = false, bool generation = false) {
  kubesim::ResourceType t;
  t.group = group;
  t.version = "v1";
  t.resource = resource;
  t.kind = kind;
  t.namespaced = namespaced;
  if (status) t.subresources = {"status"};
  t.tracks_generation = generation;
  return t;
}

// A request body as the Store takes it; the test fails (naming the text) when it is not valid JSON.
inline core::JsonDoc body_doc(const std::string& text) {
  core::JsonDoc d;
  d.Parse(text.c_str());
  REQUIRE_MESSAGE(!d.HasParseError(), text);
  return d;
}

}  // namespace ifo::test
